import type { Mvcc } from '../storage/index.ts';
import { Err } from '../util/codes.ts';
import { isSealError, SealError, sealError } from '../util/errors.ts';
import type { ApplyReport, RequestResult } from './fsm.ts';
import type { ReadPins } from './gc-tracking.ts';
import type { HybridLogicalClock } from './hlc.ts';
import { encodeHlcLease } from './hlc-lease.ts';
import { type KvTx, Overlay, SkewGuardedView, successor } from './overlay.ts';
import { encodeProposal } from './proposal.ts';
import { encodeRequests, type Request, type WriteOp } from './request.ts';

/** What the coordinator needs from the Raft node. */
export interface ConsensusNode {
  /** This node leads and has applied its term-start entry, so it may propose (term-start rule). */
  readyToLead(): boolean;
  /**
   * Appends entry data to the local log and resolves with its index; rejects
   * (ErrNotLeader, ErrProposalDropped, …) when it was not appended.
   */
  propose(data: Uint8Array): Promise<bigint>;
  /** An index a read must wait for: confirmed by a quorum round or a valid lease. */
  readIndex(): Promise<bigint>;
  /**
   * Checked right after the applied state was read for a read timestamp
   * (raft.md P34): a lease that expired in between (a pause) must not serve it.
   */
  readStillValid(): boolean;
}

export interface CoordinatorOptions {
  node: ConsensusNode;
  mvcc: Mvcc;
  hlc: HybridLogicalClock;
  /** Commit timestamp of the newest applied request (Fsm.lastCommitTs). */
  lastCommitTs: () => bigint;
  /** The durable applied index at start. */
  appliedIndex: bigint;
  /** Wall clock for TTL decisions of commands (ms). */
  nowMs: () => number;
  /** Unique 64-bit ids for proposals and requests (random; injected). */
  newId: () => bigint;
  /** The raft-envelope wrap of a body before proposing (identity until the raft cutover). */
  wrap?: (body: Uint8Array) => Uint8Array;
  /** Conflict retries before giving up. */
  maxRetries?: number;
  /** A proposal not applied within this long has an unknown outcome. */
  proposalTimeoutMs?: number;
  /** Most requests batched into one entry. */
  maxBatch?: number;
  timers?: { set(fn: () => void, ms: number): unknown; clear(h: unknown): void };
  /** Where reads that span event-loop turns pin their timestamp against GC. */
  pins?: ReadPins;
}

export type TransactResult<T> = { ok: true; value: T } | { ok: false; watchFailed: true };

export interface WatchSpec {
  keys: Uint8Array[];
  sinceTs: bigint;
}

interface Waiter {
  resolve(r: RequestResult): void;
  reject(e: unknown): void;
}

/** One attempt of a request in the proposal queue. */
interface Queued {
  req: Request;
  waiter: Waiter;
  /** Set when the attempt is proposed: the index it was appended at, or undefined if it was not. */
  appendedAt?: Promise<bigint | undefined>;
}

/**
 * The clock difference between nodes a follower read tolerates: a key whose
 * expiry lies within this much of the follower's now is read at the leader.
 */
export const FOLLOWER_READ_SKEW_MS = 500;

/**
 * The leader-side write and read path of one node (architecture.md §2). A
 * transaction body runs against a snapshot at the newest applied commit
 * timestamp; its writes become one request stamped by the HLC, batched with
 * concurrent requests into one Raft entry, and validated at apply (one-phase
 * OCC). A conflict re-runs the body; a result lost with a leader change is
 * re-submitted with the same request id, which the FSM deduplicates.
 */
export class Coordinator {
  private readonly o: Required<Omit<CoordinatorOptions, 'wrap' | 'pins'>> &
    Pick<CoordinatorOptions, 'wrap' | 'pins'>;
  private applied: bigint;
  private appliedWaiters: { index: bigint; resolve: () => void }[] = [];
  private readonly waiting = new Map<bigint, Waiter>();
  private queue: Queued[] = [];
  private flushScheduled = false;
  private leaseWaiters: (() => void)[] = [];
  private readonly inflight = new InflightWrites();
  private nextRound: Promise<bigint> | undefined;

  constructor(opts: CoordinatorOptions) {
    this.o = {
      maxRetries: 32,
      proposalTimeoutMs: 5000,
      maxBatch: 1024,
      timers: { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as NodeJS.Timeout) },
      ...opts,
    };
    this.applied = opts.appliedIndex;
  }

  /** Feed every FSM apply report here (the node's apply hook). */
  onApplied(report: ApplyReport): void {
    for (const r of report.results) {
      if (r.kind === 'requests') for (const res of r.results) this.settle(res);
      if (r.kind === 'lease') {
        const ws = this.leaseWaiters;
        this.leaseWaiters = [];
        for (const w of ws) w();
      }
    }
    if (report.appliedIndex > this.applied) this.applied = report.appliedIndex;
    const ready = this.appliedWaiters.filter((w) => w.index <= this.applied);
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > this.applied);
    for (const w of ready) w.resolve();
  }

  /** Leadership moved away: every waiting request has an unknown outcome now. */
  onLeadershipLost(): void {
    this.o.hlc.stepDown();
    const e = sealError(Err.NotLeader, 'leadership changed while the request was in flight');
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(e);
    }
  }

  /** This node's term-start entry applied: it may issue timestamps (after a lease) and propose. */
  onLeaderReady(): void {
    this.o.hlc.becomeLeader();
    this.renewLease();
  }

  /** A linearizable read point: waits for the read index to apply, returns the newest applied commit ts. */
  async readTimestamp(): Promise<bigint> {
    this.requireLeader();
    const index = await this.sharedReadIndex();
    await this.waitApplied(index);
    return this.o.lastCommitTs();
  }

  /**
   * A read-only body served by this node while it follows, linearizable
   * without the leader running it: the leader confirms a read index (from its
   * lease, or with a quorum round), this node applies up to it, and the body
   * reads at the newest commit timestamp applied here, which every write
   * acknowledged before the read began is at or below (raft.md I15).
   *
   * Expiry is judged by this node's clock, which may differ from the leader's
   * by up to `skewMs`: an answer that could change inside that window returns
   * undefined, and the caller asks the leader instead.
   */
  async followerRead<T>(body: (tx: KvTx) => T, skewMs = FOLLOWER_READ_SKEW_MS): Promise<T | undefined> {
    // A leader reads through transact(), whose lease reads re-check the lease
    // after reading (P34); this path has no such re-check.
    if (this.o.node.readyToLead()) return undefined;
    const index = await this.sharedReadIndex();
    await this.waitApplied(index);
    const nowMs = this.o.nowMs();
    const view = new SkewGuardedView(
      new Overlay(this.o.mvcc, this.o.lastCommitTs(), nowMs - skewMs),
      BigInt(nowMs + skewMs),
    );
    const value = body(view);
    if (view.hasWrites) throw sealError(Err.Internal, 'a body that writes was run as a follower read');
    return view.uncertain ? undefined : value;
  }

  /**
   * Concurrent readers share one read-index round. A round starts only after
   * every caller that joined it has arrived, so its index is fresh for all of
   * them (raft.md P33); callers that arrive once it started wait for the next.
   */
  private sharedReadIndex(): Promise<bigint> {
    if (this.nextRound !== undefined) return this.nextRound;
    const round = new Promise<bigint>((resolve, reject) => {
      setImmediate(() => {
        this.nextRound = undefined;
        this.o.node.readIndex().then(resolve, reject);
      });
    });
    this.nextRound = round;
    return round;
  }

  /**
   * Counts the live keys at one confirmed read timestamp, in slices with an
   * event-loop turn between them. A transaction body is synchronous, and a
   * count over a million keys in one body held the node past its election
   * timeout. The timestamp is pinned while the walk runs, so GC keeps every
   * version visible at it.
   */
  async countKeys(sliceKeys = 4096): Promise<number> {
    const ts = await this.confirmedReadTimestamp();
    const release = this.o.pins?.pin(ts);
    try {
      const nowMs = BigInt(this.o.nowMs());
      let count = 0;
      let after: Uint8Array | undefined;
      for (;;) {
        const page = this.o.mvcc.scan({
          ts,
          nowMs,
          limit: sliceKeys,
          ...(after === undefined ? {} : { start: successor(after) }),
        });
        count += page.length;
        if (page.length < sliceKeys) return count;
        after = page[page.length - 1]!.key;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      release?.();
    }
  }

  /** A read timestamp taken while leadership (lease or quorum) held (raft.md P34). */
  private async confirmedReadTimestamp(): Promise<bigint> {
    const deadline = this.o.nowMs() + this.o.proposalTimeoutMs;
    for (;;) {
      const ts = await this.readTimestamp();
      if (this.o.node.readStillValid()) return ts;
      if (this.o.nowMs() > deadline) {
        throw sealError(Err.NotLeader, 'leadership could not be confirmed for this read; retry');
      }
    }
  }

  async transact<T>(body: (tx: KvTx) => T, watches: WatchSpec[] = []): Promise<TransactResult<T>> {
    let conflicts = 0;
    let confirmedTs: bigint | undefined;
    const deadline = this.o.nowMs() + this.o.proposalTimeoutMs;
    for (;;) {
      this.requireLeader();
      // Writes run on the local snapshot: OCC at apply rejects a stale read, so
      // they need no read-index round. Read-only bodies are confirmed below.
      const readTs = confirmedTs ?? this.o.lastCommitTs();
      const overlay = new Overlay(this.o.mvcc, readTs, this.o.nowMs());
      if (watches.some((w) => this.changedSince(w))) return { ok: false, watchFailed: true };
      const value = body(overlay);
      if (!overlay.hasWrites) {
        // A body that ran at a confirmed timestamp read a pinned MVCC snapshot
        // of the state that was current when that timestamp was taken: it
        // stays a valid answer however long the body ran (DBSIZE over a large
        // store takes longer than a lease).
        if (confirmedTs !== undefined) return { ok: true, value };
        const ts = await this.confirmedReadTimestamp();
        if (ts === readTs) return { ok: true, value };
        confirmedTs = ts;
        continue;
      }
      const reads = overlay.readSet();
      for (const w of watches) reads.push(...w.keys);
      // A read of a key that an in-flight request of this leader writes would
      // only conflict at apply: wait for that request, then run the body again.
      const blockers = this.inflight.blockers(reads);
      if (blockers.length > 0) {
        if (this.o.nowMs() > deadline) {
          throw sealError(Err.ProposalFailed, 'timed out waiting for in-flight writes to the same keys');
        }
        await Promise.all(blockers);
        confirmedTs = undefined;
        continue;
      }
      const ops = overlay.ops();
      const done = this.inflight.register(ops);
      try {
        const req: Request = {
          requestId: this.o.newId(),
          commitTs: await this.issueTimestamp(),
          readTs,
          reads,
          ops,
        };
        const res = await this.submit(req);
        if (res.status === 'ok' || (res.status === 'duplicate' && res.original === 'ok'))
          return { ok: true, value };
      } finally {
        done();
      }
      if (watches.length > 0) return { ok: false, watchFailed: true };
      if (++conflicts > this.o.maxRetries) {
        throw sealError(
          Err.ProposalFailed,
          `transaction still conflicted after ${this.o.maxRetries} retries`,
        );
      }
      confirmedTs = undefined;
    }
  }

  private changedSince(w: WatchSpec): boolean {
    for (const k of w.keys) {
      const v = this.o.mvcc.newestCommitTs(k);
      if (v !== undefined && v > w.sinceTs) return true;
    }
    return false;
  }

  private requireLeader(): void {
    if (!this.o.node.readyToLead())
      throw sealError(
        Err.NotLeader,
        'this node is not the leader (or has not applied its term-start entry yet)',
      );
  }

  private async issueTimestamp(): Promise<bigint> {
    for (;;) {
      this.renewLease();
      try {
        return this.o.hlc.issue();
      } catch (e) {
        if (!isSealError(e, Err.HlcLeaseExhausted)) throw e;
        await new Promise<void>((resolve) => this.leaseWaiters.push(resolve));
      }
    }
  }

  private renewLease(): void {
    const ceiling = this.o.hlc.needsLeaseRenewal(this.o.nowMs());
    if (ceiling === undefined) return;
    const data = encodeProposal(this.o.newId(), this.wrapped(encodeHlcLease(ceiling)));
    this.o.node.propose(data).catch(() => {
      // The next issue() retries the renewal once needsLeaseRenewal allows it.
    });
  }

  private wrapped(body: Uint8Array): Uint8Array {
    return this.o.wrap === undefined ? body : this.o.wrap(body);
  }

  /**
   * Submits one request (batched with concurrent ones). On an unknown outcome
   * it re-submits the same request id naming the indexes its earlier attempts
   * were appended at, where the FSM looks for them (Request.priorAt).
   */
  private async submit(req: Request): Promise<RequestResult> {
    const priorAt: bigint[] = [];
    for (let tries = 0; ; tries++) {
      const attempt = priorAt.length === 0 ? req : { ...req, priorAt: [...priorAt] };
      let item: Queued | undefined;
      try {
        return await new Promise<RequestResult>((resolve, reject) => {
          item = { req: attempt, waiter: { resolve, reject } };
          this.queue.push(item);
          this.scheduleFlush();
        });
      } catch (e) {
        const unknown = e instanceof SealError && (e.code === Err.NotLeader || e.code === Err.ProposalFailed);
        if (!unknown || tries >= 3 || !this.o.node.readyToLead()) throw e;
        const at = await item?.appendedAt;
        if (at !== undefined) priorAt.push(at);
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      while (this.queue.length > 0) this.flushBatch(this.queue.splice(0, this.o.maxBatch));
    });
  }

  private flushBatch(batch: Queued[]): void {
    const data = encodeProposal(this.o.newId(), this.wrapped(encodeRequests(batch.map((b) => b.req))));
    let appended!: (at: bigint | undefined) => void;
    const appendedAt = new Promise<bigint | undefined>((resolve) => (appended = resolve));
    for (const b of batch) {
      b.appendedAt = appendedAt;
      this.track(b.req.requestId, b.waiter);
    }
    this.o.node.propose(data).then(appended, (e: unknown) => {
      appended(undefined);
      for (const b of batch) this.fail(b.req.requestId, e);
    });
  }

  private track(requestId: bigint, w: Waiter): void {
    const timer = this.o.timers.set(
      () =>
        this.fail(
          requestId,
          sealError(Err.ProposalFailed, 'the proposal was not applied in time; outcome unknown'),
        ),
      this.o.proposalTimeoutMs,
    );
    this.waiting.set(requestId, {
      resolve: (r) => {
        this.o.timers.clear(timer);
        w.resolve(r);
      },
      reject: (e) => {
        this.o.timers.clear(timer);
        w.reject(e);
      },
    });
  }

  private settle(r: RequestResult): void {
    const w = this.waiting.get(r.requestId);
    if (w === undefined) return;
    this.waiting.delete(r.requestId);
    w.resolve(r);
  }

  private fail(requestId: bigint, e: unknown): void {
    const w = this.waiting.get(requestId);
    if (w === undefined) return;
    this.waiting.delete(requestId);
    w.reject(e);
  }

  waitApplied(index: bigint): Promise<void> {
    if (index <= this.applied) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }
}

/**
 * Keys written by requests this leader submitted and has not seen applied.
 * Transactions that read them wait instead of proposing a sure conflict, so a
 * hot key is updated once per apply rather than livelocking its writers.
 */
class InflightWrites {
  private readonly byKey = new Map<string, Promise<void>>();
  private flushing: Promise<void> | undefined;

  blockers(reads: Uint8Array[]): Promise<void>[] {
    const out: Promise<void>[] = [];
    if (this.flushing !== undefined) out.push(this.flushing);
    for (const k of reads) {
      const p = this.byKey.get(Buffer.from(k).toString('latin1'));
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  /** Marks the write set in flight; the returned function releases it. */
  register(ops: WriteOp[]): () => void {
    let release!: () => void;
    const p = new Promise<void>((resolve) => (release = resolve));
    const keys: string[] = [];
    for (const op of ops) {
      if (op.kind === 'flush') this.flushing = p;
      else {
        const k = Buffer.from(op.key).toString('latin1');
        keys.push(k);
        this.byKey.set(k, p);
      }
    }
    return () => {
      for (const k of keys) if (this.byKey.get(k) === p) this.byKey.delete(k);
      if (this.flushing === p) this.flushing = undefined;
      release();
    };
  }
}
