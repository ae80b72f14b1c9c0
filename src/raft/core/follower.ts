import type { Message } from './messages.ts';
import type { Raft } from './raft.ts';

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'App':
    case 'Heartbeat':
    case 'Snap':
      r.electionElapsed = 0;
      r.lead = m.from;
      handleFromLeader(r, m);
      break;
    case 'TimeoutNow':
      // Transfer campaigns skip pre-vote and the followers' lease (pitfalls 9, 36).
      r.info(`received TimeoutNow from ${m.from}`);
      r.campaign(true);
      break;
    case 'ReadIndexResp':
      r.readStates.push({ index: m.index, context: m.context ?? new Uint8Array() });
      break;
    default:
      break;
  }
}

export function stepCandidate(r: Raft, m: Message): void {
  switch (m.type) {
    case 'App':
    case 'Heartbeat':
    case 'Snap':
      // A leader exists in our term: a candidate steps down but keeps its vote (pitfall 3).
      r.becomeFollower(m.term, m.from);
      handleFromLeader(r, m);
      break;
    case 'PreVoteResp':
    case 'VoteResp': {
      const expected = r.role === 'precandidate' ? 'PreVoteResp' : 'VoteResp';
      if (m.type !== expected) return;
      r.trk.recordVote(m.from, !m.reject);
      const res = r.trk.tally();
      if (res === 'won') {
        if (r.role === 'precandidate') r.startElection('Vote', false);
        else r.becomeLeader();
      } else if (res === 'lost') {
        r.becomeFollower(r.term, '');
      }
      break;
    }
    default:
      break;
  }
}

function handleFromLeader(r: Raft, m: Message): void {
  if (m.type === 'App') handleAppend(r, m);
  else if (m.type === 'Heartbeat') handleHeartbeat(r, m);
  else handleSnapshot(r, m);
}

function handleAppend(r: Raft, m: Message): void {
  if (m.index < r.log.committed) {
    // Below our commit (or snapshot): nothing to learn, and compacted terms must not be
    // looked up (pitfall 14).
    r.reply(m.from, 'AppResp', { index: r.log.committed });
    return;
  }
  const last = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (last !== undefined) {
    if (!m.noAck) r.reply(m.from, 'AppResp', { index: last });
    return;
  }
  // Reject with a hint: our last entry at or below the probe whose term <= the probed term.
  const hint = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  r.reply(m.from, 'AppResp', { index: m.index, reject: true, hintIndex: hint.index, hintTerm: hint.term });
}

function handleHeartbeat(r: Raft, m: Message): void {
  // The leader sends min(match, commit); clamping to our log keeps a bad peer from crashing us.
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  r.reply(m.from, 'HeartbeatResp', { round: m.round });
}

/** Pitfalls 26 and 27: stale, matching and conflicting snapshots. */
function handleSnapshot(r: Raft, m: Message): void {
  const s = m.snapshot;
  if (s === undefined) return;
  const { index, term } = s.meta;
  if (index <= r.log.committed) {
    r.info(`ignored stale snapshot ${term}/${index} (commit ${r.log.committed})`);
    r.reply(m.from, 'AppResp', { index: r.log.committed });
    return;
  }
  if (r.log.matchTerm(index, term)) {
    // We already hold the snapshot's last entry: keep our suffix, only move commit.
    r.info(`fast-forwarded commit to ${term}/${index} from snapshot`);
    r.log.commitTo(index);
    r.reply(m.from, 'AppResp', { index: r.log.committed });
    return;
  }
  r.info(`restored snapshot ${term}/${index}`);
  r.log.restore(s);
  r.trk.setConf(s.meta.conf);
  r.trk.resetProgress(r.id, r.log.lastIndex());
  r.reply(m.from, 'AppResp', { index: r.log.lastIndex() });
}
