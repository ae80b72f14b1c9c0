import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import type { Keystore } from '../keystore.ts';
import type { NonceFactory } from '../nonce.ts';
import {
  checkEnvelope,
  decryptBody,
  ENVELOPE_VERSION,
  encryptInto,
  keyFor,
  type NonceSource,
  newEnvelope,
  resolveNonces,
  wrapFailure,
} from './codec.ts';

/** 'R': keeps raft and storage envelopes from authenticating as each other. */
const RAFT_AAD_TAG = 0x52;
const RAFT_AAD_SIZE = 6;

function raftAad(keyId: number): Buffer {
  const aad = Buffer.allocUnsafe(RAFT_AAD_SIZE);
  aad[0] = RAFT_AAD_TAG;
  aad[1] = ENVELOPE_VERSION;
  aad.writeUInt32BE(keyId, 2);
  return aad;
}

/**
 * Wraps a proposal body (the fsm_payload) in a raft envelope under `keyId`
 * (encryption.md §3.5). Only the leader calls this, just before submission.
 */
export function sealRaftBody(
  keystore: Keystore,
  keyId: number,
  nonces: NonceFactory,
  body: Uint8Array,
): Buffer {
  if (keyId === 0) {
    throw sealError(Err.ReservedKeyID, 'no active raft key (id 0); the raft envelope is not installed');
  }
  const key = keyFor(keystore, keyId);
  const out = newEnvelope(keyId, nonces, body.length);
  encryptInto(key.key, out, body, raftAad(keyId));
  return out;
}

/**
 * Unwraps a raft envelope with the key it names. Any failure is reported as
 * ErrRaftUnwrapFailed (the inner code is kept in details.inner and the cause),
 * which halts apply without advancing the applied index.
 */
export function openRaftBody(keystore: Keystore, envelope: Uint8Array): Buffer {
  try {
    const keyId = checkEnvelope(envelope);
    const key = keyFor(keystore, keyId);
    return decryptBody(key.key, envelope, raftAad(keyId));
  } catch (e) {
    throw wrapFailure(Err.RaftUnwrapFailed, 'raft entry failed to unwrap', e);
  }
}

/**
 * The raft envelope bound to a keystore, the process's raft nonce factory and
 * the currently installed raft key (set by the wrap installer).
 */
export class RaftEnvelope {
  private readonly keystore: Keystore;
  private readonly nonces: NonceSource;
  private readonly activeKeyId: () => number;

  constructor(keystore: Keystore, nonces: NonceSource, activeKeyId: () => number) {
    this.keystore = keystore;
    this.nonces = nonces;
    this.activeKeyId = activeKeyId;
  }

  wrapRaftPayload(body: Uint8Array): Uint8Array {
    return sealRaftBody(this.keystore, this.activeKeyId(), resolveNonces(this.nonces), body);
  }

  unwrapRaftPayload(envelope: Uint8Array): Uint8Array {
    return openRaftBody(this.keystore, envelope);
  }
}
