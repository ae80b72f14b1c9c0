// Process faults of the Raft model, drawn per seed (swarm testing): crash with restart after
// a delay (the unsynced tail of the disk may be lost) and pause (a stall: no ticks, no input).

import type { Prng } from '../prng.ts';
import type { Scheduler } from '../queue.ts';
import type { SimRaftNode } from './node.ts';

export interface ProcFaultPlan {
  /** Mean virtual ms between crashes; 0 = no crashes this seed. */
  readonly crashEveryMs: number;
  readonly maxDownMs: number;
  readonly pauseEveryMs: number;
  readonly maxPauseMs: number;
  /** Upper bound of a simulated fsync's duration (0 = instant). */
  readonly maxFsyncMs: number;
}

export function drawProcFaultPlan(rand: Prng): ProcFaultPlan {
  return {
    crashEveryMs: rand.chance(0.7) ? rand.int(400, 3000) : 0,
    maxDownMs: rand.int(50, 2500),
    pauseEveryMs: rand.chance(0.5) ? rand.int(500, 4000) : 0,
    maxPauseMs: rand.int(50, 2500),
    maxFsyncMs: rand.chance(0.3) ? 0 : rand.int(1, 15),
  };
}

export function describePlan(p: ProcFaultPlan): string {
  return `crash/${p.crashEveryMs}ms down<=${p.maxDownMs} pause/${p.pauseEveryMs}ms <=${p.maxPauseMs} fsync<=${p.maxFsyncMs}`;
}

export class ProcChaos {
  private stopped = false;

  constructor(
    private readonly sched: Scheduler,
    private readonly rand: Prng,
    private readonly plan: ProcFaultPlan,
    private readonly nodes: readonly SimRaftNode[],
    private readonly fault: (text: string) => void,
    /** Runs after each crash: what the crash lost must not include a committed entry (I9). */
    private readonly afterCrash: () => void,
  ) {}

  start(): void {
    if (this.plan.crashEveryMs > 0) this.next('crash', this.plan.crashEveryMs, () => this.crashOne());
    if (this.plan.pauseEveryMs > 0) this.next('pause', this.plan.pauseEveryMs, () => this.pauseOne());
  }

  /** Faults end: every node is resumed and restarted so liveness can be required (I21). */
  stop(): void {
    this.stopped = true;
    for (const n of this.nodes) {
      if (!n.alive) {
        n.restart();
        this.fault(`restart n${n.id} (faults stopped)`);
      } else if (n.paused) {
        n.resume();
        this.fault(`resume n${n.id} (faults stopped)`);
      }
    }
  }

  private next(label: string, meanMs: number, run: () => void): void {
    this.sched.after(this.rand.int(meanMs >> 1, meanMs + (meanMs >> 1)), `chaos.${label}`, () => {
      if (this.stopped) return;
      run();
      this.next(label, meanMs, run);
    });
  }

  private crashOne(): void {
    const n = this.rand.pick(this.nodes);
    if (!n.alive) return;
    const down = this.rand.int(10, this.plan.maxDownMs);
    n.crash();
    this.fault(`crash n${n.id} restart_in=${down}`);
    this.afterCrash();
    this.sched.after(down, 'chaos.restart', () => {
      if (n.alive) return;
      n.restart();
      this.fault(`restart n${n.id}`);
    });
  }

  private pauseOne(): void {
    const n = this.rand.pick(this.nodes);
    if (!n.alive || n.paused) return;
    const hold = this.rand.int(10, this.plan.maxPauseMs);
    n.pause();
    this.fault(`pause n${n.id} for=${hold}`);
    this.sched.after(hold, 'chaos.resume', () => {
      if (!n.paused) return;
      n.resume();
      this.fault(`resume n${n.id}`);
    });
  }
}
