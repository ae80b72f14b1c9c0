/**
 * The LogStorage the core reads: the durable log (recovered from the WAL at startup)
 * held in memory and updated by the node only after each Ready was persisted (D1).
 * Memory is bounded by compaction: once a snapshot covers a prefix, everything before
 * `snapshot index − retain` is dropped, so the log holds at most about
 * `snapshotEvery + retain` entries.
 */
import { assert } from '../util/errors.ts';
import { entrySize } from './core/messages.ts';
import type { LogStorage } from './core/storage.ts';
import type { ConfState, Entry, HardState, Snapshot } from './core/types.ts';

export interface LogStoreInit {
  hardState: HardState;
  /** Membership when there is no snapshot (a fresh cluster's bootstrap voters). */
  bootstrap: ConfState;
  snapshot: Snapshot | undefined;
  /** Contiguous from snapshot index + 1. */
  entries: readonly Entry[];
}

export class LogStore implements LogStorage {
  private hs: HardState;
  private conf: ConfState;
  private snap: Snapshot;
  /** Index and term of the entry just before ents[0] (the compaction point). */
  private baseIndex: number;
  private baseTerm: number;
  private ents: Entry[];
  private bytes = 0;

  constructor(init: LogStoreInit) {
    this.hs = { ...init.hardState };
    this.snap = init.snapshot ?? {
      meta: { index: 0, term: 0, conf: init.bootstrap },
      data: new Uint8Array(),
    };
    this.conf = this.snap.meta.conf;
    this.baseIndex = this.snap.meta.index;
    this.baseTerm = this.snap.meta.term;
    this.ents = [];
    this.append(init.entries);
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hs }, confState: this.conf };
  }

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  lastIndex(): number {
    return this.baseIndex + this.ents.length;
  }

  term(i: number): number | undefined {
    if (i === this.baseIndex) return this.baseTerm;
    if (i < this.baseIndex || i > this.lastIndex()) return undefined;
    return this.ents[i - this.baseIndex - 1]?.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `entries [${lo},${hi}) out of range`);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.baseIndex - 1];
      if (e === undefined) break;
      size += entrySize(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Entries held in memory and their payload bytes (for the compaction thresholds). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.ents.length, bytes: this.bytes };
  }

  setHardState(hs: HardState): void {
    this.hs = { ...hs };
  }

  /** Persisted entries: replaces any held suffix from the first new index. */
  append(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    assert(
      first.index > this.baseIndex,
      `append at ${first.index} below the compaction point ${this.baseIndex}`,
    );
    assert(
      first.index <= this.lastIndex() + 1,
      `append at ${first.index} leaves a gap after ${this.lastIndex()}`,
    );
    const keep = first.index - this.baseIndex - 1;
    if (keep < this.ents.length) {
      for (let k = keep; k < this.ents.length; k++) this.bytes -= this.ents[k]!.data.length;
      this.ents.length = keep;
    }
    for (const e of ents) {
      this.ents.push(e);
      this.bytes += e.data.length;
    }
  }

  /** A received snapshot was persisted: it replaces the whole log (pitfall 27). */
  installSnapshot(s: Snapshot): void {
    this.snap = s;
    this.conf = s.meta.conf;
    this.baseIndex = s.meta.index;
    this.baseTerm = s.meta.term;
    this.ents = [];
    this.bytes = 0;
  }

  /** A local snapshot was persisted; entries after it (and `retain` before it) stay. */
  setSnapshot(s: Snapshot): void {
    assert(s.meta.index > this.snap.meta.index, 'a local snapshot must be newer than the current one');
    assert(this.term(s.meta.index) === s.meta.term, `snapshot ${s.meta.index} does not match the log`);
    this.snap = s;
    this.conf = s.meta.conf;
  }

  /**
   * The highest index at or below `upTo` such that the entries after it, through
   * `upTo`, hold at most `maxBytes` of payload: where to compact so that the
   * tail kept behind a snapshot stays small even when entries are large.
   */
  indexKeepingBytes(upTo: number, maxBytes: number): number {
    let bytes = 0;
    let i = Math.min(upTo, this.lastIndex());
    for (; i > this.baseIndex; i--) {
      bytes += this.ents[i - this.baseIndex - 1]!.data.length;
      if (bytes > maxBytes) return i;
    }
    return this.baseIndex;
  }

  /** Drops entries through `index` (never past the snapshot, whose entries are covered). */
  compact(index: number): void {
    const to = Math.min(index, this.snap.meta.index);
    if (to <= this.baseIndex) return;
    const n = to - this.baseIndex;
    const last = this.ents[n - 1];
    assert(last !== undefined && last.index === to, `compact ${to} beyond the log`);
    for (let k = 0; k < n; k++) this.bytes -= this.ents[k]!.data.length;
    this.baseIndex = to;
    this.baseTerm = last.term;
    this.ents = this.ents.slice(n);
  }
}
