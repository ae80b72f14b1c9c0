/**
 * Step 3 of the Ready loop: the state machine catches up with the committed log, and the
 * applied index moves only over what it really applied (a halted entry is not applied).
 */
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { decodeConfChange } from '../core/confchange.ts';
import type { RaftCore } from '../core/core.ts';
import type { Ready } from '../core/ready.ts';
import { type Entry, EntryType, type Snapshot } from '../core/types.ts';
import type { LogStore } from '../log-store.ts';
import type { NodeHost } from './host.ts';
import type { MembershipHistory } from './membership.ts';
import type { HaltInfo, RaftNodeOptions } from './types.ts';

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class Applier {
  private applied: number;
  private readonly waiters = new Map<number, Waiter[]>();

  constructor(
    private readonly host: NodeHost,
    private readonly o: Pick<RaftNodeOptions, 'fsm' | 'onConfChange'>,
    private readonly core: RaftCore,
    private readonly membership: MembershipHistory,
    /** The image of a snapshot to restore, streamed from its durable file. */
    private readonly image: (s: Snapshot) => AsyncIterable<Uint8Array>,
    applied: number,
  ) {
    this.applied = applied;
  }

  get index(): number {
    return this.applied;
  }

  /** Resolves once the applied index reaches `index`; the caller checked the node runs. */
  wait(index: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(index) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(index, list);
    });
  }

  rejectAll(err: unknown): void {
    const all = [...this.waiters.values()].flat();
    this.waiters.clear();
    for (const w of all) w.reject(err);
  }

  /**
   * At startup the core knows the snapshot's membership only: conf entries the state
   * machine applied after it must take effect again (pitfall 31).
   */
  replayConfChanges(store: LogStore): void {
    const from = store.firstIndex();
    if (this.applied < from) return;
    for (const e of store.entries(from, this.applied + 1, Number.POSITIVE_INFINITY)) {
      if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
    }
  }

  /** Returns false when the node must stop (halt, or it stopped while applying). */
  async applyReady(rd: Ready): Promise<boolean> {
    const s = rd.snapshot;
    if (s !== undefined && s.meta.index > this.applied) {
      const restore = this.o.fsm.restore;
      if (restore === undefined)
        throw sealError(Err.InvalidArgument, 'received a snapshot but the FSM cannot restore');
      await restore.call(this.o.fsm, s.meta, this.image(s));
      this.setApplied(s.meta.index);
    }
    const ents = rd.committedEntries;
    if (ents.length === 0) return this.host.running();
    const res = await this.o.fsm.apply(ents);
    const halt = res?.halt;
    if (halt !== undefined) {
      this.onHalt(halt, ents);
      return false;
    }
    if (!this.host.running()) return false;
    for (const e of ents) if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
    this.setApplied(ents[ents.length - 1]!.index);
    return true;
  }

  private applyConfEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    const conf = this.core.applyConfChange(cc);
    this.membership.applied(e.index, conf);
    try {
      this.o.onConfChange?.(cc, conf);
    } catch (err) {
      this.host.log('error', 'conf-change callback threw', { error: String(err) });
    }
  }

  private setApplied(index: number): void {
    if (index <= this.applied) return;
    this.applied = index;
    for (const [i, list] of this.waiters) {
      if (i > index) continue;
      this.waiters.delete(i);
      for (const w of list) w.resolve();
    }
  }

  private onHalt(halt: HaltInfo, ents: readonly Entry[]): void {
    // Entries below the halted one were applied; the halted one and the rest were not.
    const first = ents[0]!.index;
    const appliedBefore = Math.max(this.applied, Math.min(halt.index - 1, ents[ents.length - 1]!.index));
    for (const e of ents) if (e.index < halt.index && e.type === EntryType.ConfChange) this.applyConfEntry(e);
    if (halt.index >= first) this.setApplied(appliedBefore);
    this.host.log('error', 'state machine halted; stopping without advancing', { ...halt });
    this.host.halt(halt);
  }
}
