// A ghost reading of a node's WAL directory, done synchronously from the bytes of a SimDisk
// image: the hard state and log that replaying its whole batches gives. The invariant checks
// use it to see what a disk really holds (I9, the failure dump) without trusting the node's
// own account of what it synced, and without the promise-based recovery path.

import type { Entry, HardState } from '../../src/raft/core/types.ts';
import { decodeRecords, readFrame } from '../../src/raft/wal/codec.ts';
import { snapFileName } from '../../src/raft/wal/snapfile.ts';

export interface WalView {
  readonly hardState: HardState;
  /** ents[k] holds index first + k. */
  readonly first: number;
  readonly ents: readonly Entry[];
  /** The last snapshot marker replayed (0/0: none), and whether the file it names is on disk. */
  readonly snap: { readonly index: number; readonly term: number; readonly fileKept: boolean };
  readonly files: readonly { name: string; bytes: number; batches: number; stop?: string }[];
}

const SEGMENT = /^wal-([0-9a-f]{16})-[0-9a-f]{16}\.log$/;

/** Replays the whole, valid batches of every segment in `dir`, in sequence order. */
export function readWalView(files: ReadonlyMap<string, Uint8Array>, dir: string): WalView {
  const prefix = `${dir}/`;
  const segs: { name: string; seq: number; bytes: Uint8Array }[] = [];
  for (const [path, bytes] of files) {
    if (!path.startsWith(prefix)) continue;
    const name = path.slice(prefix.length);
    const m = SEGMENT.exec(name);
    if (m !== null) segs.push({ name, seq: Number.parseInt(m[1]!, 16), bytes });
  }
  segs.sort((a, b) => a.seq - b.seq);
  let hs: HardState = { term: 0, vote: '', commit: 0 };
  let first = 1;
  let ents: Entry[] = [];
  let snap = { index: 0, term: 0 };
  const out: { name: string; bytes: number; batches: number; stop?: string }[] = [];
  for (const seg of segs) {
    let off = 0;
    let seed = seg.seq;
    let batches = 0;
    let stop: string | undefined;
    while (off < seg.bytes.length) {
      const fr = readFrame(seg.bytes, off, seed);
      if (!fr.ok) {
        stop = `${fr.reason} at ${off}`;
        break;
      }
      let records: ReturnType<typeof decodeRecords>;
      try {
        records = decodeRecords(fr.payload);
      } catch (e) {
        stop = `${e instanceof Error ? e.message : String(e)} at ${off}`;
        break;
      }
      for (const r of records) {
        if (r.type === 'header' && off === 0) seed = r.salt;
        else if (r.type === 'hardState') hs = r.hardState;
        else if (r.type === 'snapshot') {
          snap = { index: r.meta.index, term: r.meta.term };
          // install: the log restarts after the snapshot; compact: entries it covers go.
          const keep = r.mode === 'install' ? 0 : first + ents.length - 1 - snap.index;
          if (keep < ents.length) {
            ents = keep <= 0 ? [] : ents.slice(ents.length - keep);
            first = snap.index + 1;
          }
        } else if (r.type === 'entry') {
          const e = r.entry;
          if (ents.length === 0 || e.index < first || e.index > first + ents.length) {
            first = e.index;
            ents = [e];
          } else {
            ents.length = e.index - first;
            ents.push(e);
          }
        }
      }
      batches++;
      off = fr.next;
    }
    out.push(
      stop === undefined
        ? { name: seg.name, bytes: seg.bytes.length, batches }
        : { name: seg.name, bytes: seg.bytes.length, batches, stop },
    );
  }
  const fileKept = snap.index === 0 || files.has(`${prefix}${snapFileName(snap.index, snap.term)}`);
  return { hardState: hs, first, ents, snap: { ...snap, fileKept }, files: out };
}

export function viewTermAt(v: WalView, i: number): number | undefined {
  if (i === 0) return 0;
  if (i === v.snap.index) return v.snap.term;
  return v.ents[i - v.first]?.term;
}

/** Whether the image holds committed t/i, in its log or under a snapshot whose file survived (I9). */
export function viewHolds(v: WalView, i: number, t: number | undefined): boolean {
  if (i < v.snap.index) return v.snap.fileKept;
  if (i === v.snap.index) return v.snap.fileKept && v.snap.term === t;
  return viewTermAt(v, i) === t;
}

export function viewLastIndex(v: WalView): number {
  return v.ents.length === 0 ? v.snap.index : v.first + v.ents.length - 1;
}
