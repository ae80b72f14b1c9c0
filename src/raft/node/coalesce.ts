import { type Message, messageSize } from '../core/messages.ts';

/**
 * Merges consecutive MsgApp to the same peer into one message when the second continues
 * the first (its prev is the first's last entry). The core emits one MsgApp per proposal;
 * a Ready of many proposals would otherwise send as many tiny messages to every follower.
 * Only a peer's latest message is ever extended, so per-peer order is kept, and the
 * merged ack frees both inflight slots at the leader (acks are cumulative).
 */
export function coalesceAppends(msgs: readonly Message[], maxBytes: number): Message[] {
  const out: Message[] = [];
  const lastTo = new Map<string, number>();
  for (const m of msgs) {
    const at = lastTo.get(m.to);
    const prev = at === undefined ? undefined : out[at];
    if (prev !== undefined && at !== undefined && canMerge(prev, m, maxBytes)) {
      out[at] = { ...prev, entries: prev.entries.concat(m.entries), commit: Math.max(prev.commit, m.commit) };
      continue;
    }
    lastTo.set(m.to, out.length);
    out.push(m);
  }
  return out;
}

function canMerge(a: Message, b: Message, maxBytes: number): boolean {
  if (a.type !== 'App' || b.type !== 'App' || a.term !== b.term) return false;
  if (b.index !== a.index + a.entries.length) return false;
  const last = a.entries[a.entries.length - 1];
  const prevTerm = last === undefined ? a.logTerm : last.term;
  if (b.logTerm !== prevTerm) return false;
  return messageSize(a) + messageSize(b) <= maxBytes;
}
