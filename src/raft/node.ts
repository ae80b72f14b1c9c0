/**
 * RaftNode: runs the pure core against the WAL, the peer transport and a monotonic clock.
 * This module owns the public API and the node's lifecycle; the work is done by its parts
 * under ./node/ (startup in recovery.ts, the D1 loop in ready-loop.ts, applying in
 * applier.ts, local snapshots in local-snapshots.ts, peer snapshots in
 * snapshot-transfer.ts, ReadIndex in reads.ts).
 *
 * Failure policy: any WAL error is fatal (P43, never retry an fsync); the node stops and
 * reports it through `done`. A halt from the state machine stops the node without
 * advancing (P45, I19); a restart replays the halted entry.
 */
import { Err } from '../util/codes.ts';
import { isSealError, sealError } from '../util/errors.ts';
import { decodeMessage } from './codec.ts';
import type { RaftCore, Status } from './core/core.ts';
import type { Message } from './core/messages.ts';
import type { ConfChange, Entry, NodeId } from './core/types.ts';
import type { LogStore } from './log-store.ts';
import { Applier } from './node/applier.ts';
import { guarded, type NodeHost } from './node/host.ts';
import { LeaderWatch } from './node/leader.ts';
import { LocalSnapshots } from './node/local-snapshots.ts';
import { MembershipHistory } from './node/membership.ts';
import { type ResolvedOptions, resolveOptions } from './node/options.ts';
import { PendingReads } from './node/reads.ts';
import { ReadyLoop } from './node/ready-loop.ts';
import { type Recovered, recover } from './node/recovery.ts';
import { imageChunks } from './node/snapshot-io.ts';
import { SnapshotTransfer } from './node/snapshot-transfer.ts';
import { TrackingDisk } from './node/tracking-disk.ts';
import type { HaltInfo, NodeLogger, RaftNodeOptions, StopReason, TickSource } from './node/types.ts';
import type { Wal } from './wal/wal.ts';

export type * from './node/types.ts';

type State = 'running' | 'stopping' | 'stopped' | 'aborted' | 'halted' | 'failed';

const defaultTicker: TickSource = (fn, ms) => {
  const h = setInterval(fn, ms);
  return () => clearInterval(h);
};

export class RaftNode {
  readonly id: NodeId;
  private readonly o: RaftNodeOptions;
  private readonly r: ResolvedOptions;
  private readonly log: NodeLogger;
  private state: State = 'running';
  private readonly core: RaftCore;
  private readonly store: LogStore;
  private readonly wal: Wal;
  private readonly host: NodeHost;
  private readonly reads: PendingReads;
  private readonly leader: LeaderWatch;
  private readonly applier: Applier;
  private readonly snapshots: LocalSnapshots;
  private readonly transfer: SnapshotTransfer;
  private readonly loop: ReadyLoop;
  private stopTicker: () => void = () => {};
  private loopDone: Promise<void> = Promise.resolve();
  private finish!: (r: StopReason) => void;
  private ended = false;
  /** Settles once the node stopped, with why. */
  readonly done: Promise<StopReason>;

  private constructor(
    o: RaftNodeOptions,
    r: ResolvedOptions,
    private readonly disk: TrackingDisk,
    { wal, store, core, applied }: Recovered,
  ) {
    this.o = o;
    this.r = r;
    this.id = o.id;
    this.wal = wal;
    this.store = store;
    this.core = core;
    const log = o.logger ?? (() => {});
    this.log = log;
    this.host = {
      id: o.id,
      log,
      running: () => this.state === 'running',
      wake: () => this.loop.wake(),
      fail: (e) => this.fail(e),
      halt: (h) => this.halt(h),
      stoppedError: () => this.stoppedError(),
    };
    this.reads = new PendingReads(r.readTimeoutTicks);
    this.leader = new LeaderWatch(this.host, this.reads);
    const snap = store.snapshot().meta;
    const membership = new MembershipHistory(snap.index, snap.conf);
    this.applier = new Applier(
      this.host,
      o,
      core,
      membership,
      (s) => imageChunks(disk, wal, s, r.snapshotChunkBytes),
      applied,
    );
    this.snapshots = new LocalSnapshots(
      this.host,
      o.fsm,
      store,
      wal,
      membership,
      r,
      () => this.applier.index,
    );
    this.transfer = new SnapshotTransfer(this.host, core, o.transport, disk, wal, o.dir, r);
    this.loop = new ReadyLoop(this.host, {
      core,
      wal,
      store,
      membership,
      transport: o.transport,
      transfer: this.transfer,
      leader: this.leader,
      reads: this.reads,
      applier: this.applier,
      snapshots: this.snapshots,
      maxMsgBytes: r.maxMsgBytes,
    });
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  /**
   * Opens the WAL, rebuilds the log, brings the state machine up to the WAL's snapshot if it
   * is behind it, and starts ticking. Committed entries above the state machine's applied
   * index are replayed through `fsm.apply` by the first Readies.
   */
  static async start(o: RaftNodeOptions): Promise<RaftNode> {
    const disk = new TrackingDisk(o.disk);
    try {
      const r = resolveOptions(o);
      const node = new RaftNode(o, r, disk, await recover(o, r, disk, o.logger ?? (() => {})));
      node.applier.replayConfChanges(node.store);
      node.begin();
      return node;
    } catch (e) {
      await disk.releaseAll();
      throw e;
    }
  }

  private begin(): void {
    const t = this.o.transport;
    t.onMessage((from, payload) => this.receive(from, payload));
    t.onUnreachable((peer) => {
      if (this.state !== 'running') return;
      this.core.reportUnreachable(peer);
      this.wake();
    });
    t.onSnapshot((from, meta, chunks) => this.transfer.receive(from, meta, chunks));
    this.stopTicker = (this.o.ticker ?? defaultTicker)(() => this.tick(), this.r.tickMs);
    this.loopDone = this.loop.run().catch((e: unknown) => this.fail(e));
  }

  // ---- public API -------------------------------------------------------------------

  get appliedIndex(): number {
    return this.applier.index;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Appends a normal entry (leader only); resolves with where it went. Wait for apply through the FSM. */
  propose(data: Uint8Array): Promise<{ index: number; term: number }> {
    return this.call(() => ({ index: this.core.propose(data), term: this.core.raft.term }));
  }

  proposeConfChange(cc: ConfChange): Promise<{ index: number; term: number }> {
    return this.call(() => ({ index: this.core.proposeConfChange(cc), term: this.core.raft.term }));
  }

  /** Resolves with a read index once a quorum confirmed leadership; serve the read once applied ≥ it. */
  readIndex(): Promise<number> {
    if (this.state !== 'running') return Promise.reject(this.stoppedError());
    const { context, promise, cancel } = this.reads.add();
    try {
      this.core.readIndex(context);
    } catch (e) {
      cancel(e);
      return promise;
    }
    this.wake();
    return promise;
  }

  /** Lease read (leader with check-quorum and lease reads on): the index to read at, or a typed error. */
  leaseRead(): number {
    this.ensureRunning();
    return this.core.leaseRead();
  }

  /** Re-check after reading the state machine (P34). */
  leaseValid(): boolean {
    return this.state === 'running' && this.core.leaseValid();
  }

  transferLeadership(to: NodeId): void {
    this.ensureRunning();
    this.core.transferLeadership(to);
    this.wake();
  }

  /** Starts an election now (tests, or a single node that should not wait for its timeout). */
  campaign(): void {
    this.ensureRunning();
    this.core.campaign();
    this.wake();
  }

  status(): Status {
    return this.core.status();
  }

  onLeaderChange(cb: (lead: NodeId, term: number) => void): void {
    this.leader.onChange(cb);
  }

  /** Held log entries in [lo, hi), e.g. for startup scans; lo must be ≥ the first held index. */
  entries(lo: number, hi: number): Entry[] {
    return this.store.entries(lo, Math.min(hi, this.store.lastIndex() + 1), Number.POSITIVE_INFINITY);
  }

  /** What the in-memory log holds (bounded by snapshotEvery + snapshotRetain once snapshots run). */
  logStats(): { entries: number; bytes: number; snapshotIndex: number; snapshotBytesInMemory: number } {
    const snap = this.store.snapshot();
    return { ...this.store.size, snapshotIndex: snap.meta.index, snapshotBytesInMemory: snap.data.length };
  }

  get firstIndex(): number {
    return this.store.firstIndex();
  }

  /** Resolves once the applied index reaches `index` (rejects if the node stops first). */
  waitApplied(index: number): Promise<void> {
    if (this.applier.index >= index) return Promise.resolve();
    if (this.state !== 'running') return Promise.reject(this.stoppedError());
    return this.applier.wait(index);
  }

  /** Clean stop: stop ticking, finish the Ready in progress, close the WAL and the transport. */
  async stop(): Promise<StopReason> {
    if (this.state !== 'running') return this.done;
    this.state = 'stopping';
    this.stopTicker();
    this.wake();
    await this.loopDone;
    await this.snapshots.settled;
    await this.o.transport.close();
    await this.transfer.settled;
    try {
      await this.wal.close();
    } catch (e) {
      this.log('error', 'WAL close failed', { error: String(e) });
    }
    this.end('stopped', { kind: 'stopped' });
    return this.done;
  }

  /**
   * Simulates a crash (tests): stop at once, close the transport, write nothing more.
   * Resolves once the WAL operation in flight (if any) settled, so a restarted node over
   * the same directory never races a write of this one.
   */
  async abort(): Promise<void> {
    if (this.state !== 'running') {
      // Already stopped or failed: only release what a failed node left open.
      await this.loopDone;
      await this.snapshots.settled;
      await this.transfer.settled;
      await this.disk.releaseAll();
      return;
    }
    this.state = 'aborted';
    this.stopTicker();
    this.wake();
    await this.o.transport.close();
    await this.loopDone;
    await this.snapshots.settled;
    await this.transfer.settled;
    await this.disk.releaseAll();
    this.end('aborted', { kind: 'aborted' });
  }

  // ---- inputs -----------------------------------------------------------------------

  private call<T>(fn: () => T): Promise<T> {
    try {
      this.ensureRunning();
      const v = fn();
      this.wake();
      return Promise.resolve(v);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private ensureRunning(): void {
    if (this.state !== 'running') throw this.stoppedError();
  }

  private stoppedError(): Error {
    return sealError(Err.ProposalFailed, `raft node ${this.id} is not running (${this.state})`, {
      state: this.state,
    });
  }

  private tick(): void {
    if (this.state !== 'running') return;
    guarded(this.host, () => this.core.tick());
    this.reads.tick();
    this.wake();
  }

  private receive(from: string, payload: Uint8Array): void {
    if (this.state !== 'running') return;
    let m: Message;
    try {
      m = decodeMessage(payload);
    } catch (e) {
      this.log('warn', 'dropped a malformed raft message', { from, error: String(e) });
      return;
    }
    if (m.from !== from || m.to !== this.id) {
      this.log('warn', 'dropped a raft message with foreign addressing', { from, msgFrom: m.from, to: m.to });
      return;
    }
    guarded(this.host, () => this.core.step(m));
    this.wake();
  }

  private wake(): void {
    this.loop.wake();
  }

  // ---- stopping ---------------------------------------------------------------------

  private fail(e: unknown): void {
    if (this.state !== 'running' && this.state !== 'stopping') return;
    const code = isSealError(e) ? e.code : undefined;
    this.log('error', 'raft node failed; exit and recover from disk', { error: String(e), code });
    this.state = 'failed';
    this.stopTicker();
    this.wake();
    void this.o.transport.close().then(
      () => this.end('failed', { kind: 'fatal', error: e }),
      () => this.end('failed', { kind: 'fatal', error: e }),
    );
  }

  private halt(halt: HaltInfo): void {
    this.state = 'halted';
    this.stopTicker();
    void this.shutdown().then(() => this.end('halted', { kind: 'halt', halt }));
  }

  private async shutdown(): Promise<void> {
    await this.o.transport.close();
    try {
      await this.wal.close();
    } catch (e) {
      this.log('error', 'WAL close failed', { error: String(e) });
    }
  }

  private end(state: State, reason: StopReason): void {
    if (this.ended) return;
    this.ended = true;
    this.state = state;
    const err = this.stoppedError();
    this.reads.rejectAll(err);
    this.applier.rejectAll(err);
    this.finish(reason);
  }
}
