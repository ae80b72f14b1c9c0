/**
 * The 9-byte header of every stored version (encryption.md §3.4):
 * byte 0 = bit 0 tombstone, bits 1-2 encryption_state, bits 3-7 zero;
 * bytes 1-8 = expireAt, little-endian uint64 milliseconds (0 = no TTL).
 */

import { readU64le, u64le } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';

export const HEADER_LEN = 9;
export const STATE_CLEARTEXT = 0b00;
export const STATE_ENVELOPE = 0b01;
export type EncryptionState = typeof STATE_CLEARTEXT | typeof STATE_ENVELOPE;

const TOMBSTONE_BIT = 0x01;
const STATE_SHIFT = 1;
const STATE_MASK = 0b11;
const RESERVED_BITS = 0xf8;
const MAX_U64 = (1n << 64n) - 1n;

export interface ValueHeader {
  readonly tombstone: boolean;
  readonly state: EncryptionState;
  /** Absolute expiry in ms since the epoch; 0n = never. */
  readonly expireAt: bigint;
}

export function encodeHeader(h: ValueHeader): Uint8Array {
  if (h.expireAt < 0n || h.expireAt > MAX_U64) {
    throw sealError(Err.InvalidArgument, 'expireAt must be an unsigned 64-bit millisecond time', {
      expireAt: String(h.expireAt),
    });
  }
  const out = new Uint8Array(HEADER_LEN);
  out[0] = (h.tombstone ? TOMBSTONE_BIT : 0) | (h.state << STATE_SHIFT);
  out.set(u64le(h.expireAt), 1);
  return out;
}

/** Decodes the header of a stored row; short rows and reserved bits fail closed. */
export function decodeHeader(row: Uint8Array): ValueHeader {
  if (row.length < HEADER_LEN) {
    throw sealError(
      Err.MvccRowMalformed,
      'stored version is shorter than its 9-byte header; the store is corrupt',
      {
        length: row.length,
      },
    );
  }
  const b0 = row[0]!;
  const state = (b0 >> STATE_SHIFT) & STATE_MASK;
  if ((b0 & RESERVED_BITS) !== 0 || (state !== STATE_CLEARTEXT && state !== STATE_ENVELOPE)) {
    throw sealError(
      Err.EncryptedValueReservedState,
      'stored version uses a reserved encryption state or header bit; written by a newer or corrupt node',
      { byte0: b0 },
    );
  }
  return { tombstone: (b0 & TOMBSTONE_BIT) !== 0, state, expireAt: readU64le(row, 1) };
}

/** True when a value with this expiry is invisible at `nowMs`. */
export function isExpired(expireAt: bigint, nowMs: bigint): boolean {
  return expireAt !== 0n && expireAt <= nowMs;
}
