import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Err } from '../../util/codes.ts';
import { isSealError, sealError } from '../../util/errors.ts';
import { DEK_SIZE, defaultRandom, type RandomSource } from '../dek.ts';
import type { KekProvider } from './provider.ts';

export const KEK_SIZE = 32;
const NONCE = 12;
const TAG = 16;
/** nonce(12) ‖ ct(32) ‖ tag(16). */
export const WRAPPED_DEK_SIZE = NONCE + DEK_SIZE + TAG;

export interface FileKekOptions {
  random?: RandomSource;
}

/**
 * The KEK held in a local 32-byte file (encryption.md §2.2). DEKs are wrapped
 * with AES-256-GCM under a fresh random nonce and no AAD.
 */
export class FileKekProvider implements KekProvider {
  private readonly key: KeyObject;
  private readonly path: string;
  private readonly random: RandomSource;

  private constructor(path: string, kek: Uint8Array, random: RandomSource) {
    this.path = path;
    this.key = createSecretKey(kek);
    this.random = random;
  }

  /** Loads and validates the KEK file; see readKekFile for the checks. */
  static open(path: string, opts: FileKekOptions = {}): FileKekProvider {
    const kek = readKekFile(path);
    try {
      return new FileKekProvider(path, kek, opts.random ?? defaultRandom);
    } finally {
      kek.fill(0);
    }
  }

  name(): string {
    return `file:${this.path}`;
  }

  wrap(dek: Uint8Array): Uint8Array {
    if (dek.length !== DEK_SIZE) {
      throw sealError(Err.BadKeySize, `DEK has ${dek.length} bytes, want ${DEK_SIZE}`);
    }
    const nonce = this.random(NONCE);
    if (nonce.length !== NONCE) {
      throw sealError(Err.BadNonceSize, `random source returned a ${nonce.length}-byte nonce, want ${NONCE}`);
    }
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    const ct = cipher.update(dek);
    const fin = cipher.final();
    const out = Buffer.concat([nonce, ct, fin, cipher.getAuthTag()]);
    return out;
  }

  unwrap(wrapped: Uint8Array): Uint8Array {
    if (wrapped.length !== WRAPPED_DEK_SIZE) {
      throw sealError(
        Err.KEKMismatch,
        `wrapped DEK has ${wrapped.length} bytes, want ${WRAPPED_DEK_SIZE} (${this.name()})`,
        { kek: this.name(), length: wrapped.length },
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, wrapped.subarray(0, NONCE));
      decipher.setAuthTag(wrapped.subarray(NONCE + DEK_SIZE));
      const dek = decipher.update(wrapped.subarray(NONCE, NONCE + DEK_SIZE));
      const fin = decipher.final();
      return fin.length === 0 ? dek : Buffer.concat([dek, fin]);
    } catch (e) {
      throw sealError(
        Err.KEKMismatch,
        `wrapped DEK does not authenticate under ${this.name()}; is this the cluster's KEK?`,
        { kek: this.name() },
        e,
      );
    }
  }
}

/**
 * Reads a KEK file safely. The open is non-blocking so a FIFO planted at the
 * path cannot hang start-up, and every check runs on the opened descriptor
 * (fstat) so the path cannot be swapped between check and read.
 */
export function readKekFile(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw sealError(Err.KEKFileInvalid, `cannot open KEK file ${path}: ${describe(e)}`, { path }, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw sealError(Err.KEKFileInvalid, `KEK file ${path} is not a regular file`, { path });
    }
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw sealError(
        Err.InsecureKEKFile,
        `KEK file ${path} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; group/other bits must be clear (chmod 600)`,
        { path, mode: st.mode & 0o777 },
      );
    }
    // One byte more than needed tells "exactly 32" apart from "32 or more".
    const buf = Buffer.alloc(KEK_SIZE + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got === buf.length) break;
    }
    if (got !== KEK_SIZE) {
      buf.fill(0);
      throw sealError(
        Err.KEKFileInvalid,
        `KEK file ${path} holds ${got === KEK_SIZE + 1 ? 'more than 32' : got} bytes, want exactly ${KEK_SIZE}`,
        { path },
      );
    }
    const kek = Uint8Array.from(buf.subarray(0, KEK_SIZE));
    buf.fill(0);
    return kek;
  } catch (e) {
    if (isSealError(e)) throw e;
    throw sealError(Err.KEKFileInvalid, `cannot read KEK file ${path}: ${describe(e)}`, { path }, e);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a new KEK: 32 random bytes, mode 0600, never replacing an existing
 * file. Both the file and its directory are fsynced so a KEK that was
 * reported as written survives a crash.
 */
export function generateKekFile(path: string, random: RandomSource = defaultRandom): void {
  const kek = random(KEK_SIZE);
  if (kek.length !== KEK_SIZE) {
    throw sealError(Err.BadKeySize, `random source returned ${kek.length} bytes, want ${KEK_SIZE}`);
  }
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    const exists = e instanceof Error && 'code' in e && e.code === 'EEXIST';
    throw sealError(
      Err.InvalidArgument,
      exists
        ? `${path} already exists; refusing to overwrite a KEK`
        : `cannot create ${path}: ${describe(e)}`,
      { path },
      e,
    );
  }
  try {
    let off = 0;
    while (off < kek.length) off += writeSync(fd, kek, off, kek.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
    kek.fill(0);
  }
  syncDir(dirname(path));
}

function syncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
