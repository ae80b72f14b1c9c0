import type { Snapshot } from '../core/types.ts';
import type { Disk } from '../disk/disk.ts';
import { snapshotFileChunks } from '../wal/snapfile.ts';
import type { Wal } from '../wal/wal.ts';

/** Streams `data` as views of at most `size` bytes. */
export async function* chunksOf(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < data.length; off += size)
    yield data.subarray(off, Math.min(data.length, off + size));
}

/**
 * A snapshot's image as a stream. The log store keeps snapshots meta-only, so the image is
 * read from its durable file in chunks of `size` (checksum verified as it passes: a damaged
 * file ends the stream with ErrWalCorrupt). An image still held in memory (a snapshot that
 * arrived inside a message) is streamed from there.
 */
export function imageChunks(disk: Disk, wal: Wal, s: Snapshot, size: number): AsyncIterable<Uint8Array> {
  if (s.data.length > 0 || s.meta.index === 0) return chunksOf(s.data, size);
  return snapshotFileChunks(disk, wal.snapshotPath(s.meta), size, s.meta);
}

/** Lets a stream that will not be read release what it holds (an open read transaction, a file). */
export async function abandon(chunks: AsyncIterable<Uint8Array>): Promise<void> {
  await chunks[Symbol.asyncIterator]().return?.();
}

/** Reads a stream to its end, keeping nothing. */
export async function drain(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of chunks) n += c.length;
  return n;
}

const EMPTY = new Uint8Array(0);

/**
 * The snapshot without its image. The log store keeps only this: the image stays in its
 * durable file and is read back only to send it, so memory does not hold one per snapshot.
 */
export function metaOnly(s: Snapshot): Snapshot {
  return { meta: s.meta, data: EMPTY };
}
