/**
 * Encoding and decoding of one stored version (header ‖ body), including the
 * ValueSealer hook. Every read decision happens after the body has been
 * authenticated: decrypt first, then tombstone and TTL.
 */
import { concatBytes } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import type { ValueSealer } from '../sealer.ts';
import { decodeHeader, encodeHeader, HEADER_LEN, STATE_CLEARTEXT, STATE_ENVELOPE } from './header.ts';

/** Envelope overhead: a shorter cleartext body cannot be a re-badged envelope. */
const MIN_ENVELOPE_LEN = 34;

export interface OpenedVersion {
  readonly tombstone: boolean;
  readonly expireAt: bigint;
  /** The plaintext value; empty for tombstones. */
  readonly value: Uint8Array;
}

/** The stored row of a live value, sealed when the sealer says so. */
export function encodeLive(
  value: Uint8Array,
  expireAt: bigint,
  key: Uint8Array,
  sealer: ValueSealer | undefined,
): Uint8Array {
  if (sealer?.shouldSeal()) {
    const header = encodeHeader({ tombstone: false, state: STATE_ENVELOPE, expireAt });
    return concatBytes(header, sealer.seal(value, header, key));
  }
  return concatBytes(encodeHeader({ tombstone: false, state: STATE_CLEARTEXT, expireAt }), value);
}

/** Tombstones are always cleartext with an empty body. */
export function encodeTombstone(): Uint8Array {
  return encodeHeader({ tombstone: true, state: STATE_CLEARTEXT, expireAt: 0n });
}

/**
 * Decodes and authenticates a stored version. Corrupt rows, reserved states
 * and failed decrypts throw; nothing here ever answers "absent".
 */
export function openVersion(
  row: Uint8Array,
  key: Uint8Array,
  sealer: ValueSealer | undefined,
): OpenedVersion {
  const h = decodeHeader(row);
  const header = row.subarray(0, HEADER_LEN);
  const body = row.subarray(HEADER_LEN);
  let value: Uint8Array;
  if (h.state === STATE_ENVELOPE) {
    if (sealer === undefined) {
      throw sealError(
        Err.EncryptedReadIntegrity,
        'stored version is encrypted but no cipher is configured; start the node with its KEK',
        { keyLength: key.length },
      );
    }
    value = sealer.open(body, header, key);
  } else {
    // The re-badge guard runs first: an envelope relabelled as a tombstone is tampering, not corruption.
    if (sealer !== undefined && body.length >= MIN_ENVELOPE_LEN) sealer.checkCleartext(body, header, key);
    if (h.tombstone && body.length !== 0) throw malformedRow('cleartext tombstone with a non-empty body');
    value = body.slice();
  }
  if (h.tombstone && value.length !== 0) throw malformedRow('tombstone with a non-empty value');
  return { tombstone: h.tombstone, expireAt: h.expireAt, value };
}

function malformedRow(why: string): Error {
  return sealError(Err.MvccRowMalformed, `stored MVCC version is malformed (${why}); the store is corrupt`);
}
