import { randomBytes } from 'node:crypto';

/**
 * Request and proposal ids: a random 32-bit session prefix drawn at start,
 * then a counter (a new prefix once the counter runs out).
 *
 * Why not 64 random bits: ids key the FSM's dedup table in lmdb, and random
 * keys land on a different B-tree leaf each, so every commit rewrote about
 * two dozen pages; a session's ids are consecutive and share a leaf or two.
 * Uniqueness is also better: ids of one session never repeat, and two
 * sessions can only collide if they drew the same prefix (about n²/2³³ for n
 * sessions inside the dedup window), where 64 random bits per id collide
 * with probability m²/2⁶⁵ for m ids (a few percent at 10⁹ ids).
 *
 * The prefix is never 0, so no id is 0 (the FSM's "no dedup" id).
 */
export function sessionIdSource(randomPrefix: () => number = randomU32): () => bigint {
  let prefix = 0n;
  let counter = 0n;
  const LIMIT = 1n << 32n;
  const renew = () => {
    let p = 0;
    while (p === 0) p = randomPrefix() >>> 0;
    prefix = BigInt(p) << 32n;
    counter = 0n;
  };
  renew();
  return () => {
    if (counter === LIMIT) renew();
    const id = prefix | counter;
    counter++;
    return id;
  };
}

function randomU32(): number {
  return randomBytes(4).readUInt32BE(0);
}
