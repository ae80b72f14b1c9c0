import { decodeConfChange } from '../../../src/raft/core/confchange.ts';
import type { Message } from '../../../src/raft/core/messages.ts';
import { ConfChangeType, type Entry, EntryType } from '../../../src/raft/core/types.ts';

/** Golden-transcript rendering: one fact per line, every log position as term/index. */

const CC_NAMES: Record<number, string> = {
  [ConfChangeType.AddVoter]: 'add-voter',
  [ConfChangeType.AddLearner]: 'add-learner',
  [ConfChangeType.PromoteLearner]: 'promote',
  [ConfChangeType.RemoveNode]: 'remove',
};

function text(data: Uint8Array): string {
  if (data.length > 40) return `<${data.length} bytes>`;
  return JSON.stringify(new TextDecoder().decode(data));
}

export function fmtEntry(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    const cc = decodeConfChange(e.data);
    return `${e.term}/${e.index} C ${CC_NAMES[cc.type]} ${cc.node}`;
  }
  return `${e.term}/${e.index} N ${text(e.data)}`;
}

export function fmtEntries(ents: readonly Entry[]): string {
  if (ents.length === 0) return '[]';
  const ids = ents.map((e) => `${e.term}/${e.index}`);
  if (ids.length <= 3) return `[${ids.join(' ')}]`;
  return `[${ids[0]}..${ids[ids.length - 1]} n=${ids.length}]`;
}

export function fmtMsg(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  const ctx = m.context ? ` ctx=${new TextDecoder().decode(m.context)}` : '';
  switch (m.type) {
    case 'App':
      return `${head} prev=${m.logTerm}/${m.index} c${m.commit} ${fmtEntries(m.entries)}${m.noAck ? ' noack' : ''}`;
    case 'AppResp':
      return m.reject
        ? `${head} reject i=${m.index} hint=${m.hintTerm}/${m.hintIndex}`
        : `${head} i=${m.index}`;
    case 'Vote':
    case 'PreVote':
      return `${head} last=${m.logTerm}/${m.index}${m.transfer ? ' transfer' : ''}`;
    case 'VoteResp':
    case 'PreVoteResp':
      return `${head}${m.reject ? ' reject' : ''}`;
    case 'Heartbeat':
      return `${head} c${m.commit} r${m.round}`;
    case 'HeartbeatResp':
      return `${head} r${m.round}`;
    case 'Snap':
      return `${head} snap=${m.snapshot?.meta.term}/${m.snapshot?.meta.index}`;
    case 'ReadIndexResp':
      return `${head} i=${m.index}${ctx}`;
    default:
      return `${head}${ctx}`;
  }
}
