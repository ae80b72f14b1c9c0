import type { NodeId } from './types.ts';

/** A read the application may serve once its applied index reaches `index`. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

interface PendingRead {
  from: NodeId;
  context: Uint8Array;
  index: number;
  round: number;
}

/**
 * Heartbeat rounds confirm leadership for ReadIndex and for the lease (pitfalls 33, 34).
 * Each broadcast of heartbeats is a numbered round sent at a known monotonic time; a round
 * acknowledged by a quorum of voters proves that we were leader when it was sent.
 * A read waits for a round sent after it arrived, so its index was current at that time.
 */
export class ReadRounds {
  round = 0;
  private sentAt = new Map<number, number>();
  private reads: PendingRead[] = [];
  /** Send time of the newest quorum-acknowledged round; -Infinity if none this term. */
  leaseStart = Number.NEGATIVE_INFINITY;

  /** Starts a new round sent at `now`; returns its number. */
  start(now: number): number {
    this.round++;
    this.sentAt.set(this.round, now);
    return this.round;
  }

  addRead(from: NodeId, context: Uint8Array, index: number, round: number): void {
    this.reads.push({ from, context, index, round });
  }

  pendingReads(): number {
    return this.reads.length;
  }

  /** A quorum acknowledged every round up to `round`: releases the reads it confirms. */
  confirm(round: number, extendLease: boolean): PendingRead[] {
    const t = this.sentAt.get(round);
    if (extendLease && t !== undefined && t > this.leaseStart) this.leaseStart = t;
    for (const r of [...this.sentAt.keys()]) if (r < round) this.sentAt.delete(r);
    const done = this.reads.filter((r) => r.round <= round);
    if (done.length > 0) this.reads = this.reads.filter((r) => r.round > round);
    return done;
  }

  /** A new leadership (or a transfer) invalidates every round sent before it. */
  reset(): void {
    this.sentAt = new Map();
    this.reads = [];
    this.leaseStart = Number.NEGATIVE_INFINITY;
  }

  /** Forgets lease evidence but keeps pending reads (a transfer started). */
  dropLease(): void {
    this.leaseStart = Number.NEGATIVE_INFINITY;
    this.sentAt = new Map();
  }
}
