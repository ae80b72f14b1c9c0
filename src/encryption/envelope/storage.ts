import { createCipheriv, createDecipheriv } from 'node:crypto';
import { Err } from '../../util/codes.ts';
import { assert, sealError } from '../../util/errors.ts';
import type { Keystore } from '../keystore.ts';
import { checkEnvelope, decryptBody, keyFor, type NonceSource, tryDecrypt, wrapFailure } from './codec.ts';

/** 9-byte value header: byte 0 flags, bytes 1–8 LE64 expireAt (encryption.md §3.4). */
export const VALUE_HEADER_SIZE = 9;
/** Header byte 0 of a live encrypted value: tombstone 0, encryption_state 0b01. */
export const LIVE_ENCRYPTED_FLAGS = 0x02;

// The per-value path keeps its layout constants local (§3.1 offsets): the
// TypeScript loader compiles modules to CommonJS, where every imported
// binding is a property getter on each use.
const VERSION = 0x01;
const NONCE_AT = 6;
const NONCE_LEN = 12;
const CT_AT = 18;
const TAG_LEN = 16;
const OVERHEAD = CT_AT + TAG_LEN;
const AAD_FIXED = 6 + VALUE_HEADER_SIZE;
const STATE_MASK = 0x06;
const ALGO = 'aes-256-gcm';

/** The part of the encryption state the write decision reads, owned by the state cache. */
export interface StorageWriteState {
  readonly activeStorageKeyId: number;
  readonly envelopeActive: boolean;
}

/**
 * The storage envelope (encryption.md §3.4): binds each value version to its
 * header and engine key through the AAD
 * `version ‖ flag ‖ BE32 key_id ‖ header(9) ‖ engine_key`.
 * Implements the storage layer's ValueSealer structurally. Existing means a
 * cipher is configured; a node without a KEK has no StorageEnvelope.
 *
 * Scratch buffers (AAD, nonce, tag) are reused across calls: node:crypto
 * copies them into the cipher context synchronously, and JavaScript runs one
 * seal/open at a time.
 */
export class StorageEnvelope {
  private readonly keystore: Keystore;
  private readonly nonces: NonceSource;
  private readonly writeState: () => StorageWriteState;
  private aadBuf: Buffer = Buffer.allocUnsafe(256);
  /** The last AAD view handed out; engine keys of one length reuse it without a new subarray. */
  private aadView: Buffer = this.aadBuf.subarray(0, 0);
  private readonly iv: Buffer = Buffer.alloc(NONCE_LEN);
  private readonly tag: Buffer = Buffer.alloc(TAG_LEN);

  constructor(keystore: Keystore, nonces: NonceSource, writeState: () => StorageWriteState) {
    this.keystore = keystore;
    this.nonces = nonces;
    this.writeState = writeState;
  }

  shouldSeal(): boolean {
    const s = this.writeState();
    return s.activeStorageKeyId !== 0 && s.envelopeActive;
  }

  seal(plaintext: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Uint8Array {
    if (header.length !== VALUE_HEADER_SIZE || (header[0]! & STATE_MASK) !== LIVE_ENCRYPTED_FLAGS) {
      assert(false, 'storage seal needs the 9-byte header with encryption_state 0b01');
    }
    const keyId = this.writeState().activeStorageKeyId;
    const key = this.keystore.get(keyId);
    if (key === undefined) throw sealKeyMissing(keyId);
    const n = plaintext.length;
    const iv = this.iv;
    // Draw the nonce first: an exhausted factory fails before any output exists.
    const nonces = this.nonces;
    (typeof nonces === 'function' ? nonces() : nonces).writeNext(iv, 0);
    const out = Buffer.allocUnsafe(OVERHEAD + n);
    out[0] = VERSION;
    out[1] = 0;
    out.writeUInt32BE(keyId, 2);
    out.set(iv, NONCE_AT);
    const cipher = createCipheriv(ALGO, key.key, iv);
    cipher.setAAD(this.buildAad(keyId, header, engineKey));
    out.set(cipher.update(plaintext), CT_AT);
    // GCM is a stream mode: final() emits nothing, so the tag follows the update output.
    const fin = cipher.final();
    if (fin.length !== 0) out.set(fin, CT_AT + n - fin.length);
    out.set(cipher.getAuthTag(), CT_AT + n);
    return out;
  }

  open(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Uint8Array {
    const len = body.length;
    if (header.length === VALUE_HEADER_SIZE && len >= OVERHEAD && body[0] === VERSION && body[1] === 0) {
      const keyId = ((body[2]! << 24) | (body[3]! << 16) | (body[4]! << 8) | body[5]!) >>> 0;
      const key = this.keystore.get(keyId);
      if (key !== undefined) {
        try {
          const iv = this.iv;
          const tag = this.tag;
          for (let i = 0; i < NONCE_LEN; i++) iv[i] = body[NONCE_AT + i]!;
          const tagAt = len - TAG_LEN;
          for (let i = 0; i < TAG_LEN; i++) tag[i] = body[tagAt + i]!;
          const decipher = createDecipheriv(ALGO, key.key, iv);
          decipher.setAuthTag(tag);
          decipher.setAAD(this.buildAad(keyId, header, engineKey));
          const plain = decipher.update(body.subarray(CT_AT, tagAt));
          // A plain Uint8Array view, so encrypted and cleartext reads return the same type.
          if (decipher.final().length === 0)
            return new Uint8Array(plain.buffer, plain.byteOffset, plain.length);
        } catch {
          // Falls through to the diagnosis below, which names the failure.
        }
      }
    }
    throw this.openFailure(body, header, engineKey);
  }

  /**
   * The re-badge guard: an envelope whose header was rewritten to "cleartext"
   * must not be served as data. The AAD inputs are the canonical ones the
   * envelope would have been sealed with (not the possibly-forged body bytes),
   * tried under every loaded key and both plausible expireAt values.
   */
  checkCleartext(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): void {
    if (body.length < OVERHEAD) return;
    assert(header.length === VALUE_HEADER_SIZE, 're-badge guard needs the 9-byte value header');
    const onDisk = header.subarray(1, VALUE_HEADER_SIZE);
    const ttlChoices = isZero(onDisk) ? [onDisk] : [onDisk, new Uint8Array(8)];
    const aad = this.reserve(AAD_FIXED + engineKey.length);
    aad[0] = VERSION;
    aad[1] = 0;
    aad[6] = LIVE_ENCRYPTED_FLAGS;
    aad.set(engineKey, AAD_FIXED);
    for (const id of this.keystore.ids()) {
      const key = this.keystore.get(id)!;
      aad.writeUInt32BE(id, 2);
      for (const ttl of ttlChoices) {
        aad.set(ttl, 7);
        if (tryDecrypt(key.key, body, aad) !== undefined) {
          throw sealError(
            Err.EncryptedReadIntegrity,
            `cleartext-labelled value authenticates as an envelope under key id ${id}; its header was altered`,
            { inner: Err.Integrity, keyId: id },
          );
        }
      }
    }
  }

  /**
   * Slow path of a failed open: re-derives which check failed so the error
   * carries the precise inner code (short, version, flag, unknown key, tag).
   */
  private openFailure(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Error {
    try {
      if (header.length !== VALUE_HEADER_SIZE) {
        throw sealError(Err.Integrity, `value header has ${header.length} bytes, want ${VALUE_HEADER_SIZE}`);
      }
      const keyId = checkEnvelope(body);
      const key = keyFor(this.keystore, keyId);
      decryptBody(key.key, body, this.buildAad(keyId, header, engineKey));
      return sealError(Err.Integrity, 'envelope failed to open');
    } catch (e) {
      return wrapFailure(Err.EncryptedReadIntegrity, 'encrypted value failed to open', e);
    }
  }

  /**
   * Writes `01 ‖ 00 ‖ BE32 key_id ‖ header ‖ engineKey` into the scratch. The
   * version and flag are constants: seal writes them and open has checked them.
   */
  private buildAad(keyId: number, header: Uint8Array, engineKey: Uint8Array): Buffer {
    const aad = this.reserve(AAD_FIXED + engineKey.length);
    aad[0] = VERSION;
    aad[1] = 0;
    aad.writeUInt32BE(keyId, 2);
    aad.set(header, 6);
    aad.set(engineKey, AAD_FIXED);
    return aad;
  }

  private reserve(n: number): Buffer {
    if (this.aadView.length === n) return this.aadView;
    if (this.aadBuf.length < n) this.aadBuf = Buffer.allocUnsafe(Math.max(n, this.aadBuf.length * 2));
    this.aadView = this.aadBuf.subarray(0, n);
    return this.aadView;
  }
}

function sealKeyMissing(keyId: number): Error {
  if (keyId === 0) {
    return sealError(Err.ReservedKeyID, 'no active storage key (id 0); the cluster is not bootstrapped');
  }
  return sealError(Err.UnknownKeyID, `active storage key id ${keyId} is not loaded`, { keyId });
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
