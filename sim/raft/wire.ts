// What travels on the simulated network of the Raft model: Raft messages between servers,
// and requests and replies between clients and servers.

import type { Message } from '../../src/raft/core/messages.ts';
import type { KvInput, KvOutput } from '../lincheck/models.ts';

export type Wire =
  | { readonly t: 'raft'; readonly m: Message }
  | { readonly t: 'req'; readonly reqId: number; readonly cmd: KvInput }
  | { readonly t: 'resp'; readonly reqId: number; readonly output: KvOutput }
  | { readonly t: 'redirect'; readonly reqId: number; readonly leader: number | undefined };

function span(m: Message): string {
  const first = m.entries[0];
  const last = m.entries[m.entries.length - 1];
  if (first === undefined || last === undefined) return '[]';
  return `[${first.term}/${first.index}..${last.term}/${last.index}]`;
}

export function describeRaft(m: Message): string {
  const rej = m.reject ? ' rej' : '';
  switch (m.type) {
    case 'App':
      return `App t${m.term} prev=${m.logTerm}/${m.index} c${m.commit} ${span(m)}`;
    case 'AppResp':
      return `AppResp t${m.term} i${m.index}${rej}`;
    case 'Vote':
    case 'PreVote':
      return `${m.type} t${m.term} last=${m.logTerm}/${m.index}`;
    case 'Heartbeat':
      return `Heartbeat t${m.term} c${m.commit} r${m.round}`;
    case 'HeartbeatResp':
      return `HeartbeatResp t${m.term} r${m.round}`;
    case 'Snap':
      return `Snap t${m.term} s=${m.snapshot?.meta.term ?? 0}/${m.snapshot?.meta.index ?? 0}`;
    default:
      return `${m.type} t${m.term} i${m.index}${rej}`;
  }
}

export function describeWire(w: Wire): string {
  if (w.t === 'raft') return describeRaft(w.m);
  if (w.t === 'req') {
    const c = w.cmd;
    return `req #${w.reqId} ${c.f} ${c.f === 'multi' ? c.cmds.map((x) => x.key).join(',') : c.key}`;
  }
  if (w.t === 'resp') return `resp #${w.reqId}`;
  return `redirect #${w.reqId} leader=${w.leader ?? '-'}`;
}
