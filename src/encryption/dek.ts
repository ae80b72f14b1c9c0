import { randomBytes } from 'node:crypto';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

export type RandomSource = (n: number) => Uint8Array;

export const DEK_SIZE = 32;
const MAX_ID_DRAWS = 1000;

export function defaultRandom(n: number): Uint8Array {
  return randomBytes(n);
}

/** A fresh data-encryption key: 32 CSPRNG bytes (encryption.md §2.3). */
export function generateDek(rand: RandomSource = defaultRandom): Uint8Array {
  const dek = rand(DEK_SIZE);
  if (dek.length !== DEK_SIZE) {
    throw sealError(Err.BadKeySize, `random source returned ${dek.length} bytes, want ${DEK_SIZE}`);
  }
  return dek;
}

/**
 * A random non-zero uint32 key id not in `existing` (0 is reserved). The draw
 * count is bounded so a broken random source fails instead of spinning.
 */
export function pickNewKeyId(existing: Iterable<number>, rand: RandomSource = defaultRandom): number {
  const taken = new Set(existing);
  for (let i = 0; i < MAX_ID_DRAWS; i++) {
    const b = rand(4);
    const id = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (id !== 0 && !taken.has(id)) return id;
  }
  throw sealError(Err.DEKIDExists, `no unused non-zero key id found in ${MAX_ID_DRAWS} random draws`, {
    existing: [...taken],
  });
}
