import { assert } from '../../util/errors.ts';
import type { RaftConfig } from './config.ts';
import type { Message } from './messages.ts';
import type { ProgressState } from './progress.ts';
import { Raft, type Role } from './raft.ts';
import { hardStateEqual, mustSync, type Ready } from './ready.ts';
import type { ConfChange, ConfState, HardState, NodeId } from './types.ts';

export interface PeerStatus {
  match: number;
  next: number;
  state: ProgressState;
  paused: boolean;
  inflight: number;
  learner: boolean;
  recentActive: boolean;
}

export interface Status {
  id: NodeId;
  role: Role;
  isLearner: boolean;
  term: number;
  vote: NodeId;
  lead: NodeId;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
  leadTransferee: NodeId;
  conf: ConfState;
  /** Leader only: per-peer replication state, sorted by id. */
  progress: [NodeId, PeerStatus][];
}

/**
 * The driver-facing facade over the pure state machine: inputs go in through the methods,
 * outputs come out as Ready batches (D1). `ready()` must be followed by `advance()` before
 * the next `ready()`.
 *
 * Driver duties the core cannot see: keep the LogStorage view in step with what was
 * persisted; persist the ConfState returned by applyConfChange together with the applied
 * index; start a node that joins later with the bootstrap ConfState (the initial
 * membership is not in the log); serve a ReadState only once applied >= its index, and
 * re-check leaseValid() after reading the FSM for a lease read.
 */
export class RaftCore {
  readonly raft: Raft;
  private prevHardState: HardState;
  private outstanding: Ready | undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevHardState = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** Current term: pair it with the index returned by propose() to track an outcome (P44). */
  get term(): number {
    return this.raft.term;
  }

  get lead(): NodeId {
    return this.raft.lead;
  }

  get role(): Role {
    return this.raft.role;
  }

  tick(): void {
    this.raft.tick();
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  campaign(): void {
    this.raft.campaign(false);
  }

  propose(data: Uint8Array): number {
    return this.raft.propose(data);
  }

  proposeConfChange(cc: ConfChange): number {
    return this.raft.proposeConfChange(cc);
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  readIndex(context: Uint8Array): void {
    this.raft.readIndex(context);
  }

  leaseRead(): number {
    return this.raft.leaseRead();
  }

  leaseValid(): boolean {
    return this.raft.leaseValid();
  }

  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  reportUnreachable(peer: NodeId): void {
    this.raft.reportUnreachable(peer);
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(peer, ok);
  }

  hasReady(): boolean {
    const r = this.raft;
    return (
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.unstable.length > 0 ||
      r.log.unstableSnapshot !== undefined ||
      r.log.hasNextCommittedEnts() ||
      !hardStateEqual(r.hardState(), this.prevHardState)
    );
  }

  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called again before advance()');
    const r = this.raft;
    const hs = r.hardState();
    const changed = !hardStateEqual(hs, this.prevHardState);
    const entries = [...r.log.unstable];
    const snapshot = r.log.unstableSnapshot;
    const committedEntries = r.log.nextCommittedEnts();
    const rd: Ready = {
      hardState: changed ? hs : undefined,
      entries,
      snapshot,
      messages: r.msgs,
      committedEntries,
      readStates: r.readStates,
      mustSync: mustSync(this.prevHardState, hs, entries.length, snapshot !== undefined),
      lead: r.lead,
      role: r.role,
    };
    r.msgs = [];
    r.readStates = [];
    const last = committedEntries[committedEntries.length - 1];
    if (last !== undefined) r.log.applying = last.index;
    if (changed) this.prevHardState = hs;
    this.outstanding = rd;
    return rd;
  }

  /** Step 4 of D1: everything in `rd` is persisted, sent and applied. */
  advance(rd: Ready): void {
    assert(this.outstanding === rd, 'advance() must be given the last Ready');
    this.outstanding = undefined;
    const r = this.raft;
    const lastEnt = rd.entries[rd.entries.length - 1];
    if (rd.snapshot !== undefined) {
      r.log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > r.log.applied) r.log.applied = rd.snapshot.meta.index;
    }
    if (lastEnt !== undefined) r.log.stableTo(lastEnt.index, lastEnt.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      r.log.appliedTo(lastApplied.index);
      if (r.role === 'leader') {
        let n = 0;
        for (const e of rd.committedEntries) n += e.data.length;
        r.uncommittedSize = Math.max(0, r.uncommittedSize - n);
      }
    }
  }

  status(): Status {
    const r = this.raft;
    const progress: [NodeId, PeerStatus][] = [];
    if (r.role === 'leader') {
      for (const id of [...r.trk.progress.keys()].sort()) {
        const pr = r.trk.progress.get(id);
        if (pr === undefined) continue;
        progress.push([
          id,
          {
            match: pr.match,
            next: pr.next,
            state: pr.state,
            paused: pr.isPaused(),
            inflight: pr.inflights.count(),
            learner: pr.isLearner,
            recentActive: pr.recentActive,
          },
        ]);
      }
    }
    return {
      id: r.id,
      role: r.role,
      isLearner: r.trk.isLearner(r.id),
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      lastTerm: r.log.lastTerm(),
      leadTransferee: r.leadTransferee,
      conf: r.trk.confState(),
      progress,
    };
  }
}
