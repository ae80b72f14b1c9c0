/**
 * The WAL's grow-ahead zero padding rule (the why is in wal.ts): a batch that
 * ends past the zeros already in the file is written followed by zeros up to
 * the first `padBytes` boundary at least half a chunk past its end, but never
 * past the segment size rounded up to a page, where the segment rotates anyway.
 */

export const DEFAULT_PAD_BYTES = 1024 * 1024;

const PAD_CAP_ALIGN = 4096;

/** `bytes` (ending at file offset `end`) with the zeros the rule adds; `bytes` itself when none. */
export function withPadding(
  bytes: Uint8Array,
  end: number,
  padBytes: number,
  segmentBytes: number,
): Uint8Array {
  if (padBytes === 0) return bytes;
  let target = alignUp(end, padBytes);
  if (target - end < padBytes / 2) target += padBytes;
  target = Math.min(target, alignUp(segmentBytes, PAD_CAP_ALIGN));
  if (target <= end) return bytes;
  const out = new Uint8Array(bytes.length + (target - end));
  out.set(bytes);
  return out;
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
