import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import type { NodeId } from '../core/types.ts';
import type { NodeHost } from './host.ts';
import type { PendingReads } from './reads.ts';

/** Who leads, as last seen in a Ready, and who wants to know when that changes. */
export class LeaderWatch {
  private lead: NodeId = '';
  private term = 0;
  private readonly callbacks: ((lead: NodeId, term: number) => void)[] = [];

  constructor(
    private readonly host: NodeHost,
    private readonly reads: PendingReads,
  ) {}

  onChange(cb: (lead: NodeId, term: number) => void): void {
    this.callbacks.push(cb);
  }

  note(lead: NodeId, term: number): void {
    if (lead === this.lead && term === this.term) return;
    const changed = lead !== this.lead;
    this.lead = lead;
    this.term = term;
    if (!changed) return;
    // The core forgets reads pending at the old leader; their callers must retry.
    this.reads.rejectAll(
      sealError(Err.NotLeader, 'leadership changed before the read was confirmed; retry', {}),
    );
    for (const cb of this.callbacks) {
      try {
        cb(lead, term);
      } catch (e) {
        this.host.log('error', 'leader-change callback threw', { error: String(e) });
      }
    }
  }
}
