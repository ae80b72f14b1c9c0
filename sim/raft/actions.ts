// Operator-style actions of the Raft model, drawn per seed like the faults: the leader is
// asked to hand leadership to another voter, mostly one that is caught up, sometimes any
// voter (so the transfer has to wait for it or abort after an election timeout, P36).
// Lease reads are the other per-seed knob: the share of reads a leader serves on its lease.

import type { Prng } from '../prng.ts';
import type { Scheduler } from '../queue.ts';
import type { SimRaftNode } from './node.ts';

export interface ActionPlan {
  /** Mean virtual ms between leadership transfers; 0 = none this seed. */
  readonly transferEveryMs: number;
  /** Share of reads a leader tries to serve on its lease before falling back to ReadIndex. */
  readonly leaseShare: number;
}

export function drawActionPlan(rand: Prng): ActionPlan {
  return {
    transferEveryMs: rand.chance(0.6) ? rand.int(800, 4000) : 0,
    leaseShare: rand.chance(0.6) ? rand.pick([0.3, 0.7, 1]) : 0,
  };
}

/** How long after a transfer the run looks whether its target won. */
const WON_CHECK_MS = 2500;

export class LeaderActions {
  private stopped = false;
  /** Actions taken and their outcomes, by kind. */
  readonly counts = new Map<string, number>();

  constructor(
    private readonly sched: Scheduler,
    private readonly rand: Prng,
    private readonly plan: ActionPlan,
    private readonly nodes: readonly SimRaftNode[],
    /** The leader the ghost recorded for each term. */
    private readonly leaderOf: ReadonlyMap<number, number>,
    private readonly note: (text: string) => void,
  ) {}

  start(): void {
    if (this.plan.transferEveryMs > 0) this.next();
  }

  stop(): void {
    this.stopped = true;
  }

  private next(): void {
    const mean = this.plan.transferEveryMs;
    this.sched.after(this.rand.int(mean >> 1, mean + (mean >> 1)), 'action.transfer', () => {
      if (this.stopped) return;
      this.transferOne();
      this.next();
    });
  }

  private count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  private transferOne(): void {
    const leader = this.nodes.find((n) => n.alive && !n.paused && n.roleLetter() === 'L');
    if (leader === undefined) return;
    const st = leader.core.status();
    const caughtUp = st.progress
      .filter(([id, p]) => id !== leader.sid && p.match === st.lastIndex && this.nodes[Number(id) - 1]?.alive)
      .map(([id]) => Number(id));
    const others = this.nodes.filter((n) => n !== leader).map((n) => n.id);
    const anyVoter = caughtUp.length === 0 || this.rand.chance(0.2);
    const to = anyVoter ? this.rand.pick(others) : this.rand.pick(caughtUp);
    this.count(anyVoter ? 'transfer.any' : 'transfer.caught-up');
    this.note(`transfer n${leader.id} -> n${to} from t${st.term}`);
    leader.transfer(to);
    this.sched.after(WON_CHECK_MS, 'action.transfer-check', () => {
      for (const [t, n] of this.leaderOf) {
        if (t > st.term && t <= st.term + 2 && n === to) {
          this.count('transfer.won');
          return;
        }
      }
    });
  }
}
