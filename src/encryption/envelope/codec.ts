import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import { Err } from '../../util/codes.ts';
import { type SealError, sealError } from '../../util/errors.ts';
import type { Keystore, LoadedKey } from '../keystore.ts';
import type { NonceFactory } from '../nonce.ts';

/**
 * The envelope layout shared by storage and raft (encryption.md §3.1):
 * `version(1) ‖ flag(1) ‖ BE32 key_id ‖ nonce(12) ‖ ct(N) ‖ tag(16)`.
 */
export const ENVELOPE_VERSION = 0x01;
export const KEY_ID_OFFSET = 2;
export const NONCE_OFFSET = 6;
export const CT_OFFSET = 18;
export const TAG_SIZE = 16;
export const ENVELOPE_OVERHEAD = CT_OFFSET + TAG_SIZE;
/** version ‖ flag ‖ key_id: the envelope bytes every AAD starts from. */
export const ENVELOPE_PREFIX = 6;

const ALGO = 'aes-256-gcm';

/** Where the nonce factory comes from: fixed, or resolved once the pinned epoch is known. */
export type NonceSource = NonceFactory | (() => NonceFactory);

export function resolveNonces(src: NonceSource): NonceFactory {
  return typeof src === 'function' ? src() : src;
}

/**
 * Allocates an envelope for `plaintextLength` bytes and fills version, flag,
 * key id and the next nonce. The nonce is drawn before any encryption so an
 * exhausted factory fails without producing output.
 */
export function newEnvelope(keyId: number, nonces: NonceFactory, plaintextLength: number): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_OVERHEAD + plaintextLength);
  out[0] = ENVELOPE_VERSION;
  out[1] = 0;
  out.writeUInt32BE(keyId, KEY_ID_OFFSET);
  nonces.writeNext(out, NONCE_OFFSET);
  return out;
}

/** Encrypts `plaintext` into `out[18..)` using the nonce already in `out[6..18)`. */
export function encryptInto(key: KeyObject, out: Buffer, plaintext: Uint8Array, aad: Uint8Array): void {
  const cipher = createCipheriv(ALGO, key, out.subarray(NONCE_OFFSET, CT_OFFSET));
  cipher.setAAD(aad);
  const ct = cipher.update(plaintext);
  out.set(ct, CT_OFFSET);
  const fin = cipher.final();
  // GCM is a stream mode: final() emits nothing, so the tag follows the update output.
  if (fin.length !== 0) out.set(fin, CT_OFFSET + ct.length);
  out.set(cipher.getAuthTag(), CT_OFFSET + plaintext.length);
}

/**
 * Checks the fixed fields of an envelope: length, version and flag. Returns
 * the key id. Throws ErrEnvelopeShort, ErrEnvelopeVersion or ErrIntegrity.
 */
export function checkEnvelope(body: Uint8Array): number {
  if (body.length < ENVELOPE_OVERHEAD) {
    throw sealError(Err.EnvelopeShort, `envelope has ${body.length} bytes, minimum ${ENVELOPE_OVERHEAD}`, {
      length: body.length,
    });
  }
  if (body[0] !== ENVELOPE_VERSION) {
    throw sealError(Err.EnvelopeVersion, `envelope version 0x${hex2(body[0]!)} is not 0x01`, {
      version: body[0],
    });
  }
  if (body[1] !== 0) {
    throw sealError(Err.Integrity, `envelope flag 0x${hex2(body[1]!)} is not 0x00`, { flag: body[1] });
  }
  return ((body[2]! << 24) | (body[3]! << 16) | (body[4]! << 8) | body[5]!) >>> 0;
}

/** The loaded key named by an envelope, or ErrUnknownKeyID. */
export function keyFor(keystore: Keystore, keyId: number): LoadedKey {
  const k = keystore.get(keyId);
  if (k === undefined) {
    throw sealError(Err.UnknownKeyID, `key id ${keyId} is not loaded`, { keyId });
  }
  return k;
}

/**
 * Authenticates and decrypts `body[18..)` with the nonce at `body[6..18)`.
 * Returns the plaintext, or throws ErrIntegrity on a tag mismatch.
 */
export function decryptBody(key: KeyObject, body: Uint8Array, aad: Uint8Array): Buffer {
  const plain = tryDecrypt(key, body, aad);
  if (plain === undefined) {
    throw sealError(Err.Integrity, 'envelope does not authenticate (tag mismatch)');
  }
  return plain;
}

/** Trial decryption: the plaintext, or undefined when the tag does not verify. */
export function tryDecrypt(key: KeyObject, body: Uint8Array, aad: Uint8Array): Buffer | undefined {
  const tagAt = body.length - TAG_SIZE;
  const decipher = createDecipheriv(ALGO, key, body.subarray(NONCE_OFFSET, CT_OFFSET));
  decipher.setAuthTag(body.subarray(tagAt));
  decipher.setAAD(aad);
  const plain = decipher.update(body.subarray(CT_OFFSET, tagAt));
  let fin: Buffer;
  // A failed trial is the common case of the re-badge guard on legacy cleartext;
  // skipping the stack trace of the thrown error halves its cost.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    fin = decipher.final();
  } catch {
    return undefined;
  } finally {
    Error.stackTraceLimit = limit;
  }
  return fin.length === 0 ? plain : Buffer.concat([plain, fin]);
}

/** Re-labels a decode failure with the path's own error, keeping the inner code. */
export function wrapFailure(code: string, what: string, e: unknown): SealError {
  const inner = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'unknown';
  const msg = e instanceof Error ? e.message : String(e);
  return sealError(code, `${what}: ${msg}`, { inner }, e);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
