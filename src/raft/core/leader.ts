import { entriesSize, type Message, makeMessage } from './messages.ts';
import type { Progress } from './progress.ts';
import type { Raft } from './raft.ts';
import type { Entry, NodeId } from './types.ts';

/** Appends entries at the leader's tail (stamping term and index); returns the last index. */
export function appendEntry(r: Raft, ents: Entry[]): number {
  let li = r.log.lastIndex();
  const stamped = ents.map((e) => ({ ...e, term: r.term, index: ++li }));
  for (const e of stamped) r.uncommittedSize += e.data.length;
  li = r.log.append(stamped);
  // Our own ack counts once the Ready carrying these entries is persisted (D1: the
  // driver persists before it sends anything that could produce a commit).
  r.trk.progress.get(r.id)?.maybeUpdate(li);
  maybeCommit(r);
  return li;
}

/** Advances commit to the quorum match if that entry is from this term (pitfall 1). */
export function maybeCommit(r: Raft): boolean {
  if (!r.log.maybeCommit(r.trk.committed(), r.term)) return false;
  onCommitAdvanced(r);
  return true;
}

function onCommitAdvanced(r: Raft): void {
  if (r.termReads.length > 0 && r.log.term(r.log.committed) === r.term) {
    const reads = r.termReads;
    r.termReads = [];
    for (const rd of reads) handleReadRequest(r, rd.from, rd.context, false);
    if (r.rounds.pendingReads() > 0) bcastHeartbeat(r);
  }
  checkRemovedLeader(r);
}

/**
 * A leader that applied its own removal keeps replicating until everything it appended
 * is committed by the new voters, then steps down (pitfall 40).
 */
export function checkRemovedLeader(r: Raft): void {
  if (r.role !== 'leader' || r.trk.isVoter(r.id)) return;
  if (r.log.committed < r.log.lastIndex()) return;
  // Tell the remaining members the final commit before leaving the role.
  bcastAppend(r);
  r.info('stepping down: removed from the configuration and everything is committed');
  r.becomeFollower(r.term, '');
}

function peers(r: Raft): NodeId[] {
  return r.trk.members().filter((id) => id !== r.id);
}

/** `commitOnly`: sent because the commit moved, not to replicate or probe (see sendAppend). */
export function bcastAppend(r: Raft, commitOnly = false): void {
  for (const id of peers(r)) sendAppend(r, id, true, commitOnly);
}

/**
 * Sends the next MsgApp to `to` if flow control allows. Entries below the first index
 * turn into a snapshot (pitfall 30). Returns whether a message was sent.
 */
export function sendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean, commitOnly = false): boolean {
  const pr = r.trk.progress.get(to);
  if (pr === undefined || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === undefined || pr.next < r.log.firstIndex()) {
    sendSnapshot(r, to, pr);
    return true;
  }
  const ents = r.log.slice(pr.next, r.log.lastIndex() + 1, r.cfg.maxMsgBytes);
  if (ents.length === 0 && !sendIfEmpty) return false;
  r.send(
    makeMessage({
      type: 'App',
      from: r.id,
      to,
      term: r.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: r.log.committed,
      // Sent only to move the commit, an empty App in replicate state needs no ack:
      // the entries before it are acked themselves. Every other empty App is acked,
      // probes and the resend after a heartbeat answer, which is how a lost ack is
      // recovered.
      noAck: commitOnly && ents.length === 0 && pr.state === 'replicate',
    }),
  );
  pr.sentEntries(ents.length, entriesSize(ents));
  return true;
}

function sendSnapshot(r: Raft, to: NodeId, pr: Progress): void {
  const snap = r.log.storage.snapshot();
  r.send(makeMessage({ type: 'Snap', from: r.id, to, term: r.term, snapshot: snap }));
  pr.becomeSnapshot(snap.meta.index);
  r.info(`sent snapshot ${snap.meta.term}/${snap.meta.index} to ${to}`);
}

/** One heartbeat round to every peer; the commit sent is min(match, commit) (pitfall 13). */
export function bcastHeartbeat(r: Raft): number {
  const round = r.rounds.start(r.cfg.now());
  for (const id of peers(r)) {
    const pr = r.trk.progress.get(id);
    const commit = Math.min(pr?.match ?? 0, r.log.committed);
    r.send(makeMessage({ type: 'Heartbeat', from: r.id, to: id, term: r.term, commit, round }));
  }
  // A single voter confirms its own rounds at once.
  confirmRounds(r);
  return round;
}

export function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.send(makeMessage({ type: 'TimeoutNow', from: r.id, to, term: r.term }));
}

/**
 * ReadIndex at the leader: queue until this term's first entry is committed
 * (pitfall 32), then confirm with a heartbeat round sent after arrival (pitfall 33).
 */
export function handleReadRequest(r: Raft, from: NodeId, context: Uint8Array, startRound = true): void {
  if (r.log.term(r.log.committed) !== r.term) {
    r.termReads.push({ from, context });
    return;
  }
  if (r.trk.voters.length === 1 && r.trk.isVoter(r.id)) {
    answerRead(r, from, context, r.log.committed);
    return;
  }
  // The round that confirms this read is the next one broadcast.
  r.rounds.addRead(from, context, r.log.committed, r.rounds.round + 1);
  if (startRound) bcastHeartbeat(r);
}

function answerRead(r: Raft, from: NodeId, context: Uint8Array, index: number): void {
  if (from === r.id) r.readStates.push({ index, context });
  else r.send(makeMessage({ type: 'ReadIndexResp', from: r.id, to: from, term: r.term, index, context }));
}

function confirmRounds(r: Raft): void {
  const q = r.trk.quorumRound(r.id, r.rounds.round);
  if (q === 0) return;
  // Rounds sent during a transfer never extend the lease: the target's campaign bypasses
  // the followers' leases (pitfall 35).
  for (const rd of r.rounds.confirm(q, r.leadTransferee === '')) answerRead(r, rd.from, rd.context, rd.index);
}

export function tickLeader(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  for (const pr of r.trk.progress.values()) {
    if (pr.state !== 'snapshot') continue;
    // A snapshot with no report for 2E is treated as lost (pitfall 29).
    if (++pr.snapshotTicks >= 2 * r.cfg.electionTicks) {
      pr.pendingSnapshot = 0;
      pr.becomeProbe();
    }
  }
  if (r.electionElapsed >= r.cfg.electionTicks) {
    r.electionElapsed = 0;
    if (r.cfg.checkQuorum) {
      const active = r.trk.quorumActive(r.id);
      r.trk.resetRecentActive(r.id);
      if (!active) {
        // Pitfall 8: voters heard from within E are not a quorum.
        r.info('stepped down: quorum not active');
        r.becomeFollower(r.term, '');
        return;
      }
    }
    if (r.leadTransferee !== '') {
      r.info(`leadership transfer to ${r.leadTransferee} timed out`);
      r.abortLeaderTransfer();
    }
  }
  if (r.heartbeatElapsed >= r.cfg.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    bcastHeartbeat(r);
  }
}

export function stepLeader(r: Raft, m: Message): void {
  if (m.type === 'ReadIndex') {
    const context = m.context ?? new Uint8Array();
    // With lease reads on, a valid lease answers a follower's read as it
    // answers the leader's own (P34, P35): no heartbeat round per read. The
    // check and the answer are one step, so no pause falls between them.
    if (r.leaseValid()) answerRead(r, m.from, context, r.log.committed);
    else handleReadRequest(r, m.from, context);
    return;
  }
  const pr = r.trk.progress.get(m.from);
  if (pr === undefined) return;
  if (m.type === 'AppResp') {
    pr.recentActive = true;
    handleAppResp(r, m, pr);
  } else if (m.type === 'HeartbeatResp') {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // A full window whose acks were lost would stall forever: free one slot so the
    // heartbeat answer can restart replication (pitfall 17).
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (m.round > pr.ackedRound) pr.ackedRound = m.round;
    if (!pr.isLearner) confirmRounds(r);
    if (pr.match < r.log.lastIndex()) sendAppend(r, m.from, true);
  }
}

function handleAppResp(r: Raft, m: Message, pr: Progress): void {
  if (m.reject) {
    let next = m.hintIndex;
    if (m.hintTerm > 0) next = r.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
    if (pr.maybeDecrTo(m.index, next)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppend(r, m.from, true);
    }
    return;
  }
  const oldPaused = pr.isPaused();
  if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe')) {
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= r.log.firstIndex()) {
      // Caught up through appends, possibly from an older snapshot (pitfall 28).
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

    if (maybeCommit(r)) {
      if (r.role !== 'leader') return;
      bcastAppend(r, true);
    } else if (oldPaused) sendAppend(r, m.from, true);
    while (r.role === 'leader' && sendAppend(r, m.from, false)) {
      // Keep the pipeline full while the window allows.
    }
    if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
      r.info(`sent TimeoutNow to ${m.from}`);
      sendTimeoutNow(r, m.from);
    }
  }
}
