import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConsensusNode, Coordinator } from '../../src/kv/coordinator.ts';
import { Fsm, type RequestResult } from '../../src/kv/fsm.ts';
import { ReadPins } from '../../src/kv/gc-tracking.ts';
import { HybridLogicalClock } from '../../src/kv/hlc.ts';
import { KvBackend } from '../../src/redis/kv-backend.ts';
import { type Engine, Mvcc, openLmdbEngine, type ValueSealer } from '../../src/storage/index.ts';

/**
 * One replica without Raft: proposals are "committed" at once and applied in
 * order through the real FSM. Exercises coordinator, FSM, MVCC and the Redis
 * backend together before the replicated node is wired.
 */
export class SingleNode implements ConsensusNode {
  private lastIndex = 0n;
  private log: { index: bigint; data: Uint8Array }[] = [];
  private applying: Promise<void> = Promise.resolve();
  readonly coordinator: Coordinator;
  readonly backend: KvBackend;
  readonly mvcc: Mvcc;
  readonly fsm: Fsm;
  readonly pins = new ReadPins();
  /** When set, proposals are dropped (simulates a lost leader) and fail. */
  failProposals = false;
  /** While set, proposals are appended but not applied (a slow commit); `releaseApplies` ends it. */
  holdApplies = false;
  /** Proposals appended so far. */
  proposed = 0;
  /** Every request result the FSM reported, in apply order. */
  readonly results: RequestResult[] = [];

  constructor(
    readonly engine: Engine,
    sealer?: ValueSealer,
  ) {
    this.mvcc = new Mvcc(engine, sealer === undefined ? {} : { sealer });
    const hlc = new HybridLogicalClock({ nowMs: () => Date.now() });
    this.fsm = new Fsm({ mvcc: this.mvcc, engine, hlc });
    this.lastIndex = this.fsm.appliedIndex();
    this.coordinator = new Coordinator({
      node: this,
      mvcc: this.mvcc,
      hlc,
      lastCommitTs: () => this.fsm.lastCommitTs(),
      appliedIndex: this.lastIndex,
      nowMs: () => Date.now(),
      newId: () => randomBytes(8).readBigUInt64BE(),
      pins: this.pins,
    });
    this.backend = new KvBackend({
      coordinator: this.coordinator,
      info: () => ({ role: 'master', encryption: sealer === undefined ? 'off' : 'storage' }),
    });
    this.coordinator.onLeaderReady();
  }

  /** Cleared to act as a follower (follower reads); proposals still work. */
  leading = true;

  readyToLead(): boolean {
    return this.leading;
  }

  async propose(data: Uint8Array): Promise<bigint> {
    if (this.failProposals) throw new Error('proposal dropped');
    const index = ++this.lastIndex;
    this.log.push({ index, data });
    this.proposed++;
    if (!this.holdApplies) this.applying = this.applying.then(() => this.applyPending());
    return index;
  }

  releaseApplies(): Promise<void> {
    this.holdApplies = false;
    this.applying = this.applying.then(() => this.applyPending());
    return this.applying;
  }

  async readIndex(): Promise<bigint> {
    return this.lastIndex;
  }

  /** Tests replace this to model a lease that lapses (raft.md P34). */
  stillValid: () => boolean = () => true;

  readStillValid(): boolean {
    return this.stillValid();
  }

  private async applyPending(): Promise<void> {
    const entries = this.log.splice(0).map((e) => ({ index: e.index, term: 1n, type: 0, data: e.data }));
    if (entries.length === 0) return;
    const report = await this.fsm.apply(entries);
    if (report.halt !== undefined) throw new Error(`halt ${report.halt.code} ${report.halt.detail}`);
    for (const r of report.results) if (r.kind === 'requests') this.results.push(...r.results);
    this.coordinator.onApplied(report);
  }
}

export function openSingleNode(sealer?: ValueSealer): { node: SingleNode; close(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-single-'));
  const engine = openLmdbEngine(dir);
  return {
    node: new SingleNode(engine, sealer),
    close: async () => {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` on a fresh single node and closes it afterwards, whatever `fn` did. */
export async function withSingleNode(fn: (node: SingleNode) => Promise<void>): Promise<void> {
  const { node, close } = openSingleNode();
  try {
    await fn(node);
  } finally {
    await close();
  }
}
