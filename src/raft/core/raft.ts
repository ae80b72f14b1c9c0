import { Err } from '../../util/codes.ts';
import { assert, sealError } from '../../util/errors.ts';
import { encodeConfChange } from './confchange.ts';
import { leaseMs, type RaftConfig, type ResolvedConfig, resolveConfig } from './config.ts';
import { stepCandidate, stepFollower } from './follower.ts';
import {
  appendEntry,
  bcastAppend,
  bcastHeartbeat,
  checkRemovedLeader,
  handleReadRequest,
  maybeCommit,
  sendTimeoutNow,
  stepLeader,
  tickLeader,
} from './leader.ts';
import { RaftLog } from './log.ts';
import { type Message, type MessageType, makeMessage } from './messages.ts';
import type { ReadState } from './readonly.ts';
import { ReadRounds } from './readonly.ts';
import { ProgressTracker } from './tracker.ts';
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type NodeId,
} from './types.ts';

export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

/**
 * The pure Raft state machine: no I/O, timers, clock or randomness of its own. Inputs are
 * `step`, `tick` and the propose/read/admin calls; outputs are collected and handed out by
 * `ready()` (see ready.ts for the D1 contract). Handlers for each role live in leader.ts
 * and follower.ts; they share this object's state.
 */
export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  term = 0;
  vote: NodeId = '';
  lead: NodeId = '';
  role: Role = 'follower';
  readonly log: RaftLog;
  readonly trk: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId = '';
  /** Leader: index of the last conf entry appended; none may be pending beyond applied. */
  pendingConfIndex = 0;
  /** Leader: index of this term's first (empty) entry (D6). */
  termStartIndex = 0;
  uncommittedSize = 0;
  /** Reads that arrived before this term's first entry committed (pitfall 32). */
  termReads: { from: NodeId; context: Uint8Array }[] = [];
  readonly rounds = new ReadRounds();

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    const st = this.cfg.storage;
    const { hardState, confState } = st.initialState();
    const applied = this.cfg.applied ?? st.firstIndex() - 1;
    const commit = Math.max(hardState.commit, applied);
    if (commit > st.lastIndex()) {
      throw sealError(Err.WalCorrupt, 'hard state commit is beyond the recovered log; refusing to start', {
        commit,
        lastIndex: st.lastIndex(),
      });
    }
    this.log = new RaftLog(st, applied, commit, this.cfg.maxMsgBytes);
    this.trk = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
    this.trk.setConf(confState);
    this.becomeFollower(hardState.term, '');
    this.vote = hardState.vote;
  }

  // ---- state transitions ----------------------------------------------------------

  info(line: string): void {
    this.cfg.logger?.(`${this.id} ${line}`);
  }

  promotable(): boolean {
    return this.trk.isVoter(this.id);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    this.lead = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = '';
    this.trk.resetVotes();
    this.trk.resetProgress(this.id, this.log.lastIndex());
    this.pendingConfIndex = 0;
    this.termStartIndex = 0;
    this.uncommittedSize = 0;
    this.termReads = [];
    this.rounds.reset();
  }

  /** D4: re-drawn uniformly from [E, 2E) on every reset (pitfall 4). */
  resetRandomizedElectionTimeout(): void {
    let x = this.cfg.rand();
    if (x >= 1) x = (x >>> 0) / 2 ** 32;
    const e = this.cfg.electionTicks;
    this.randomizedElectionTimeout = e + Math.min(e - 1, Math.floor(x * e));
  }

  becomeFollower(term: number, lead: NodeId): void {
    const changed = this.role !== 'follower' || term !== this.term || lead !== this.lead;
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    if (changed) this.info(`became follower t${term} lead=${lead === '' ? '-' : lead}`);
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become pre-candidate');
    // Pre-vote changes neither term nor vote (pitfall 5).
    this.trk.resetVotes();
    this.lead = '';
    this.role = 'precandidate';
    this.info(`became pre-candidate t${this.term}`);
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.info(`became candidate t${this.term}`);
  }

  becomeLeader(): void {
    assert(this.role !== 'follower', 'follower cannot become leader directly');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.trk.progress.get(this.id)?.becomeReplicate();
    // Conf changes proposed by an earlier leader may still be in the log (pitfall 37).
    this.pendingConfIndex = this.log.lastIndex();
    // D6: the term-start entry.
    this.termStartIndex = appendEntry(this, [
      { term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array() },
    ]);
    this.info(`became leader t${this.term}`);
    bcastAppend(this);
  }

  /** Starts an election; `transfer` skips pre-vote and the followers' lease (TimeoutNow). */
  campaign(transfer: boolean): void {
    if (!this.promotable()) return;
    this.startElection(this.cfg.preVote && !transfer ? 'PreVote' : 'Vote', transfer);
  }

  startElection(type: 'PreVote' | 'Vote', transfer: boolean): void {
    let term: number;
    if (type === 'PreVote') {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    this.trk.recordVote(this.id, true);
    if (this.trk.tally() === 'won') {
      if (type === 'PreVote') this.startElection('Vote', transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of this.trk.voters) {
      if (id === this.id) continue;
      this.send(
        makeMessage({
          type,
          from: this.id,
          to: id,
          term,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          transfer,
        }),
      );
    }
  }

  /** Queues a message; responses and requests not stamped by the caller get our term. */
  send(m: Message): void {
    this.msgs.push(m);
  }

  reply(to: NodeId, type: MessageType, fields: Partial<Message> = {}): void {
    this.send(makeMessage({ type, from: this.id, to, term: this.term, ...fields }));
  }

  // ---- inputs -----------------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') {
      tickLeader(this);
      return;
    }
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      if (!this.hasUnappliedConfChange()) this.campaign(false);
    }
  }

  /** Campaigning with a committed but unapplied conf change would use a stale config. */
  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    return this.log.slice(lo, this.log.committed + 1).some((e) => e.type === EntryType.ConfChange);
  }

  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === 'Vote' || m.type === 'PreVote') {
        // Pitfall 9: inside a live leader's lease, ignore campaigns (except transfers).
        const heardLeader = this.lead !== '' && this.electionElapsed < this.cfg.electionTicks;
        const inLease = (this.cfg.checkQuorum || m.type === 'PreVote') && heardLeader;
        if (inLease && !m.transfer) return;
      }
      if (m.type === 'PreVote' || (m.type === 'PreVoteResp' && !m.reject)) {
        // Pre-vote never moves terms; a grant carries the request's term (pitfall 6).
      } else if (m.type === 'App' || m.type === 'Heartbeat' || m.type === 'Snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if (m.type === 'App' || m.type === 'Heartbeat') {
        // Pitfall 7: tell a stale leader about the newer term.
        this.reply(m.from, 'AppResp');
      } else if (m.type === 'PreVote') {
        // Pitfall 6: a lower-term pre-candidate learns our term from the rejection.
        this.reply(m.from, 'PreVoteResp', { reject: true });
      }
      // Any other stale message, responses included, is dropped (pitfall 15).
      return;
    }

    if (m.type === 'Vote' || m.type === 'PreVote') {
      this.handleVoteRequest(m);
      return;
    }
    if (this.role === 'leader') stepLeader(this, m);
    else if (this.role === 'follower') stepFollower(this, m);
    else stepCandidate(this, m);
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === '' && this.lead === '') ||
      (m.type === 'PreVote' && m.term > this.term);
    const respType = m.type === 'Vote' ? 'VoteResp' : 'PreVoteResp';
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // Stamp with the request's term so the candidate counts it (pitfall 6).
      this.send(makeMessage({ type: respType, from: this.id, to: m.from, term: m.term }));
      if (m.type === 'Vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.reply(m.from, respType, { reject: true });
    }
  }

  // ---- public API -------------------------------------------------------------------

  /** Appends a normal entry; returns its index. Throws a typed error when refused. */
  propose(data: Uint8Array): number {
    this.checkCanPropose(data.length);
    const idx = appendEntry(this, [{ term: 0, index: 0, type: EntryType.Normal, data }]);
    bcastAppend(this);
    return idx;
  }

  private checkCanPropose(size: number): void {
    if (this.role !== 'leader') {
      throw sealError(Err.NotLeader, 'this node is not the leader; retry on the leader', {
        leader: this.lead,
      });
    }
    if (this.leadTransferee !== '') {
      throw sealError(Err.LeaderTransferring, 'leadership transfer in progress; retry shortly', {
        to: this.leadTransferee,
      });
    }
    if (!this.trk.isVoter(this.id)) {
      throw sealError(Err.ProposalDropped, 'this leader was removed from the configuration', {});
    }
    if (size > this.cfg.maxProposalBytes) {
      throw sealError(Err.ProposalTooLarge, 'proposal exceeds the maximum message size', {
        size,
        max: this.cfg.maxProposalBytes,
      });
    }
    if (this.uncommittedSize > 0 && this.uncommittedSize + size > this.cfg.maxUncommittedBytes) {
      throw sealError(Err.ProposalDropped, 'too many uncommitted bytes; retry after the log catches up', {
        uncommitted: this.uncommittedSize,
      });
    }
  }

  /** Appends a membership change (one at a time, D2/D6); returns its index. */
  proposeConfChange(cc: ConfChange): number {
    const data = encodeConfChange(cc);
    this.checkCanPropose(data.length);
    if (this.log.applied < this.termStartIndex) {
      throw sealError(Err.ConfChangePending, 'the leader has not applied its term-start entry yet (D6)', {});
    }
    if (this.pendingConfIndex > this.log.applied) {
      throw sealError(Err.ConfChangePending, 'another configuration change is still pending', {
        pending: this.pendingConfIndex,
      });
    }
    this.validateConfChange(cc);
    const idx = appendEntry(this, [{ term: 0, index: 0, type: EntryType.ConfChange, data }]);
    this.pendingConfIndex = idx;
    bcastAppend(this);
    return idx;
  }

  private validateConfChange(cc: ConfChange): void {
    const bad = (msg: string) => sealError(Err.InvalidArgument, msg, { node: cc.node, type: cc.type });
    const t = this.trk;
    switch (cc.type) {
      case ConfChangeType.AddVoter:
        if (t.isVoter(cc.node)) throw bad('node is already a voter');
        break;
      case ConfChangeType.AddLearner:
        if (t.isMember(cc.node)) throw bad('node is already a member');
        break;
      case ConfChangeType.PromoteLearner: {
        if (!t.isLearner(cc.node)) throw bad('only a learner can be promoted');
        const pr = t.progress.get(cc.node);
        const caughtUp = pr !== undefined && pr.match >= this.log.lastIndex() - this.cfg.promoteSlack;
        if (!caughtUp || !pr.recentActive) {
          throw sealError(Err.LearnerNotReady, 'learner has not caught up with the log yet', {
            node: cc.node,
            match: pr?.match ?? 0,
            lastIndex: this.log.lastIndex(),
          });
        }
        break;
      }
      case ConfChangeType.RemoveNode:
        if (!t.isMember(cc.node)) throw bad('node is not a member');
        if (t.isVoter(cc.node) && t.voters.length === 1) throw bad('cannot remove the last voter');
        break;
    }
  }

  /** D2: called by the driver while applying a committed conf entry. */
  applyConfChange(cc: ConfChange): ConfState {
    this.trk.applyChange(cc, this.log.lastIndex());
    if (this.role === 'leader') {
      if (this.leadTransferee !== '' && !this.trk.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
      if (maybeCommit(this) && this.role === 'leader') bcastAppend(this);
      checkRemovedLeader(this);
    }
    return this.trk.confState();
  }

  /**
   * Safe ReadIndex (pitfalls 32, 33). The answer arrives as a ReadState in a later Ready:
   * serve the read once applied >= its index. Followers forward to the leader.
   */
  readIndex(context: Uint8Array): void {
    if (this.role === 'leader') {
      handleReadRequest(this, this.id, context);
      return;
    }
    if (this.role !== 'follower' || this.lead === '') {
      throw sealError(Err.NotLeader, 'no known leader to confirm a read; retry later', { leader: this.lead });
    }
    this.reply(this.lead, 'ReadIndex', { context });
  }

  /** Lease read (P34, P35): the index to read at, or a typed error when the lease is not held. */
  leaseRead(): number {
    if (this.role !== 'leader') {
      throw sealError(Err.NotLeader, 'lease reads are served by the leader only', { leader: this.lead });
    }
    if (!this.leaseValid()) {
      throw sealError(Err.LeaseExpired, 'leader lease not held; use ReadIndex', {});
    }
    return this.log.committed;
  }

  /** True while a lease read may be served; re-check after reading the FSM (P34). */
  leaseValid(): boolean {
    if (this.role !== 'leader' || !this.cfg.leaseReads || this.leadTransferee !== '') return false;
    if (this.log.term(this.log.committed) !== this.term) return false;
    if (this.trk.voters.length === 1 && this.trk.isVoter(this.id)) return true;
    return this.cfg.now() < this.rounds.leaseStart + leaseMs(this.cfg);
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader') throw sealError(Err.NotLeader, 'only the leader can transfer leadership', {});
    if (to === this.id) throw sealError(Err.InvalidArgument, 'already the leader', { to });
    if (!this.trk.isVoter(to))
      throw sealError(Err.InvalidArgument, 'transfer target must be a voter', { to });
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    // Abort after one election timeout (pitfall 36); stop lease reads (pitfall 35).
    this.electionElapsed = 0;
    this.rounds.dropLease();
    this.info(`transferring leadership to ${to}`);
    const pr = this.trk.progress.get(to);
    if (pr !== undefined && pr.match === this.log.lastIndex()) sendTimeoutNow(this, to);
    else bcastAppend(this);
  }

  abortLeaderTransfer(): void {
    if (this.leadTransferee === '') return;
    this.leadTransferee = '';
    // Rounds sent while the transfer was pending must not revive the lease (pitfall 35).
    this.rounds.dropLease();
  }

  reportUnreachable(peer: NodeId): void {
    const pr = this.role === 'leader' ? this.trk.progress.get(peer) : undefined;
    if (pr?.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    const pr = this.role === 'leader' ? this.trk.progress.get(peer) : undefined;
    if (pr?.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (AppResp or heartbeat response) before probing.
    pr.msgAppFlowPaused = true;
  }

  /** Starts a heartbeat round now (used by tests and by the driver to refresh the lease). */
  heartbeat(): void {
    if (this.role === 'leader') bcastHeartbeat(this);
  }

  entriesForApply(): Entry[] {
    return this.log.nextCommittedEnts();
  }
}
