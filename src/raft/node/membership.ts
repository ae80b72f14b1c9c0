import type { ConfState } from '../core/types.ts';

/**
 * Membership as of the snapshot and as of each conf change applied since, oldest first.
 * A local snapshot taken at an index between two conf changes must record the
 * membership in force at that index, not the latest one (pitfall 31).
 */
export class MembershipHistory {
  private history: { index: number; conf: ConfState }[];

  constructor(index: number, conf: ConfState) {
    this.history = [{ index, conf }];
  }

  /** A snapshot from the leader replaced the log, and the history with it. */
  reset(index: number, conf: ConfState): void {
    this.history = [{ index, conf }];
  }

  applied(index: number, conf: ConfState): void {
    this.history.push({ index, conf });
  }

  /** Records held (one, plus one per conf change since the last snapshot). */
  get size(): number {
    return this.history.length;
  }

  at(index: number): ConfState {
    let conf = this.history[0]!.conf;
    for (const h of this.history) if (h.index <= index) conf = h.conf;
    return conf;
  }

  /** Forgets what a durable snapshot at `snapIndex` already records. */
  trimTo(snapIndex: number): void {
    const base = { index: snapIndex, conf: this.at(snapIndex) };
    this.history = [base, ...this.history.filter((h) => h.index > snapIndex)];
  }
}
