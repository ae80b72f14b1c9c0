/**
 * The leader's view of one follower (pitfall 17):
 * - probe: one MsgApp at a time until the follower answers, then replicate;
 * - replicate: pipeline MsgApps optimistically, bounded by the inflight window;
 * - snapshot: no MsgApp until the snapshot is reported or an AppResp shows it caught up.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A sliding window of unacknowledged MsgApps, bounded by count and by bytes. */
export class Inflights {
  private items: { index: number; bytes: number }[] = [];
  private totalBytes = 0;

  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  add(lastIndex: number, bytes: number): void {
    this.items.push({ index: lastIndex, bytes });
    this.totalBytes += bytes;
  }

  /** Frees every message whose last index is <= `index`. */
  freeLE(index: number): void {
    let k = 0;
    while (k < this.items.length && (this.items[k]?.index ?? Infinity) <= index) {
      this.totalBytes -= this.items[k]?.bytes ?? 0;
      k++;
    }
    if (k > 0) this.items = this.items.slice(k);
  }

  freeFirst(): void {
    const first = this.items[0];
    if (first !== undefined) this.freeLE(first.index);
  }

  full(): boolean {
    return this.items.length >= this.maxCount || (this.maxBytes > 0 && this.totalBytes >= this.maxBytes);
  }

  count(): number {
    return this.items.length;
  }

  bytes(): number {
    return this.totalBytes;
  }

  reset(): void {
    this.items = [];
    this.totalBytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Index of the snapshot in flight (snapshot state only). */
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state; too many counts as a lost snapshot (pitfall 29). */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Probe state: a MsgApp is outstanding; wait for its answer or a heartbeat response. */
  msgAppFlowPaused = false;
  /** Highest heartbeat round this peer acknowledged in the current term. */
  ackedRound = 0;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    maxInflightBytes: number,
    readonly isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = index;
  }

  /** Records a MsgApp carrying `count` entries (`bytes` in size) just sent. */
  sentEntries(count: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next += count;
        this.inflights.add(this.next - 1, bytes);
      }
    } else if (this.state === 'probe') {
      // Every MsgApp in probe state is a probe: wait for its answer.
      this.msgAppFlowPaused = true;
    }
  }

  /** Accepts an ack through `n`; match never decreases (pitfall 15). */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * Handles a rejection of the probe at `rejected`. Returns false when the rejection is
   * stale (it does not answer the probe now outstanding), so duplicates and reordered
   * rejections cannot rewind `next` (pitfall 15).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.msgAppFlowPaused;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
