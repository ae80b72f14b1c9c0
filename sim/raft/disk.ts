// The durable log model of one simulated node: what an fsync made durable (entries and hard
// state) plus the writes issued since the last fsync. A crash keeps the synced image and an
// arbitrary prefix of the unsynced writes (D1: only synced data is guaranteed).

import type { Entry, HardState } from '../../src/raft/core/types.ts';

type Write = { readonly ents: readonly Entry[] } | { readonly hs: HardState };

export class DurableLog {
  /** Entry i is at ents[i - 1]; no compaction in the model. */
  private ents: Entry[] = [];
  private hs: HardState = { term: 0, vote: '', commit: 0 };
  private pending: Write[] = [];

  get hardState(): HardState {
    return this.hs;
  }

  get lastIndex(): number {
    return this.ents.length;
  }

  termAt(i: number): number | undefined {
    return i === 0 ? 0 : this.ents[i - 1]?.term;
  }

  get unsyncedWrites(): number {
    return this.pending.length;
  }

  writeEntries(ents: readonly Entry[]): void {
    if (ents.length > 0) this.pending.push({ ents: [...ents] });
  }

  writeHardState(hs: HardState): void {
    this.pending.push({ hs: { ...hs } });
  }

  /** fsync: every write issued so far becomes durable. */
  sync(): void {
    for (const w of this.pending) this.land(w);
    this.pending = [];
  }

  /**
   * Power loss: the first `keep` unsynced writes reached the platter, the rest are gone.
   * `lieBy` > 0 models a disk that acknowledged fsyncs it did not do: that many synced
   * entries vanish too (a deliberately broken variant).
   */
  crash(keep: number, lieBy = 0): void {
    for (const w of this.pending.slice(0, keep)) this.land(w);
    this.pending = [];
    if (lieBy > 0) {
      this.ents = this.ents.slice(0, Math.max(0, this.ents.length - lieBy));
      this.hs = { ...this.hs, commit: Math.min(this.hs.commit, this.ents.length) };
    }
  }

  /** The durable image, for a restart. */
  image(): { ents: Entry[]; hs: HardState } {
    return { ents: [...this.ents], hs: { ...this.hs } };
  }

  /** Text dump of the durable image and the unsynced writes, for a failing run's output. */
  dump(): string {
    const hs = this.hs;
    const lines = [`hardstate term=${hs.term} vote=${hs.vote || '-'} commit=${hs.commit}`];
    for (const e of this.ents) lines.push(`entry ${e.term}/${e.index} ${new TextDecoder().decode(e.data)}`);
    lines.push(`unsynced writes: ${this.pending.length}`);
    return `${lines.join('\n')}\n`;
  }

  private land(w: Write): void {
    if ('hs' in w) {
      this.hs = w.hs;
      return;
    }
    const first = w.ents[0]!.index;
    this.ents = this.ents.slice(0, first - 1).concat(w.ents);
  }
}
