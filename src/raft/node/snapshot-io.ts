import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import type { Snapshot } from '../core/types.ts';

/** Streams `data` as views of at most `size` bytes. */
export async function* chunksOf(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < data.length; off += size)
    yield data.subarray(off, Math.min(data.length, off + size));
}

/** Collects a stream into one buffer, refusing more than `max` bytes. */
export async function collect(chunks: AsyncIterable<Uint8Array>, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const c of chunks) {
    total += c.length;
    if (total > max) {
      throw sealError(
        Err.InvalidArgument,
        `snapshot larger than the ${max}-byte limit; raise maxSnapshotBytes`,
        {
          max,
        },
      );
    }
    parts.push(c);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const EMPTY = new Uint8Array(0);

/**
 * The snapshot without its image. The log store keeps only this: the image stays in its
 * durable file and is read back only to send it, so memory does not hold one per snapshot.
 */
export function metaOnly(s: Snapshot): Snapshot {
  return { meta: s.meta, data: EMPTY };
}
