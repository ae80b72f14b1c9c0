/**
 * INCRBYFLOAT and HINCRBYFLOAT compute in the x87 80-bit `long double` of the
 * Redis server and print with "%.17Lf" minus trailing zeros. Doubles give
 * visibly different strings (e.g. 10.6 - 5000), so this module emulates that
 * arithmetic exactly with bigints: a value is m × 2^e with a 64-bit mantissa,
 * rounded half-to-even after every operation, as the hardware does.
 */

interface LongDouble {
  neg: boolean;
  /** 0n, or in [2^63, 2^64). */
  m: bigint;
  e: number;
}

const TOP = 1n << 64n;
const HALF = 1n << 63n;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** Rounds the positive rational num/den to a 64-bit mantissa, half to even. */
function roundRational(neg: boolean, num: bigint, den: bigint): LongDouble {
  if (num === 0n) return { neg, m: 0n, e: 0 };
  let s = 64 - (bitLength(num) - bitLength(den));
  for (;;) {
    const n = s >= 0 ? num << BigInt(s) : num;
    const d = s >= 0 ? den : den << BigInt(-s);
    let q = n / d;
    if (q >= TOP) {
      s--;
      continue;
    }
    if (q < HALF) {
      s++;
      continue;
    }
    const r2 = (n % d) * 2n;
    if (r2 > d || (r2 === d && (q & 1n) === 1n)) q += 1n;
    if (q === TOP) return { neg, m: HALF, e: -s + 1 };
    return { neg, m: q, e: -s };
  }
}

/** Parses what strtold accepts from Redis's validated float syntax; undefined for inf/nan forms. */
export function parseLongDouble(text: string): LongDouble | undefined {
  const m = /^([+-]?)([0-9]*)\.?([0-9]*)(?:[eE]([+-]?[0-9]+))?$/.exec(text);
  if (m === null || (m[2] === '' && m[3] === '')) return undefined;
  const digits = BigInt(`${m[2]}${m[3]}` || '0');
  const exp = Number(m[4] ?? '0') - m[3]!.length;
  if (Math.abs(exp) > 10000) return undefined;
  const neg = m[1] === '-';
  return exp >= 0
    ? roundRational(neg, digits * 10n ** BigInt(exp), 1n)
    : roundRational(neg, digits, 10n ** BigInt(-exp));
}

export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble {
  const e = Math.min(a.e, b.e);
  const av = (a.neg ? -a.m : a.m) << BigInt(a.e - e);
  const bv = (b.neg ? -b.m : b.m) << BigInt(b.e - e);
  const sum = av + bv;
  const neg = sum < 0n;
  const abs = neg ? -sum : sum;
  return e >= 0 ? roundRational(neg, abs << BigInt(e), 1n) : roundRational(neg, abs, 1n << BigInt(-e));
}

/** "%.17Lf" with trailing zeros (and a bare '.') removed, and "-0" printed as "0". */
export function formatLongDouble(x: LongDouble): string {
  const scale = 10n ** 17n;
  let num = x.m * scale;
  let den = 1n;
  if (x.e >= 0) num <<= BigInt(x.e);
  else den <<= BigInt(-x.e);
  let q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && (q & 1n) === 1n)) q += 1n;
  const digits = q.toString().padStart(18, '0');
  let s = `${digits.slice(0, -17)}.${digits.slice(-17)}`.replace(/0+$/, '').replace(/\.$/, '');
  if (x.neg) s = `-${s}`;
  return s === '-0' ? '0' : s;
}

/**
 * base + increment as Redis computes it; undefined when either side is not a
 * finite number or the result would not be (the caller answers the Redis error).
 */
export function incrByFloatText(base: string, increment: string): string | undefined {
  const a = parseLongDouble(base);
  const b = parseLongDouble(increment);
  if (a === undefined || b === undefined) return undefined;
  return formatLongDouble(addLongDouble(a, b));
}
