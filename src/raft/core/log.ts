import { assert } from '../../util/errors.ts';
import type { LogStorage } from './storage.ts';
import type { Entry, Snapshot } from './types.ts';

/**
 * The log as the core sees it: the durable part (through LogStorage) plus the unstable
 * tail not yet handed to the driver for persisting, and the commit/apply cursors.
 * Unstable entries from `offset` on shadow the durable ones (a pending truncation).
 */
export class RaftLog {
  unstableSnapshot: Snapshot | undefined;
  unstable: Entry[] = [];
  offset: number;
  committed: number;
  /** Highest index the application has applied (confirmed through advance). */
  applied: number;
  /** Highest index handed out in a Ready for applying. */
  applying: number;

  constructor(
    readonly storage: LogStorage,
    applied: number,
    commit: number,
    readonly maxMsgBytes: number,
  ) {
    this.offset = storage.lastIndex() + 1;
    this.committed = commit;
    this.applied = applied;
    this.applying = applied;
  }

  firstIndex(): number {
    return this.unstableSnapshot ? this.unstableSnapshot.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Term at `i`, or undefined when `i` is compacted or beyond the last index. */
  term(i: number): number | undefined {
    if (i === 0) return 0;
    const us = this.unstableSnapshot;
    if (i >= this.offset) return this.unstable[i - this.offset]?.term;
    if (us !== undefined) return i === us.meta.index ? us.meta.term : undefined;
    return this.storage.term(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** §5.4.1: the candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi), capped at maxBytes (at least one). lo must be >= firstIndex. */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    assert(lo >= this.firstIndex(), `slice ${lo} below first index ${this.firstIndex()}`);
    hi = Math.min(hi, this.lastIndex() + 1);
    if (lo >= hi) return [];
    let out: Entry[] = [];
    if (lo < this.offset) out = this.storage.entries(lo, Math.min(hi, this.offset), maxBytes);
    if (hi > this.offset && (out.length === 0 || out.length === Math.min(hi, this.offset) - lo)) {
      let bytes = 0;
      for (const e of out) bytes += e.data.length + 24;
      for (let i = Math.max(lo, this.offset); i < hi; i++) {
        const e = this.unstable[i - this.offset];
        if (e === undefined) break;
        bytes += e.data.length + 24;
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  /** Appends to the unstable tail, truncating any conflicting suffix. */
  append(ents: readonly Entry[]): number {
    const first = ents[0];
    if (first === undefined) return this.lastIndex();
    assert(first.index - 1 >= this.committed, `cannot overwrite committed entry ${first.index}`);
    const after = first.index;
    if (after === this.offset + this.unstable.length) {
      this.unstable.push(...ents);
    } else if (after <= this.offset) {
      // Replaces durable entries from `after`; the driver truncates them when persisting.
      this.offset = after;
      this.unstable = [...ents];
    } else {
      this.unstable = this.unstable.slice(0, after - this.offset).concat(ents);
    }
    return this.lastIndex();
  }

  /** First index among `ents` whose term differs from ours (or that we lack); 0 if none. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, and that term (pitfall 16).
   * Stops at the first compacted index, since its term is unknown.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /**
   * Follower append (§5.3). Returns the last index the message proves we hold
   * (prev + len(entries), pitfall 12), or undefined if prev does not match.
   */
  maybeAppend(prev: number, prevTerm: number, commit: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prev, prevTerm)) return undefined;
    const lastNew = prev + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflicts with committed entry`);
      this.append(ents.slice(ci - prev - 1));
    }
    // Commit only what this message proved we hold (pitfall 13).
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  commitTo(c: number): void {
    if (c <= this.committed) return;
    assert(c <= this.lastIndex(), `commit ${c} beyond last index ${this.lastIndex()}`);
    this.committed = c;
  }

  /** Leader commit rule: only an entry of the current term commits by counting (pitfall 1). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  hasNextCommittedEnts(): boolean {
    return this.committed > this.applying && this.applying + 1 >= this.firstIndex();
  }

  nextCommittedEnts(): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    return this.slice(this.applying + 1, this.committed + 1);
  }

  appliedTo(i: number): void {
    if (i <= this.applied) return;
    assert(i <= this.committed, `applied ${i} beyond commit ${this.committed}`);
    this.applied = i;
    this.applying = Math.max(this.applying, i);
  }

  /** The driver persisted entries through (i, t): drop them from the unstable tail. */
  stableTo(i: number, t: number): void {
    if (i < this.offset || this.term(i) !== t) return;
    const n = i - this.offset + 1;
    if (n > this.unstable.length) return;
    this.unstable = this.unstable.slice(n);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.unstableSnapshot?.meta.index === i) this.unstableSnapshot = undefined;
  }

  /** Replaces the whole log by a snapshot (pitfall 27: a conflicting tail goes too). */
  restore(s: Snapshot): void {
    this.unstableSnapshot = s;
    this.unstable = [];
    this.offset = s.meta.index + 1;
    this.committed = s.meta.index;
    this.applying = Math.max(this.applying, s.meta.index);
  }
}
