import { randomBytes } from 'node:crypto';

/**
 * Random 64-bit ids (request and proposal ids) drawn from a pooled buffer:
 * one `randomBytes(8)` per write request cost more CPU than the rest of the
 * id's life, so the pool is refilled once per `poolIds` ids.
 */
export function randomIdSource(poolIds = 1024): () => bigint {
  const bytes = poolIds * 8;
  let pool = randomBytes(bytes);
  let off = 0;
  return () => {
    if (off === bytes) {
      pool = randomBytes(bytes);
      off = 0;
    }
    const id = pool.readBigUInt64BE(off);
    off += 8;
    return id;
  };
}
