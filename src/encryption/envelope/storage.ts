import { Err } from '../../util/codes.ts';
import { assert, sealError } from '../../util/errors.ts';
import type { Keystore } from '../keystore.ts';
import {
  checkEnvelope,
  decryptBody,
  ENVELOPE_OVERHEAD,
  ENVELOPE_PREFIX,
  ENVELOPE_VERSION,
  encryptInto,
  keyFor,
  type NonceSource,
  newEnvelope,
  resolveNonces,
  tryDecrypt,
  wrapFailure,
} from './codec.ts';

/** 9-byte value header: byte 0 flags, bytes 1–8 LE64 expireAt (encryption.md §3.4). */
export const VALUE_HEADER_SIZE = 9;
/** Header byte 0 of a live encrypted value: tombstone 0, encryption_state 0b01. */
export const LIVE_ENCRYPTED_FLAGS = 0x02;
const STATE_MASK = 0x06;
const AAD_FIXED = ENVELOPE_PREFIX + VALUE_HEADER_SIZE;

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
 */
export class StorageEnvelope {
  private readonly keystore: Keystore;
  private readonly nonces: NonceSource;
  private readonly writeState: () => StorageWriteState;
  /** AAD scratch: setAAD copies synchronously, so one buffer serves every call. */
  private aad: Buffer = Buffer.allocUnsafe(256);

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
    assert(
      header.length === VALUE_HEADER_SIZE && (header[0]! & STATE_MASK) === LIVE_ENCRYPTED_FLAGS,
      'storage seal needs the 9-byte header with encryption_state 0b01',
    );
    const keyId = this.writeState().activeStorageKeyId;
    if (keyId === 0) {
      throw sealError(Err.ReservedKeyID, 'no active storage key (id 0); the cluster is not bootstrapped');
    }
    const key = keyFor(this.keystore, keyId);
    const out = newEnvelope(keyId, resolveNonces(this.nonces), plaintext.length);
    encryptInto(key.key, out, plaintext, this.buildAad(out, header, engineKey));
    return out;
  }

  open(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Uint8Array {
    try {
      const keyId = checkEnvelope(body);
      const key = keyFor(this.keystore, keyId);
      return decryptBody(key.key, body, this.buildAad(body, header, engineKey));
    } catch (e) {
      throw wrapFailure(Err.EncryptedReadIntegrity, 'encrypted value failed to open', e);
    }
  }

  /**
   * The re-badge guard: an envelope whose header was rewritten to "cleartext"
   * must not be served as data. The AAD inputs are the canonical ones the
   * envelope would have been sealed with (not the possibly-forged body bytes),
   * tried under every loaded key and both plausible expireAt values.
   */
  checkCleartext(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): void {
    if (body.length < ENVELOPE_OVERHEAD) return;
    const onDisk = header.subarray(1, VALUE_HEADER_SIZE);
    const ttlChoices = isZero(onDisk) ? [onDisk] : [onDisk, new Uint8Array(8)];
    const aad = this.reserve(AAD_FIXED + engineKey.length);
    aad[0] = ENVELOPE_VERSION;
    aad[1] = 0;
    aad[ENVELOPE_PREFIX] = LIVE_ENCRYPTED_FLAGS;
    aad.set(engineKey, AAD_FIXED);
    for (const id of this.keystore.ids()) {
      const key = this.keystore.get(id)!;
      aad.writeUInt32BE(id, 2);
      for (const ttl of ttlChoices) {
        aad.set(ttl, ENVELOPE_PREFIX + 1);
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

  /** Writes `envelope[0..6) ‖ header ‖ engineKey` into the scratch and returns a view of it. */
  private buildAad(envelope: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Buffer {
    const aad = this.reserve(AAD_FIXED + engineKey.length);
    aad.set(envelope.subarray(0, ENVELOPE_PREFIX), 0);
    aad.set(header, ENVELOPE_PREFIX);
    aad.set(engineKey, AAD_FIXED);
    return aad;
  }

  private reserve(n: number): Buffer {
    if (this.aad.length < n) this.aad = Buffer.allocUnsafe(Math.max(n, this.aad.length * 2));
    return this.aad.subarray(0, n);
  }
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
