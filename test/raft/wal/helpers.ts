import { type Entry, EntryType, type HardState, type Snapshot } from '../../../src/raft/core/types.ts';
import { decodeRecords, readFrame } from '../../../src/raft/wal/codec.ts';

/** mulberry32: a tiny seeded PRNG for deterministic crash images. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function ent(index: number, term: number, tag = ''): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(`e${index}t${term}${tag}`) };
}

export function ents(from: number, to: number, term: number, tag = ''): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term, tag));
  return out;
}

export function hs(term: number, commit: number, vote = ''): HardState {
  return { term, vote, commit };
}

export function snap(index: number, term: number, voters = ['n1', 'n2', 'n3']): Snapshot {
  return {
    meta: { index, term, conf: { voters, learners: ['n4'] } },
    data: new TextEncoder().encode(`fsm-image-at-${index}`.repeat(40)),
  };
}

/** A comparable rendering of a log. */
export function show(entries: readonly Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}/${e.type}/${new TextDecoder().decode(e.data)}`);
}

/** The salt in a segment's header batch (seeds every later batch's header checksum). */
export function segmentSalt(bytes: Uint8Array, seq: number): number {
  const fr = readFrame(bytes, 0, seq);
  if (!fr.ok) throw new Error(fr.reason);
  const head = decodeRecords(fr.payload)[0];
  if (head?.type !== 'header') throw new Error('no segment header');
  return head.salt;
}

/** Offsets of the whole batches of a segment file. */
export function batchOffsets(bytes: Uint8Array, seq: number): number[] {
  const out: number[] = [];
  let off = 0;
  let seed = seq;
  while (off < bytes.length) {
    const fr = readFrame(bytes, off, seed);
    if (!fr.ok) break;
    out.push(off);
    off = fr.next;
    seed = segmentSalt(bytes, seq);
  }
  return out;
}

/** End of the last whole batch of a segment file: where the writer's zero padding starts. */
export function contentEnd(bytes: Uint8Array, seq: number): number {
  const last = batchOffsets(bytes, seq).at(-1);
  if (last === undefined) return 0;
  const fr = readFrame(bytes, last, last === 0 ? seq : segmentSalt(bytes, seq));
  if (!fr.ok) throw new Error(fr.reason);
  return fr.next;
}

/** Whether every byte from `from` on is zero. */
export function zerosFrom(bytes: Uint8Array, from: number): boolean {
  return bytes.subarray(from).every((b) => b === 0);
}

export class Killed extends Error {
  constructor(readonly point: string) {
    super(`killed at ${point}`);
  }
}

/** A hook that throws (kill -9) at the n-th call of `point` (any point if undefined). */
export function killAt(point: string | undefined, nth = 1): (p: string) => void {
  let seen = 0;
  return (p) => {
    if (point !== undefined && p !== point) return;
    if (++seen === nth) throw new Killed(p);
  };
}
