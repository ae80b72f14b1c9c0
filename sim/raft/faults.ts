// Process and disk faults of the Raft model (docs/spec/raft.md §4), drawn per seed (swarm
// testing): crash now, or kill at a named WAL point the next time the node reaches it; the disk
// keeps its synced bytes plus an arbitrary subset of unsynced sectors, sometimes with the last
// write torn (zeros or garbage to the sector end); EIO on fsync and ENOSPC on write make the
// process exit without acking; restart after a delay; pause (a stall: no ticks, no input).

import type { SimDiskOp } from '../../src/raft/disk/sim-disk.ts';
import type { Prng } from '../prng.ts';
import type { Scheduler } from '../queue.ts';
import type { SimKillPoint, SimRaftNode } from './node.ts';

/** The kill points of raft.md §4 that the simulated nodes reach. */
export const KILL_POINTS: readonly SimKillPoint[] = [
  'wal.beforeWrite',
  'wal.beforeSync',
  'wal.afterSync',
  'segment.rotate',
  'snap.afterFile',
  'snap.beforeMarker',
  'send.mid',
  'apply.beforeBatch',
  'apply.afterBatch',
];

export interface SnapPlan {
  /** A node snapshots its FSM every this many applied entries; 0 = never. */
  readonly every: number;
  /** Entries kept before the snapshot when compacting the in-memory log. */
  readonly retain: number;
  /** The snapshot file is written while Readies go on, as in the real node. */
  readonly concurrent: boolean;
}

/** Small intervals: a run commits a few hundred entries, and lagging followers must need MsgSnap. */
export function drawSnapPlan(rand: Prng): SnapPlan {
  return {
    every: rand.chance(0.85) ? rand.pick([10, 20, 30, 50, 80]) : 0,
    retain: rand.pick([0, 0, 3, 10]),
    concurrent: rand.chance(0.5),
  };
}

export interface ProcFaultPlan {
  /** Mean virtual ms between crashes; 0 = no crashes this seed. */
  readonly crashEveryMs: number;
  readonly maxDownMs: number;
  readonly pauseEveryMs: number;
  readonly maxPauseMs: number;
  /** Upper bound of a simulated fsync's duration (0 = instant). */
  readonly maxFsyncMs: number;
  /** Share of crashes that instead arm a kill at a named WAL point. */
  readonly killShare: number;
  /** Probability that a crash tears the last unsynced write. */
  readonly tearP: number;
  /** Per-fsync probability of EIO, per-write probability of ENOSPC. */
  readonly eioP: number;
  readonly enospcP: number;
  /** WAL segment size: small, so segments rotate within a run. */
  readonly segmentBytes: number;
  /** Probability that a restart dies at recovery's first fsync (tail repair, new segment), if it has one. */
  readonly recoveryKillP: number;
  /** Share of crashes that instead arm an apply halt a few entries ahead (P45, I19). */
  readonly haltP: number;
}

export function drawProcFaultPlan(rand: Prng): ProcFaultPlan {
  return {
    crashEveryMs: rand.chance(0.7) ? rand.int(400, 3000) : 0,
    maxDownMs: rand.int(50, 2500),
    pauseEveryMs: rand.chance(0.5) ? rand.int(500, 4000) : 0,
    maxPauseMs: rand.int(50, 2500),
    maxFsyncMs: rand.chance(0.3) ? 0 : rand.int(1, 15),
    killShare: rand.chance(0.7) ? 0.2 + 0.6 * rand.float() : 0,
    tearP: rand.chance(0.6) ? rand.float() : 0,
    eioP: rand.chance(0.4) ? rand.int(2, 20) / 10000 : 0,
    enospcP: rand.chance(0.4) ? rand.int(2, 20) / 10000 : 0,
    segmentBytes: rand.pick([2048, 4096, 8192, 32768]),
    recoveryKillP: rand.chance(0.5) ? 0.3 + 0.6 * rand.float() : 0,
    haltP: rand.chance(0.4) ? 0.1 + 0.2 * rand.float() : 0,
  };
}

export function describePlan(p: ProcFaultPlan): string {
  return (
    `crash/${p.crashEveryMs}ms down<=${p.maxDownMs} pause/${p.pauseEveryMs}ms <=${p.maxPauseMs} ` +
    `fsync<=${p.maxFsyncMs} kill=${p.killShare.toFixed(2)} tear=${p.tearP.toFixed(2)} ` +
    `eio=${p.eioP} enospc=${p.enospcP} seg=${p.segmentBytes} rkill=${p.recoveryKillP.toFixed(2)} halt=${p.haltP.toFixed(2)}`
  );
}

export class ProcChaos {
  private stopped = false;
  /** Faults injected so far, by kind (crash, kill at each point, tear, EIO, ENOSPC). */
  readonly counts = new Map<string, number>();

  constructor(
    private readonly sched: Scheduler,
    private readonly rand: Prng,
    private readonly plan: ProcFaultPlan,
    private readonly nodes: readonly SimRaftNode[],
    /** One stream per node for its disk-error draws. */
    private readonly diskRands: readonly Prng[],
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
      n.disarm();
      if (n.down) {
        n.restart();
        this.fault(`restart n${n.id} (faults stopped)`);
      } else if (n.paused) {
        n.resume();
        this.fault(`resume n${n.id} (faults stopped)`);
      }
    }
  }

  /** SimDisk's fault hook: an errno for this operation, or undefined. */
  diskFault(n: SimRaftNode, op: SimDiskOp): string | undefined {
    if (this.stopped) return undefined;
    const p = op === 'fsync' ? this.plan.eioP : op === 'write' ? this.plan.enospcP : 0;
    if (p === 0 || !this.diskRands[n.id - 1]!.chance(p)) return undefined;
    return op === 'fsync' ? 'EIO' : 'ENOSPC';
  }

  /** A node died on its own (kill point, disk error): crash its disk now, restart it later. */
  died(n: SimRaftNode, verb: 'kill' | 'exit' | 'halt', detail: string): void {
    // `at wal.beforeSync` → kill.wal.beforeSync; `(EIO on fsync of …)` → EIO; a halt → halt.
    const point = /^(?:at )?([\w.]+)/.exec(detail)?.[1] ?? 'unknown';
    if (verb === 'halt') this.count('halt');
    else this.count(verb === 'kill' ? `kill.${point}` : (/\((\w+)/.exec(detail)?.[1] ?? 'exit'));
    this.kill(n, `${verb} n${n.id} ${detail}`);
  }

  private count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
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
    if (n.down) return;
    if (n.alive && this.plan.haltP > 0 && this.rand.chance(this.plan.haltP)) {
      const at = n.fsm.applied + this.rand.int(1, 10);
      n.armHalt(at);
      this.fault(`arm n${n.id} halt at ${at}`);
      return;
    }
    if (n.alive && this.rand.chance(this.plan.killShare)) {
      const point = this.rand.pick(KILL_POINTS);
      n.armKill(point);
      this.fault(`arm n${n.id} kill at ${point}`);
      return;
    }
    this.count(n.booting ? 'crash.recovering' : 'crash');
    this.kill(n, `crash n${n.id}${n.booting ? ' (recovering)' : ''}`);
  }

  private kill(n: SimRaftNode, what: string): void {
    const tear = this.rand.chance(this.plan.tearP)
      ? this.rand.chance(0.5)
        ? 'zeros'
        : 'garbage'
      : undefined;
    const down = this.rand.int(10, this.plan.maxDownMs);
    n.crash(tear === undefined ? {} : { tear });
    if (tear !== undefined) this.count(`tear.${tear}`);
    this.fault(`${what}${tear === undefined ? '' : ` tear=${tear}`} restart_in=${down}`);
    this.afterCrash();
    this.sched.after(down, 'chaos.restart', () => {
      if (!n.down) return;
      n.restart();
      this.fault(`restart n${n.id}`);
      if (!this.stopped && this.rand.chance(this.plan.recoveryKillP)) n.armRecoveryKill();
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
