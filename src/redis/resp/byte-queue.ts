/**
 * The unconsumed bytes of one connection, kept as the list of chunks the socket
 * delivered. Nothing is ever re-concatenated as a whole: header lines that
 * straddle chunks are joined once (they are bounded by the inline limit) and a
 * payload is copied exactly once, into the Buffer handed to the caller.
 *
 * Positions in the public methods are relative to the read position.
 */
const EMPTY = Buffer.alloc(0);

export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  /** Read offset inside chunks[head]. */
  private off = 0;
  /** Unconsumed bytes across all chunks. */
  length = 0;

  // A failed search remembers where it stopped, so a line that arrives one
  // byte per chunk is scanned once overall instead of once per chunk.
  private memoByte = -1;
  private memoChunk = 0;
  private memoChunkOff = 0;
  private memoRel = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The byte at relative position i; the caller guarantees i < length. */
  byteAt(i: number): number {
    let c = this.head;
    let rel = i + this.off;
    for (;;) {
      const chunk = this.chunks[c]!;
      if (rel < chunk.length) return chunk[rel]!;
      rel -= chunk.length;
      c++;
    }
  }

  /**
   * Relative position of the first `byte` among the first `limit` bytes, or -1
   * when it is not among the bytes available so far (capped at `limit`).
   */
  indexOf(byte: number, limit: number): number {
    const first = this.chunks[this.head];
    if (first === undefined) return -1;
    // Fast path: the whole window is in the first chunk and nothing is memoised.
    if (this.memoByte !== byte) {
      const at = first.indexOf(byte, this.off);
      if (at >= 0) {
        const rel = at - this.off;
        return rel < limit ? rel : -1;
      }
      this.memoByte = byte;
      this.memoChunk = this.head + 1;
      this.memoChunkOff = 0;
      this.memoRel = first.length - this.off;
    }
    while (this.memoRel < limit && this.memoChunk < this.chunks.length) {
      const chunk = this.chunks[this.memoChunk]!;
      const at = chunk.indexOf(byte, this.memoChunkOff);
      if (at >= 0) {
        const rel = this.memoRel + (at - this.memoChunkOff);
        return rel < limit ? rel : -1;
      }
      this.memoRel += chunk.length - this.memoChunkOff;
      this.memoChunk++;
      this.memoChunkOff = 0;
    }
    return -1;
  }

  /**
   * Makes the next n bytes (n <= length) contiguous and returns the chunk that
   * holds them; they start at `readOffset`. Joins chunks only when they straddle.
   */
  contiguous(n: number): Buffer {
    const first = this.chunks[this.head]!;
    if (this.off + n <= first.length) return first;
    const joined = Buffer.allocUnsafe(n);
    let filled = 0;
    let c = this.head;
    let from = this.off;
    while (filled < n) {
      const chunk = this.chunks[c]!;
      const take = Math.min(n - filled, chunk.length - from);
      chunk.copy(joined, filled, from, from + take);
      filled += take;
      if (from + take === chunk.length) {
        c++;
        from = 0;
      } else from += take;
    }
    // Put `joined` (and the rest of a partly used chunk) in the slots of the
    // chunks it replaces: at least two were touched, so they fit in place and
    // the cost does not depend on how many chunks are queued behind.
    if (from > 0) this.chunks[c] = this.chunks[c]!.subarray(from);
    this.chunks[c - 1] = joined;
    for (let i = this.head; i < c - 1; i++) this.chunks[i] = EMPTY;
    this.head = c - 1;
    this.off = 0;
    this.memoByte = -1;
    return joined;
  }

  /** The chunk holding the read position (at `readOffset`), for parsers' fast paths. */
  get firstChunk(): Buffer | undefined {
    return this.chunks[this.head];
  }

  /** Offset of the read position inside `firstChunk` and the Buffer returned by `contiguous`. */
  get readOffset(): number {
    return this.off;
  }

  /** Consumes n bytes (n <= length). */
  skip(n: number): void {
    this.length -= n;
    this.memoByte = -1;
    while (n > 0) {
      const chunk = this.chunks[this.head]!;
      const left = chunk.length - this.off;
      if (n < left) {
        this.off += n;
        return;
      }
      n -= left;
      this.dropHead();
    }
  }

  /** Consumes n bytes (n <= length) into a fresh Buffer: the single copy of a payload. */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    const first = this.chunks[this.head];
    if (first !== undefined && this.off + n < first.length) {
      // Command names and keys are short: a plain loop beats the native copy's call overhead.
      if (n <= 32) for (let i = 0, from = this.off; i < n; i++) out[i] = first[from + i]!;
      else first.copy(out, 0, this.off, this.off + n);
      this.off += n;
      this.length -= n;
      this.memoByte = -1;
      return out;
    }
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.head]!;
      const take = Math.min(n - filled, chunk.length - this.off);
      chunk.copy(out, filled, this.off, this.off + take);
      filled += take;
      this.off += take;
      if (this.off === chunk.length) this.dropHead();
    }
    this.length -= n;
    this.memoByte = -1;
    return out;
  }

  /** Drops everything (after a protocol error the rest of the stream is meaningless). */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.off = 0;
    this.length = 0;
    this.memoByte = -1;
  }

  private dropHead(): void {
    this.head++;
    this.off = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
