/** Index of the first element whose key is >= `key` in `rows` sorted by unsigned key order. */
export function lowerBoundByKey(rows: readonly { readonly key: Uint8Array }[], key: Uint8Array): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(rows[mid]!.key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
