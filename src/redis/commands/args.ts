import type { RedisType, RedisValue } from '../value.ts';
import { E, fail } from './errors.ts';
import type { CommandTx, KeyRecord } from './types.ts';

const INT_RE = /^(0|-?[1-9][0-9]{0,19})$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Redis's string2ll: no sign '+', no spaces, no leading zeros, int64 range. */
export function parseInt64(b: Buffer, error: string = E.notInt): bigint {
  const s = b.toString('latin1');
  if (!INT_RE.test(s)) fail(error);
  const n = BigInt(s);
  if (n < INT64_MIN || n > INT64_MAX) fail(error);
  return n;
}

/** An integer argument that must fit a JS number (counts, indexes, TTLs). */
export function parseIntArg(b: Buffer, error: string = E.notInt): number {
  const n = parseInt64(b, error);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    return n > 0n ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  }
  return Number(n);
}

const FLOAT_RE = /^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity)$/i;

/** Redis's string2ld/strtod: a finite or infinite number, never NaN, no spaces. */
export function parseFloatArg(b: Buffer, error: string = E.notFloat): number {
  const s = b.toString('latin1');
  if (!FLOAT_RE.test(s)) fail(error);
  const lower = s.toLowerCase();
  if (lower.endsWith('inf') || lower.endsWith('infinity'))
    return lower.startsWith('-') ? -Infinity : Infinity;
  const n = Number(s);
  if (Number.isNaN(n)) fail(error);
  return n;
}

/** Reply formatting of a double, as Redis 7 prints scores. */
export function formatDouble(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Number.isInteger(x) && Math.abs(x) < 2 ** 63) return BigInt(x).toString();
  return String(x);
}

export function upper(b: Buffer): string {
  return b.toString('latin1').toUpperCase();
}

/** The live record of `key` if it has type `type`; WRONGTYPE if it holds another type. */
export function getTyped<T extends RedisType>(
  tx: CommandTx,
  key: Buffer,
  type: T,
): (KeyRecord & { value: Extract<RedisValue, { type: T }> }) | undefined {
  const rec = tx.get(key);
  if (rec === undefined) return undefined;
  if (rec.value.type !== type) fail(E.wrongType);
  return rec as KeyRecord & { value: Extract<RedisValue, { type: T }> };
}

/** Stores a collection, or deletes the key when it became empty (Redis never keeps empty collections). */
export function putCollection(tx: CommandTx, key: Buffer, value: RedisValue, expireAtMs: number): void {
  const size =
    value.type === 'list'
      ? value.items.length
      : value.type === 'hash'
        ? value.fields.size
        : value.type === 'set'
          ? value.members.size
          : value.type === 'zset'
            ? value.scores.size
            : 1;
  if (size === 0) tx.del(key);
  else tx.put(key, { value, expireAtMs });
}

/** Normalises a Redis [start, stop] index pair against a length; returns undefined when empty. */
export function normaliseRange(start: number, stop: number, len: number): [number, number] | undefined {
  if (start < 0) start = len + start;
  if (stop < 0) stop = len + stop;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return undefined;
  if (stop >= len) stop = len - 1;
  return [start, stop];
}

/** Redis glob matching (KEYS, SCAN MATCH, PSUBSCRIBE): * ? [abc] [^a] [a-z] and \ escapes, byte-wise. */
export function globMatch(pattern: Buffer, s: Buffer): boolean {
  return matchAt(pattern, 0, s, 0, 0);
}

function matchAt(p: Buffer, pi: number, s: Buffer, si: number, depth: number): boolean {
  if (depth > 1000) return false;
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === 0x2a) {
      while (pi + 1 < p.length && p[pi + 1] === 0x2a) pi++;
      if (pi + 1 === p.length) return true;
      for (let k = si; k <= s.length; k++) if (matchAt(p, pi + 1, s, k, depth + 1)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === 0x3f) {
      pi++;
      si++;
      continue;
    }
    if (c === 0x5b) {
      const r = matchClass(p, pi + 1, s[si]!);
      if (!r.ok) return false;
      pi = r.next;
      si++;
      continue;
    }
    if (c === 0x5c && pi + 1 < p.length) pi++;
    if (p[pi] !== s[si]) return false;
    pi++;
    si++;
  }
  return si === s.length;
}

function matchClass(p: Buffer, pi: number, ch: number): { ok: boolean; next: number } {
  let not = false;
  if (p[pi] === 0x5e) {
    not = true;
    pi++;
  }
  let match = false;
  while (pi < p.length && p[pi] !== 0x5d) {
    if (p[pi] === 0x5c && pi + 1 < p.length) {
      pi++;
      if (p[pi] === ch) match = true;
    } else if (pi + 2 < p.length && p[pi + 1] === 0x2d && p[pi + 2] !== 0x5d) {
      let lo = p[pi]!;
      let hi = p[pi + 2]!;
      if (lo > hi) [lo, hi] = [hi, lo];
      if (ch >= lo && ch <= hi) match = true;
      pi += 2;
    } else if (p[pi] === ch) {
      match = true;
    }
    pi++;
  }
  if (pi < p.length) pi++; // the closing ']'
  return { ok: not ? !match : match, next: pi };
}
