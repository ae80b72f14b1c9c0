/**
 * Parses a RESP length or integer the way Redis's string2ll does: an optional
 * '-', then digits without a leading zero ("0" alone is fine), no '+', no
 * spaces, within signed 64 bits. Returns undefined when it is not such a
 * number. Values beyond 2^53 lose precision, which is harmless: every caller
 * only compares them with limits far below that, or needs their sign.
 */
export function parseRespInt(buf: Buffer, start: number, end: number): number | undefined {
  const len = end - start;
  if (len <= 0 || len > 20) return undefined;
  let p = start;
  const negative = buf[p] === MINUS;
  if (negative) {
    p++;
    if (p === end) return undefined;
  }
  const first = buf[p]!;
  if (first === ZERO) return p + 1 === end && !negative ? 0 : undefined;
  if (first < ZERO || first > NINE) return undefined;
  let value = 0;
  for (let i = p; i < end; i++) {
    const d = buf[i]! - ZERO;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  if (end - p >= 19 && !fitsInt64(buf, p, end, negative)) return undefined;
  return negative ? -value : value;
}

/** Exact int64 range check for the long digit strings where doubles are too coarse. */
function fitsInt64(buf: Buffer, start: number, end: number, negative: boolean): boolean {
  const digits = buf.toString('latin1', start, end);
  const magnitude = BigInt(digits);
  return negative ? magnitude <= 2n ** 63n : magnitude < 2n ** 63n;
}

const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
