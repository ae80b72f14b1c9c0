// Swarm-style fault schedule for the simulated network: each seed draws which fault
// classes are on and how often, then a periodic event injects one fault at a time and
// heals it after a random duration.

import type { NetFaultRates, NodeId, SimNet } from './net.ts';
import type { Prng } from './prng.ts';
import type { Scheduler } from './queue.ts';

export type NetFaultKind = 'split' | 'isolate' | 'isolateHint' | 'asymmetric' | 'clog' | 'reset';

export interface NetFaultPlan {
  readonly rates: NetFaultRates;
  readonly kinds: readonly NetFaultKind[];
  readonly everyMs: number;
  readonly minHoldMs: number;
  readonly maxHoldMs: number;
}

const ALL_KINDS: readonly NetFaultKind[] = ['split', 'isolate', 'isolateHint', 'asymmetric', 'clog', 'reset'];

/** Draw this seed's fault rates and enabled fault kinds (swarm testing). */
export function drawNetFaultPlan(rand: Prng): NetFaultPlan {
  const minDelayMs = rand.int(0, 5);
  const rates: NetFaultRates = {
    dropP: rand.chance(0.5) ? rand.float() * 0.2 : 0,
    duplicateP: rand.chance(0.5) ? rand.float() * 0.1 : 0,
    minDelayMs,
    maxDelayMs: minDelayMs + (rand.chance(0.5) ? rand.int(0, 50) : rand.int(0, 5)),
  };
  const kinds = ALL_KINDS.filter(() => rand.chance(0.5));
  return { rates, kinds, everyMs: rand.int(200, 2000), minHoldMs: 50, maxHoldMs: rand.int(100, 1500) };
}

/**
 * Drives one fault at a time on a network. `hint` names a node of interest (e.g. the
 * current leader) for the isolateHint fault; it may return undefined.
 */
export class NetChaos<P> {
  private active = false;
  private stopped = false;

  constructor(
    private readonly sched: Scheduler,
    private readonly net: SimNet<P>,
    private readonly rand: Prng,
    private readonly plan: NetFaultPlan,
    /** Nodes faults are aimed at (e.g. the servers, not the clients). */
    private readonly targets: readonly NodeId[],
    private readonly hint: () => NodeId | undefined = () => undefined,
  ) {}

  start(): void {
    if (this.plan.kinds.length === 0) return;
    this.sched.after(this.plan.everyMs, 'chaos.tick', () => this.tick());
  }

  /**
   * Heal whatever is active and inject nothing more (for a liveness phase). Random loss
   * and duplication end too: liveness is required only once faults stopped (I21), and a
   * lossy tail can starve a retry that runs rarely (a snapshot send, every 2E) by bad
   * luck alone. Delays stay: they are latency, not faults.
   */
  stop(): void {
    this.stopped = true;
    this.net.setRates({ ...this.plan.rates, dropP: 0, duplicateP: 0 });
    if (this.active) this.net.heal();
    for (const n of this.net.nodes) if (this.net.isClogged(n)) this.net.unclog(n);
    this.active = false;
  }

  private tick(): void {
    if (this.stopped) return;
    if (!this.active) this.inject(this.rand.pick(this.plan.kinds));
    this.sched.after(this.plan.everyMs, 'chaos.tick', () => this.tick());
  }

  private inject(kind: NetFaultKind): void {
    const holdMs = this.rand.int(this.plan.minHoldMs, this.plan.maxHoldMs);
    const nodes = this.targets;
    if (kind === 'reset') {
      const [a, b] = this.rand.shuffle([...nodes]);
      if (a !== undefined && b !== undefined) this.net.reset(a, b);
      return;
    }
    if (kind === 'clog') {
      const node = this.rand.pick(nodes);
      this.net.clog(node);
      this.holdThen(holdMs, () => this.net.unclog(node));
      return;
    }
    this.applyCut(kind);
    this.holdThen(holdMs, () => this.net.heal());
  }

  private applyCut(kind: NetFaultKind): void {
    const nodes = this.targets;
    if (kind === 'split') this.net.randomSplit(nodes);
    else if (kind === 'isolate') this.net.isolate(this.rand.pick(nodes));
    else if (kind === 'isolateHint') this.net.isolate(this.hint() ?? this.rand.pick(nodes));
    else {
      const [a, b] = this.rand.shuffle([...nodes]);
      if (a !== undefined && b !== undefined) this.net.blockLink(a, b);
    }
  }

  private holdThen(holdMs: number, undo: () => void): void {
    this.active = true;
    this.sched.after(holdMs, 'chaos.heal', () => {
      if (this.stopped) return;
      undo();
      this.active = false;
    });
  }
}
