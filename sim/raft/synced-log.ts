// What one simulated node believes its WAL holds: the state its completed synced saves made
// durable, plus the saves issued since (at most one WAL batch, D1). It backs the checks that
// need a node's durable state on every send (I3, I11, I12), and on restart it says what
// recovery may return (I20): the synced state, or that plus the whole unsynced batch.

import type { Entry, HardState } from '../../src/raft/core/types.ts';

/** The index and term a snapshot marker covers. */
export interface SnapMark {
  readonly index: number;
  readonly term: number;
}

type Write =
  | { readonly ents: readonly Entry[] }
  | { readonly hs: HardState }
  | { readonly snap: SnapMark; readonly mode: 'compact' | 'install' };

export interface LogState {
  /** The log after the snapshot: entry snap.index + 1 + k at ents[k]. */
  readonly ents: readonly Entry[];
  readonly hs: HardState;
  readonly snap: SnapMark;
}

const NO_SNAP: SnapMark = { index: 0, term: 0 };

export class SyncedLog {
  private snap: SnapMark = NO_SNAP;
  /** Entry snap.index + 1 + k is at ents[k]. */
  private ents: Entry[] = [];
  private hs: HardState = { term: 0, vote: '', commit: 0 };
  private pending: Write[] = [];

  get hardState(): HardState {
    return this.hs;
  }

  get snapshot(): SnapMark {
    return this.snap;
  }

  get lastIndex(): number {
    return this.snap.index + this.ents.length;
  }

  get unsyncedWrites(): number {
    return this.pending.length;
  }

  termAt(i: number): number | undefined {
    if (i === this.snap.index) return this.snap.term;
    return i < this.snap.index ? undefined : this.ents[i - this.snap.index - 1]?.term;
  }

  writeEntries(ents: readonly Entry[]): void {
    if (ents.length > 0) this.pending.push({ ents: [...ents] });
  }

  writeHardState(hs: HardState): void {
    this.pending.push({ hs: { ...hs } });
  }

  /** A snapshot marker: `compact` drops the entries it covers, `install` replaces the whole log. */
  writeSnapshot(snap: SnapMark, mode: 'compact' | 'install'): void {
    this.pending.push({ snap: { index: snap.index, term: snap.term }, mode });
  }

  /** A synced save completed: the WAL writes every earlier save before it, so all are durable. */
  sync(): void {
    for (const w of this.pending) this.land(w);
    this.pending = [];
  }

  /** The states a crash may leave (I20): synced only, or synced plus the whole unsynced batch. */
  candidates(): LogState[] {
    const synced: LogState = { ents: [...this.ents], hs: { ...this.hs }, snap: this.snap };
    if (this.pending.length === 0) return [synced];
    const saved = { ents: this.ents, hs: this.hs, snap: this.snap };
    for (const w of this.pending) this.land(w);
    const whole: LogState = { ents: this.ents, hs: this.hs, snap: this.snap };
    this.ents = saved.ents;
    this.hs = saved.hs;
    this.snap = saved.snap;
    return [synced, whole];
  }

  /** After a successful recovery the recovered state is the synced state. */
  reset(ents: readonly Entry[], hs: HardState, snap: SnapMark = NO_SNAP): void {
    this.snap = { index: snap.index, term: snap.term };
    this.ents = [...ents];
    this.hs = { ...hs };
    this.pending = [];
  }

  private land(w: Write): void {
    if ('hs' in w) {
      this.hs = w.hs;
      return;
    }
    if ('snap' in w) {
      const drop = w.mode === 'install' ? this.ents.length : w.snap.index - this.snap.index;
      this.ents = this.ents.slice(Math.min(Math.max(drop, 0), this.ents.length));
      this.snap = w.snap;
      return;
    }
    const first = w.ents[0]!.index;
    this.ents = this.ents.slice(0, first - 1 - this.snap.index).concat(w.ents);
  }
}

/** Why `got` is not `want`, or undefined when they hold the same snapshot, log and hard state. */
export function diffLogState(got: LogState, want: LogState): string | undefined {
  const a = got.hs;
  const b = want.hs;
  if (a.term !== b.term || a.vote !== b.vote || a.commit !== b.commit) {
    return `hard state t${a.term}/v${a.vote || '-'}/c${a.commit} != t${b.term}/v${b.vote || '-'}/c${b.commit}`;
  }
  if (got.snap.index !== want.snap.index || got.snap.term !== want.snap.term) {
    return `snapshot ${got.snap.term}/${got.snap.index} != ${want.snap.term}/${want.snap.index}`;
  }
  if (got.ents.length !== want.ents.length) {
    return `last index ${got.snap.index + got.ents.length} != ${want.snap.index + want.ents.length}`;
  }
  for (let k = 0; k < got.ents.length; k++) {
    const x = got.ents[k]!;
    const y = want.ents[k]!;
    if (x.index !== y.index || x.term !== y.term || x.type !== y.type || !sameBytes(x.data, y.data)) {
      return `entry ${y.index}: got ${x.term}/${x.index}, want ${y.term}/${y.index}`;
    }
  }
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
