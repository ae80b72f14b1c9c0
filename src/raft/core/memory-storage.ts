import { assert } from '../../util/errors.ts';
import { entrySize } from './messages.ts';
import type { LogStorage } from './storage.ts';
import type { ConfState, Entry, HardState, Snapshot } from './types.ts';

/** An in-memory LogStorage for tests and the simulator. */
export class MemoryStorage implements LogStorage {
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  confState: ConfState;
  private snap: Snapshot;
  /** ents[0] is a dummy carrying the snapshot's index and term. */
  private ents: Entry[];

  constructor(conf: ConfState) {
    this.confState = { voters: [...conf.voters], learners: [...conf.learners] };
    this.snap = { meta: { index: 0, term: 0, conf: this.confState }, data: new Uint8Array() };
    this.ents = [{ index: 0, term: 0, type: 0, data: new Uint8Array() }];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.confState };
  }

  private offset(): number {
    return this.ents[0]?.index ?? 0;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(i: number): number | undefined {
    if (i < this.offset() || i > this.lastIndex()) return undefined;
    return this.ents[i - this.offset()]?.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `entries [${lo},${hi}) out of range`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.offset()];
      if (e === undefined) break;
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Persists entries, replacing any existing suffix from the first new index. */
  append(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    assert(first.index > this.offset(), 'append below the snapshot');
    assert(first.index <= this.lastIndex() + 1, 'append leaves a gap');
    this.ents = this.ents.slice(0, first.index - this.offset()).concat(ents);
  }

  /** Installs a received snapshot: the whole log is replaced by it. */
  applySnapshot(s: Snapshot): void {
    this.snap = s;
    this.confState = s.meta.conf;
    this.ents = [{ index: s.meta.index, term: s.meta.term, type: 0, data: new Uint8Array() }];
  }

  /** Records a local snapshot at `index` (<= applied) without dropping entries. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    const term = this.term(index);
    assert(term !== undefined && index > this.snap.meta.index, `cannot snapshot at ${index}`);
    this.snap = { meta: { index, term, conf }, data };
    return this.snap;
  }

  /** Drops entries before `index`, keeping `index` as the new dummy. */
  compact(index: number): void {
    if (index <= this.offset()) return;
    assert(index <= this.lastIndex(), `compact ${index} beyond last index`);
    this.ents = this.ents.slice(index - this.offset());
  }
}
