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
  /** Per peer: position in `out` of its latest message and, if that is an open run of appends, its size. */
  const latest = new Map<string, { at: number; bytes: number; owned: boolean }>();
  for (const m of msgs) {
    const l = latest.get(m.to);
    const prev = l === undefined ? undefined : out[l.at];
    if (l !== undefined && prev !== undefined && continues(prev, m)) {
      const size = messageSize(m);
      if (l.bytes + size <= maxBytes) {
        // Copy the first message's entry array once, then append in place.
        const merged = l.owned ? prev : { ...prev, entries: prev.entries.slice() };
        for (const e of m.entries) merged.entries.push(e);
        merged.commit = Math.max(merged.commit, m.commit);
        // A run that carries entries, or any part that wants an ack, is acked.
        merged.noAck = merged.noAck && m.noAck;
        out[l.at] = merged;
        l.bytes += size;
        l.owned = true;
        continue;
      }
    }
    latest.set(m.to, { at: out.length, bytes: messageSize(m), owned: false });
    out.push(m);
  }
  return out;
}

function continues(a: Message, b: Message): boolean {
  if (a.type !== 'App' || b.type !== 'App' || a.term !== b.term) return false;
  if (b.index !== a.index + a.entries.length) return false;
  const last = a.entries[a.entries.length - 1];
  return b.logTerm === (last === undefined ? a.logTerm : last.term);
}
