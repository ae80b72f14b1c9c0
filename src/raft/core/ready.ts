import type { Message } from './messages.ts';
import type { ReadState } from './readonly.ts';
import type { Entry, HardState, Snapshot } from './types.ts';

/**
 * One batch of work for the driver. D1, in this order:
 * 1. persist `snapshot`, `entries` (replacing any stored suffix from entries[0].index)
 *    and `hardState`, with one fsync if `mustSync`;
 * 2. send `messages`;
 * 3. install the snapshot into the FSM, then apply `committedEntries` (calling
 *    `applyConfChange` for conf entries), and serve `readStates` once applied >= index;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  /** Present only when term, vote or commit changed. */
  hardState: HardState | undefined;
  entries: Entry[];
  snapshot: Snapshot | undefined;
  messages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
  /** False when only the commit index changed (pitfall 24). */
  mustSync: boolean;
  /** Leader and role, for the driver's bookkeeping (changes are also visible in status()). */
  lead: string;
  role: string;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function mustSync(prev: HardState, hs: HardState, entries: number, snapshot: boolean): boolean {
  return entries > 0 || snapshot || hs.term !== prev.term || hs.vote !== prev.vote;
}
