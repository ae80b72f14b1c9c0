import { Progress } from './progress.ts';
import { quorumValue, type VoteResult, voteResult } from './quorum.ts';
import type { ConfChange, ConfState, NodeId } from './types.ts';
import { ConfChangeType } from './types.ts';

/**
 * The configuration in effect (D2: as of the last applied conf change) plus per-peer
 * progress and the votes of the current election. Ids are kept sorted so that iteration
 * (and therefore message order) is deterministic.
 */
export class ProgressTracker {
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  setConf(cs: ConfState): void {
    this.voters = [...new Set(cs.voters)].sort();
    this.learners = [...new Set(cs.learners)].filter((id) => !this.voters.includes(id)).sort();
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  isLearner(id: NodeId): boolean {
    return this.learners.includes(id);
  }

  isMember(id: NodeId): boolean {
    return this.isVoter(id) || this.isLearner(id);
  }

  /** Every member, voters first then learners, each sorted. */
  members(): NodeId[] {
    return [...this.voters, ...this.learners];
  }

  /** Re-creates progress for every member (used when a new term starts). */
  resetProgress(self: NodeId, lastIndex: number): void {
    this.progress.clear();
    for (const id of this.members()) {
      const pr = this.newProgress(id, lastIndex);
      if (id === self) pr.match = lastIndex;
      this.progress.set(id, pr);
    }
  }

  private newProgress(id: NodeId, lastIndex: number): Progress {
    return new Progress(lastIndex + 1, this.maxInflight, this.maxInflightBytes, this.isLearner(id));
  }

  /**
   * Applies one membership change to the configuration and keeps progress in step:
   * new members start probing from the leader's last index; kept members keep their
   * progress (a promoted learner keeps its match).
   */
  applyChange(cc: ConfChange, lastIndex: number): void {
    const voters = new Set(this.voters);
    const learners = new Set(this.learners);
    switch (cc.type) {
      case ConfChangeType.AddVoter:
      case ConfChangeType.PromoteLearner:
        learners.delete(cc.node);
        voters.add(cc.node);
        break;
      case ConfChangeType.AddLearner:
        if (!voters.has(cc.node)) learners.add(cc.node);
        break;
      case ConfChangeType.RemoveNode:
        voters.delete(cc.node);
        learners.delete(cc.node);
        break;
    }
    this.setConf({ voters: [...voters], learners: [...learners] });
    for (const id of [...this.progress.keys()]) if (!this.isMember(id)) this.progress.delete(id);
    for (const id of this.members()) {
      const old = this.progress.get(id);
      if (old === undefined) {
        const pr = this.newProgress(id, lastIndex);
        // A new member has not had a chance to answer yet; do not count it out at once.
        pr.recentActive = true;
        this.progress.set(id, pr);
      } else if (old.isLearner !== this.isLearner(id)) {
        const pr = this.newProgress(id, lastIndex);
        pr.match = old.match;
        pr.next = old.next;
        pr.recentActive = old.recentActive;
        pr.ackedRound = old.ackedRound;
        this.progress.set(id, pr);
      }
    }
  }

  /** Highest index replicated on a majority of voters. */
  committed(): number {
    return quorumValue(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  /** Highest heartbeat round acknowledged by a majority of voters; `self` counts as `current`. */
  quorumRound(self: NodeId, current: number): number {
    return quorumValue(this.voters, (id) =>
      id === self ? current : (this.progress.get(id)?.ackedRound ?? 0),
    );
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tally(): VoteResult {
    return voteResult(this.voters, this.votes);
  }

  /** Check-quorum: voters heard from since the last check form a majority (self counts). */
  quorumActive(self: NodeId): boolean {
    const active = quorumValue(this.voters, (id) =>
      id === self || this.progress.get(id)?.recentActive ? 1 : 0,
    );
    return active === 1;
  }

  resetRecentActive(self: NodeId): void {
    for (const [id, pr] of this.progress) pr.recentActive = id === self;
  }
}
