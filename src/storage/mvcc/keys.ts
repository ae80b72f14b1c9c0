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

import { readU64be, writeU64be } from '../../util/bytes.ts';
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
  return escapeInto(user, 0);
}

/** Escapes `user`, terminates it and leaves `room` zero bytes after the terminator. */
function escapeInto(user: Uint8Array, room: number): Uint8Array {
  let zeros = 0;
  for (let i = 0; i < user.length; i++) if (user[i] === ESCAPE) zeros++;
  const out = new Uint8Array(user.length + zeros + 2 + room);
  if (zeros === 0) {
    out.set(user);
  } else {
    let o = 0;
    for (let i = 0; i < user.length; i++) {
      const byte = user[i]!;
      out[o++] = byte;
      if (byte === ESCAPE) out[o++] = ESCAPED_ZERO;
    }
  }
  const t = user.length + zeros;
  out[t] = ESCAPE;
  out[t + 1] = TERMINATOR;
  return out;
}

/** The engine key of the version of `user` committed at `commitTs`. */
export function engineKey(user: Uint8Array, commitTs: bigint): Uint8Array {
  checkTimestamp(commitTs);
  const out = escapeInto(user, TS_LEN);
  if (out.length > MAX_KEY_SIZE) {
    throw sealError(Err.InvalidArgument, 'user key too long for the storage engine', { length: user.length });
  }
  writeU64be(out, out.length - TS_LEN, ~commitTs);
  return out;
}

/**
 * Range bounds over the versions of `user`: from the version at `ts` (or the
 * newest, without `ts`) to the end of that user key's versions. One escape
 * pass serves both bounds; point reads run this for every key.
 */
export function versionRange(user: Uint8Array, ts?: bigint): { start: Uint8Array; end: Uint8Array } {
  if (ts === undefined) return { start: versionPrefix(user), end: versionsEnd(user) };
  const start = engineKey(user, ts);
  const end = start.slice(0, start.length - TS_LEN);
  end[end.length - 1] = TERMINATOR + 1;
  return { start, end };
}

/**
 * The commit timestamp of a row found inside `versionRange(user)`: such a row
 * starts with the user key's version prefix, so only its length can still be
 * wrong, and a wrong length is corruption.
 */
export function versionTs(key: Uint8Array, prefixLen: number): bigint {
  if (key.length !== prefixLen + TS_LEN) throw malformedKey(key, 'version suffix is not 8 bytes');
  return BigInt.asUintN(64, ~readU64be(key, prefixLen));
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

/**
 * Length of the version prefix of an engine key read back from storage (key minus the
 * timestamp), checked cheaply: the prefix must end in the terminator. A key that fails
 * is decoded fully so the corruption error names the defect.
 */
export function versionPrefixLength(key: Uint8Array): number {
  const plen = key.length - TS_LEN;
  if (plen < 2 || key[plen - 2] !== ESCAPE || key[plen - 1] !== TERMINATOR) decodeEngineKey(key);
  return plen;
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
