/**
 * Splits an inline command line (`SET k "a b"`) into arguments with the quoting
 * rules of redis-cli and Redis's inline protocol: double quotes understand
 * `\n \r \t \b \a \\ \"` and `\xHH`; single quotes only `\'`; a closing quote
 * must be followed by whitespace or the end of the line. A NUL byte ends the
 * line, as it does for Redis's C-string splitter.
 *
 * Returns undefined for unbalanced quotes.
 */
export function splitInlineArgs(line: Buffer, start: number, end: number): Buffer[] | undefined {
  const nul = line.indexOf(0, start);
  if (nul >= 0 && nul < end) end = nul;
  const out: Buffer[] = [];
  const scratch = Buffer.allocUnsafe(end - start);
  let p = start;
  for (;;) {
    while (p < end && isSpace(line[p]!)) p++;
    if (p === end) return out;
    let n = 0;
    let mode: 'plain' | 'double' | 'single' = 'plain';
    let done = false;
    while (!done) {
      if (p === end) {
        if (mode !== 'plain') return undefined;
        break;
      }
      const c = line[p]!;
      if (mode === 'double') {
        if (
          c === BACKSLASH &&
          p + 3 < end &&
          line[p + 1] === X &&
          isHex(line[p + 2]!) &&
          isHex(line[p + 3]!)
        ) {
          scratch[n++] = (hexValue(line[p + 2]!) << 4) | hexValue(line[p + 3]!);
          p += 3;
        } else if (c === BACKSLASH && p + 1 < end) {
          p++;
          scratch[n++] = escapedByte(line[p]!);
        } else if (c === DQUOTE) {
          if (p + 1 < end && !isSpace(line[p + 1]!)) return undefined;
          done = true;
        } else scratch[n++] = c;
      } else if (mode === 'single') {
        if (c === BACKSLASH && p + 1 < end && line[p + 1] === SQUOTE) {
          p++;
          scratch[n++] = SQUOTE;
        } else if (c === SQUOTE) {
          if (p + 1 < end && !isSpace(line[p + 1]!)) return undefined;
          done = true;
        } else scratch[n++] = c;
      } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        done = true;
      } else if (c === DQUOTE) mode = 'double';
      else if (c === SQUOTE) mode = 'single';
      else scratch[n++] = c;
      p++;
    }
    const arg = Buffer.allocUnsafe(n);
    scratch.copy(arg, 0, 0, n);
    out.push(arg);
  }
}

const BACKSLASH = 0x5c;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const X = 0x78;

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function hexValue(c: number): number {
  if (c <= 0x39) return c - 0x30;
  return (c | 0x20) - 0x61 + 10;
}

function escapedByte(c: number): number {
  switch (c) {
    case 0x6e: // n
      return 0x0a;
    case 0x72: // r
      return 0x0d;
    case 0x74: // t
      return 0x09;
    case 0x62: // b
      return 0x08;
    case 0x61: // a
      return 0x07;
    default:
      return c;
  }
}
