/**
 * MVCC engine keys: `escape(user_key) ‖ 0x00 0x01 ‖ BE64(~commit_ts)`.
 *
 * The user key is escaped (0x00 → 0x00 0xFF) and terminated (0x00 0x01) so
 * that every version of a key sorts before any longer key it is a prefix of,
 * and unsigned order of user keys is preserved: "a" and "a\0…" never
 * interleave in a range scan. The version suffix is exactly BE64(~commit_ts)
 * per the storage spec, so newer versions of a key sort first. The envelope
 * AAD binds this full engine key (escaped form included).
 */

import { readU64be, u64be } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { MAX_KEY_SIZE } from '../engine.ts';

const ESCAPE = 0x00;
const ESCAPED_ZERO = 0xff;
const TERMINATOR = 0x01;
const TS_LEN = 8;
const MAX_TS = (1n << 64n) - 1n;

/** Bytes a version adds after the escaped user key: terminator + timestamp. */
export const VERSION_SUFFIX_LEN = 2 + TS_LEN;

export interface DecodedKey {
  readonly userKey: Uint8Array;
  readonly commitTs: bigint;
}

export function checkTimestamp(ts: bigint): void {
  if (typeof ts !== 'bigint' || ts < 0n || ts > MAX_TS) {
    throw sealError(Err.InvalidArgument, 'MVCC timestamps are unsigned 64-bit bigints', { ts: String(ts) });
  }
}

/** `escape(user) ‖ 0x00 0x01`: the common prefix of every version of `user`. */
export function versionPrefix(user: Uint8Array): Uint8Array {
  let zeros = 0;
  for (const byte of user) if (byte === ESCAPE) zeros++;
  const out = new Uint8Array(user.length + zeros + 2);
  let o = 0;
  for (const byte of user) {
    out[o++] = byte;
    if (byte === ESCAPE) out[o++] = ESCAPED_ZERO;
  }
  out[o++] = ESCAPE;
  out[o] = TERMINATOR;
  return out;
}

/** The engine key of the version of `user` committed at `commitTs`. */
export function engineKey(user: Uint8Array, commitTs: bigint): Uint8Array {
  checkTimestamp(commitTs);
  const prefix = versionPrefix(user);
  if (prefix.length + TS_LEN > MAX_KEY_SIZE) {
    throw sealError(Err.InvalidArgument, 'user key too long for the storage engine', { length: user.length });
  }
  const out = new Uint8Array(prefix.length + TS_LEN);
  out.set(prefix);
  out.set(u64be(~commitTs), prefix.length);
  return out;
}

/** Parses an engine key; anything not produced by engineKey is corruption. */
export function decodeEngineKey(key: Uint8Array): DecodedKey {
  const user: number[] = [];
  let i = 0;
  for (;;) {
    if (i >= key.length) throw malformedKey(key, 'no terminator');
    const byte = key[i]!;
    if (byte !== ESCAPE) {
      user.push(byte);
      i++;
      continue;
    }
    const next = key[i + 1];
    if (next === ESCAPED_ZERO) {
      user.push(ESCAPE);
      i += 2;
    } else if (next === TERMINATOR) {
      i += 2;
      break;
    } else {
      throw malformedKey(key, 'bad escape');
    }
  }
  if (key.length - i !== TS_LEN) throw malformedKey(key, 'version suffix is not 8 bytes');
  return { userKey: Uint8Array.from(user), commitTs: BigInt.asUintN(64, ~readU64be(key, i)) };
}

/** Length of the version prefix inside an engine key (key minus the timestamp). */
export function prefixLength(key: Uint8Array): number {
  return key.length - TS_LEN;
}

/**
 * Engine-key bounds covering every version of every user key in
 * [start, end). A version prefix is the smallest key of its user key and
 * sorts after the prefixes of all smaller user keys.
 */
export function engineBounds(start?: Uint8Array, end?: Uint8Array): { start?: Uint8Array; end?: Uint8Array } {
  const out: { start?: Uint8Array; end?: Uint8Array } = {};
  if (start !== undefined) out.start = versionPrefix(start);
  if (end !== undefined) out.end = versionPrefix(end);
  return out;
}

/** The exclusive upper bound of the versions of one user key. */
export function versionsEnd(user: Uint8Array): Uint8Array {
  const p = versionPrefix(user);
  p[p.length - 1] = TERMINATOR + 1;
  return p;
}

function malformedKey(key: Uint8Array, why: string): Error {
  return sealError(Err.MvccRowMalformed, `MVCC engine key is malformed (${why}); the store is corrupt`, {
    keyLength: key.length,
  });
}
