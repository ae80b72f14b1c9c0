// Per-node monotonic clocks over the shared virtual time. A node's clock runs at its own
// rate: mono = startMs + rate * (vtime - vstartMs). Offsets do not matter for a monotonic
// clock; rate error is what a lease bound has to survive.

import type { Prng } from './prng.ts';

export interface VirtualTime {
  readonly nowMs: number;
}

export class NodeClock {
  private startMs: number;
  private vstartMs: number;

  constructor(
    private readonly vtime: VirtualTime,
    readonly rate: number,
    startMs = 0,
  ) {
    if (!(rate > 0)) throw new RangeError(`clock rate must be positive, got ${rate}`);
    this.startMs = startMs;
    this.vstartMs = vtime.nowMs;
  }

  /** The node's monotonic reading now. */
  nowMs(): number {
    return this.startMs + this.rate * (this.vtime.nowMs - this.vstartMs);
  }

  /** Virtual-time delay after which this node's clock will have advanced by localMs. */
  virtualDelayMs(localMs: number): number {
    return localMs / this.rate;
  }

  /**
   * Restart after a crash: a fresh process sees a new monotonic origin. The value jumps to
   * newStartMs; only differences within one process life are meaningful.
   */
  restart(newStartMs: number): void {
    this.startMs = newStartMs;
    this.vstartMs = this.vtime.nowMs;
  }
}

/** Draw a rate within [1 - rhoPpm/1e6, 1 + rhoPpm/1e6]. */
export function drawRate(rand: Prng, rhoPpm: number): number {
  const errorPpm = (rand.float() * 2 - 1) * rhoPpm;
  return 1 + errorPpm / 1e6;
}
