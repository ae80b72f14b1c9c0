import type { Entry, NodeId, Snapshot } from './types.ts';

/**
 * Every message the core sends or accepts. One record shape with a `type` tag keeps the
 * wire codec and the golden printer simple; fields a type does not use stay at their
 * defaults (0, false, empty).
 */
export type MessageType =
  | 'App'
  | 'AppResp'
  | 'Vote'
  | 'VoteResp'
  | 'PreVote'
  | 'PreVoteResp'
  | 'Heartbeat'
  | 'HeartbeatResp'
  | 'Snap'
  | 'TimeoutNow'
  | 'ReadIndex'
  | 'ReadIndexResp';

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  /** Sender's term; a granted PreVoteResp carries the request's term (pitfall 6). */
  term: number;
  /** App: term of the entry at `index` (prev). Vote/PreVote: the candidate's last term. */
  logTerm: number;
  /**
   * App: prev index. AppResp: highest index known to match (accept) or the probed prev
   * index (reject). Vote: candidate's last index. ReadIndexResp: the read index.
   */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** Rejection hint: the follower's last entry whose term is <= the probed term (pitfall 16). */
  hintIndex: number;
  hintTerm: number;
  /** Heartbeat round number, echoed by HeartbeatResp (ReadIndex and lease rounds). */
  round: number;
  /** ReadIndex / ReadIndexResp request context. */
  context?: Uint8Array;
  snapshot?: Snapshot;
  /** Vote caused by TimeoutNow: bypasses the followers' leader lease (pitfall 9). */
  transfer: boolean;
  /**
   * App carrying no entries to a follower in replicate state, sent only to move its
   * commit index: an accepting follower does not answer it (a rejection still does).
   */
  noAck: boolean;
}

export function makeMessage(m: Pick<Message, 'type' | 'from' | 'to' | 'term'> & Partial<Message>): Message {
  return {
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    hintIndex: 0,
    hintTerm: 0,
    round: 0,
    transfer: false,
    noAck: false,
    ...m,
  };
}

/** Per-entry framing overhead assumed by the byte estimates below. */
export const ENTRY_OVERHEAD = 24;
const MESSAGE_OVERHEAD = 64;

export function entrySize(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD;
}

export function entriesSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entrySize(e);
  return n;
}

/** Upper-bound estimate of the encoded size, used for flow control and message caps. */
export function messageSize(m: Message): number {
  let n = MESSAGE_OVERHEAD + m.from.length + m.to.length + entriesSize(m.entries);
  if (m.context !== undefined) n += m.context.length;
  if (m.snapshot !== undefined) {
    const c = m.snapshot.meta.conf;
    n += m.snapshot.data.length + 32;
    for (const id of [...c.voters, ...c.learners]) n += id.length + 4;
  }
  return n;
}

export function isResponse(t: MessageType): boolean {
  return (
    t === 'AppResp' ||
    t === 'VoteResp' ||
    t === 'PreVoteResp' ||
    t === 'HeartbeatResp' ||
    t === 'ReadIndexResp'
  );
}
