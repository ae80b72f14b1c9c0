/**
 * RaftNode: runs the pure core against the WAL, the peer transport and a monotonic clock.
 *
 * One loop, one Ready at a time (raft.md D1): persist (one WAL save, one fsync when the
 * Ready must sync) → send (only once that fsync resolved: I12) → apply the snapshot and the
 * committed entries → advance. Proposals, messages and ticks arriving while the loop waits
 * step straight into the core and come out together in the next Ready, which is what
 * batches concurrent proposals into one fsync (P24).
 *
 * Failure policy: any WAL error is fatal (P43, never retry an fsync); the node stops and
 * reports it through `done`. A halt from the state machine stops the node without
 * advancing (P45, I19); a restart replays the halted entry.
 */
import { Err } from '../util/codes.ts';
import { isSealError, sealError } from '../util/errors.ts';
import { decodeMessage, encodeMessage } from './codec.ts';
import { decodeConfChange } from './core/confchange.ts';
import { RaftCore, type Status } from './core/core.ts';
import type { Message } from './core/messages.ts';
import type { Ready } from './core/ready.ts';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type NodeId,
  type Snapshot,
} from './core/types.ts';
import { joinPath } from './disk/disk.ts';
import { LogStore } from './log-store.ts';
import { coalesceAppends } from './node/coalesce.ts';
import { PendingReads } from './node/reads.ts';
import { chunksOf, collect } from './node/snapshot-io.ts';
import { TrackingDisk } from './node/tracking-disk.ts';
import type { HaltInfo, NodeLogger, RaftNodeOptions, StopReason, TickSource } from './node/types.ts';
import { DEFAULT_MAX_FRAME_BYTES } from './transport/frame.ts';
import { decodeSnapshotFile, snapFileName } from './wal/snapfile.ts';
import { Wal } from './wal/wal.ts';

export type * from './node/types.ts';

type State = 'running' | 'stopping' | 'stopped' | 'aborted' | 'halted' | 'failed';

const EMPTY = new Uint8Array(0);

function metaOnly(s: Snapshot): Snapshot {
  return { meta: s.meta, data: EMPTY };
}

const defaultTicker: TickSource = (fn, ms) => {
  const h = setInterval(fn, ms);
  return () => clearInterval(h);
};

interface Resolved {
  tickMs: number;
  snapshotEvery: number;
  snapshotBytes: number;
  snapshotRetain: number;
  snapshotChunkBytes: number;
  maxSnapshotBytes: number;
  maxMsgBytes: number;
}

export class RaftNode {
  readonly id: NodeId;
  private readonly o: RaftNodeOptions;
  private readonly r: Resolved;
  private readonly log: NodeLogger;
  private state: State = 'running';
  private readonly core: RaftCore;
  private readonly store: LogStore;
  private readonly wal: Wal;
  private applied: number;
  private lead: NodeId = '';
  private term = 0;
  private readonly leaderCbs: ((lead: NodeId, term: number) => void)[] = [];
  private readonly reads: PendingReads;
  private readonly appliedWaiters = new Map<
    number,
    { resolve: () => void; reject: (e: unknown) => void }[]
  >();
  /** Membership as of each applied conf change since the snapshot, oldest first. */
  private confHistory: { index: number; conf: ConfState }[];
  private readonly snapSending = new Set<NodeId>();
  private snapJob = false;
  private snapJobDone: Promise<void> = Promise.resolve();
  /** A local snapshot whose file is durable, waiting for its WAL marker (written by the loop). */
  private readySnapshot: Snapshot | undefined;
  private stopTicker: () => void = () => {};
  private wakeLoop: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private finish!: (r: StopReason) => void;
  private ended = false;
  /** Settles once the node stopped, with why. */
  readonly done: Promise<StopReason>;

  private constructor(
    o: RaftNodeOptions,
    private readonly disk: TrackingDisk,
    wal: Wal,
    store: LogStore,
    core: RaftCore,
    applied: number,
  ) {
    this.o = o;
    this.id = o.id;
    this.wal = wal;
    this.store = store;
    this.core = core;
    this.applied = applied;
    this.log = o.logger ?? (() => {});
    this.r = {
      tickMs: o.tickMs ?? 100,
      snapshotEvery: o.snapshotEvery ?? 10_000,
      snapshotBytes: o.snapshotBytes ?? 64 * 1024 * 1024,
      snapshotRetain: o.snapshotRetain ?? 1_000,
      snapshotChunkBytes: o.snapshotChunkBytes ?? 256 * 1024,
      maxSnapshotBytes: o.maxSnapshotBytes ?? 1024 * 1024 * 1024,
      maxMsgBytes: o.raft?.maxMsgBytes ?? 1024 * 1024,
    };
    const election = o.raft?.electionTicks ?? 10;
    this.reads = new PendingReads(o.readTimeoutTicks ?? 3 * election);
    const snap = store.snapshot().meta;
    this.confHistory = [{ index: snap.index, conf: snap.conf }];
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
      return await RaftNode.open(o, disk);
    } catch (e) {
      await disk.releaseAll();
      throw e;
    }
  }

  private static async open(o: RaftNodeOptions, disk: TrackingDisk): Promise<RaftNode> {
    const { wal, state } = await Wal.open(disk, {
      dir: o.dir,
      segmentBytes: o.segmentBytes,
      hook: o.walHook,
    });
    const log = o.logger ?? (() => {});
    if (state.repaired !== undefined)
      log('warn', 'dropped a torn WAL tail at startup', { ...state.repaired });
    const store = new LogStore({
      hardState: state.hardState,
      bootstrap: { voters: [...o.voters], learners: [] },
      // The image itself stays on disk; it is read back only to send it (bounded memory).
      snapshot: state.snapshot === undefined ? undefined : metaOnly(state.snapshot),
      entries: state.entries,
    });
    let applied = await o.fsm.appliedIndex();
    const snap = state.snapshot;
    if (snap !== undefined && applied < snap.meta.index) {
      // The WAL marker of an installed snapshot is written before the state machine
      // restores it; a crash in between lands here.
      if (o.fsm.restore === undefined) {
        throw sealError(
          Err.InvalidArgument,
          'the WAL holds a snapshot but the state machine cannot restore one',
          {},
        );
      }
      await o.fsm.restore(snap.meta, chunksOf(snap.data, o.snapshotChunkBytes ?? 256 * 1024));
      applied = snap.meta.index;
    }
    const clock = o.clock ?? (() => performance.now());
    const core = new RaftCore({
      ...o.raft,
      id: o.id,
      storage: store,
      rand: o.rand ?? Math.random,
      now: clock,
      applied,
      tickMs: o.tickMs ?? 100,
      // P18: a proposal must fit in one transport frame with its message around it.
      maxProposalBytes: o.raft?.maxProposalBytes ?? DEFAULT_MAX_FRAME_BYTES - 64 * 1024,
      logger: (line) => log('info', line),
    });
    const node = new RaftNode(o, disk, wal, store, core, applied);
    node.replayConfChanges(store.firstIndex(), applied);
    node.begin();
    return node;
  }

  /** Pitfall 31: config = snapshot config + conf entries applied after it. */
  private replayConfChanges(from: number, applied: number): void {
    if (applied < from) return;
    for (const e of this.store.entries(from, applied + 1, Number.POSITIVE_INFINITY)) {
      if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
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
    t.onSnapshot((from, meta, chunks) => this.receiveSnapshot(from, meta, chunks));
    this.stopTicker = (this.o.ticker ?? defaultTicker)(() => this.tick(), this.r.tickMs);
    this.loopDone = this.loop().catch((e: unknown) => this.fail(e));
  }

  // ---- public API -------------------------------------------------------------------

  get appliedIndex(): number {
    return this.applied;
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
    this.leaderCbs.push(cb);
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
    if (this.applied >= index) return Promise.resolve();
    if (this.state !== 'running') return Promise.reject(this.stoppedError());
    return new Promise((resolve, reject) => {
      const list = this.appliedWaiters.get(index) ?? [];
      list.push({ resolve, reject });
      this.appliedWaiters.set(index, list);
    });
  }

  /** Clean stop: stop ticking, finish the Ready in progress, close the WAL and the transport. */
  async stop(): Promise<StopReason> {
    if (this.state !== 'running') return this.done;
    this.state = 'stopping';
    this.stopTicker();
    this.wake();
    await this.loopDone;
    await this.snapJobDone;
    await this.o.transport.close();
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
      await this.snapJobDone;
      await this.disk.releaseAll();
      return;
    }
    this.state = 'aborted';
    this.stopTicker();
    this.wake();
    await this.o.transport.close();
    await this.loopDone;
    await this.snapJobDone;
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
    this.guard(() => this.core.tick());
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
    this.guard(() => this.core.step(m));
    this.wake();
  }

  private async receiveSnapshot(
    from: string,
    meta: Uint8Array,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (this.state !== 'running') throw this.stoppedError();
    const m = decodeMessage(meta);
    if (m.type !== 'Snap' || m.snapshot === undefined || m.from !== from || m.to !== this.id) {
      throw sealError(Err.RaftMessageMalformed, 'snapshot stream does not start with a snapshot message', {
        from,
      });
    }
    const data = await collect(chunks, this.r.maxSnapshotBytes);
    if (this.state !== 'running') throw this.stoppedError();
    this.log('info', 'received snapshot', { from, index: m.snapshot.meta.index, bytes: data.length });
    const msg: Message = { ...m, snapshot: { meta: m.snapshot.meta, data } };
    this.guard(() => this.core.step(msg));
    this.wake();
  }

  /** A throw from the core is a broken invariant: stop rather than run on a partial state. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fail(e);
    }
  }

  private wake(): void {
    const w = this.wakeLoop;
    if (w === undefined) return;
    this.wakeLoop = undefined;
    w();
  }

  // ---- the loop (D1) ------------------------------------------------------------------

  private async loop(): Promise<void> {
    while (this.state === 'running') {
      if (this.readySnapshot !== undefined) {
        await this.commitLocalSnapshot(this.readySnapshot);
        continue;
      }
      if (!this.core.hasReady()) {
        await new Promise<void>((resolve) => {
          this.wakeLoop = resolve;
        });
        continue;
      }
      const rd = this.core.ready();
      await this.persist(rd);
      if (this.state !== 'running') return;
      this.send(rd.messages);
      this.noteLeader(rd);
      for (const rs of rd.readStates) this.reads.resolve(rs.context, rs.index);
      if (!(await this.applyReady(rd))) return;
      this.core.advance(rd);
      this.maybeSnapshot();
    }
  }

  /** Step 1: one WAL save; with `mustSync` it resolves after the fsync. */
  private async persist(rd: Ready): Promise<void> {
    const s = rd.snapshot;
    if (s !== undefined) {
      await this.wal.writeSnapshotFile(s);
      await this.wal.save(rd.hardState, rd.entries, {
        sync: true,
        snapshot: { meta: s.meta, mode: 'install' },
      });
      this.store.installSnapshot(metaOnly(s));
      this.confHistory = [{ index: s.meta.index, conf: s.meta.conf }];
    } else if (rd.entries.length > 0 || rd.hardState !== undefined) {
      await this.wal.save(rd.hardState, rd.entries, { sync: rd.mustSync });
    }
    this.store.append(rd.entries);
    if (rd.hardState !== undefined) this.store.setHardState(rd.hardState);
  }

  /** Step 2. Snapshot messages go out as streams on their own connection (P47). */
  private send(msgs: readonly Message[]): void {
    if (msgs.length === 0) return;
    for (const m of coalesceAppends(msgs, this.r.maxMsgBytes)) {
      if (m.to === this.id) continue;
      if (m.type === 'Snap') this.sendSnapshot(m);
      else this.o.transport.send(m.to, encodeMessage(m));
    }
  }

  private sendSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (snap === undefined || this.snapSending.has(m.to)) return;
    this.snapSending.add(m.to);
    const to = m.to;
    const meta = encodeMessage({ ...m, snapshot: { meta: snap.meta, data: EMPTY } });
    this.readSnapshotData(snap)
      .then((data) => {
        this.log('info', 'sending snapshot', { to, index: snap.meta.index, bytes: data.length });
        return this.o.transport.sendSnapshot(to, meta, chunksOf(data, this.r.snapshotChunkBytes));
      })
      .then(
        () => this.snapshotSent(to, true),
        (e: unknown) => {
          this.log('warn', 'snapshot transfer failed', { to, error: String(e) });
          this.snapshotSent(to, false);
        },
      );
  }

  /** The log store holds snapshot metadata only; the image is read from its durable file. */
  private async readSnapshotData(snap: Snapshot): Promise<Uint8Array> {
    if (snap.data.length > 0 || snap.meta.index === 0) return snap.data;
    const path = joinPath(this.o.dir, snapFileName(snap.meta.index, snap.meta.term));
    // A newer snapshot may have purged this file: the transfer fails and the core retries.
    return decodeSnapshotFile(await this.disk.readFile(path)).data;
  }

  private snapshotSent(to: NodeId, ok: boolean): void {
    this.snapSending.delete(to);
    if (this.state !== 'running') return;
    this.guard(() => this.core.reportSnapshot(to, ok));
    this.wake();
  }

  private noteLeader(rd: Ready): void {
    const term = this.core.raft.term;
    if (rd.lead === this.lead && term === this.term) return;
    const changed = rd.lead !== this.lead;
    this.lead = rd.lead;
    this.term = term;
    if (!changed) return;
    // The core forgets reads pending at the old leader; their callers must retry.
    this.reads.rejectAll(
      sealError(Err.NotLeader, 'leadership changed before the read was confirmed; retry', {}),
    );
    for (const cb of this.leaderCbs) {
      try {
        cb(rd.lead, term);
      } catch (e) {
        this.log('error', 'leader-change callback threw', { error: String(e) });
      }
    }
  }

  /** Step 3. Returns false when the node must stop (halt or failure). */
  private async applyReady(rd: Ready): Promise<boolean> {
    const s = rd.snapshot;
    if (s !== undefined && s.meta.index > this.applied) {
      const restore = this.o.fsm.restore;
      if (restore === undefined)
        throw sealError(Err.InvalidArgument, 'received a snapshot but the FSM cannot restore');
      await restore.call(this.o.fsm, s.meta, chunksOf(s.data, this.r.snapshotChunkBytes));
      this.setApplied(s.meta.index);
    }
    const ents = rd.committedEntries;
    if (ents.length === 0) return this.state === 'running';
    const res = await this.o.fsm.apply(ents);
    const halt = res?.halt;
    if (halt !== undefined) {
      this.onHalt(halt, ents);
      return false;
    }
    if (this.state !== 'running') return false;
    for (const e of ents) if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
    this.setApplied(ents[ents.length - 1]!.index);
    return true;
  }

  private applyConfEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    const conf = this.core.applyConfChange(cc);
    this.confHistory.push({ index: e.index, conf });
    try {
      this.o.onConfChange?.(cc, conf);
    } catch (err) {
      this.log('error', 'conf-change callback threw', { error: String(err) });
    }
  }

  private setApplied(index: number): void {
    if (index <= this.applied) return;
    this.applied = index;
    for (const [i, list] of this.appliedWaiters) {
      if (i > index) continue;
      this.appliedWaiters.delete(i);
      for (const w of list) w.resolve();
    }
  }

  private onHalt(halt: HaltInfo, ents: readonly Entry[]): void {
    // Entries below the halted one were applied; the halted one and the rest were not.
    const first = ents[0]!.index;
    const appliedBefore = Math.max(this.applied, Math.min(halt.index - 1, ents[ents.length - 1]!.index));
    for (const e of ents) if (e.index < halt.index && e.type === EntryType.ConfChange) this.applyConfEntry(e);
    if (halt.index >= first) this.setApplied(appliedBefore);
    this.log('error', 'state machine halted; stopping without advancing', { ...halt });
    this.state = 'halted';
    this.stopTicker();
    void this.shutdown().then(() => this.end('halted', { kind: 'halt', halt }));
  }

  // ---- snapshots ------------------------------------------------------------------

  private maybeSnapshot(): void {
    const fsm = this.o.fsm;
    if (fsm.snapshot === undefined || this.snapJob || this.state !== 'running') return;
    const since = this.applied - this.store.snapshot().meta.index;
    const { bytes } = this.store.size;
    if (since < this.r.snapshotEvery && !(bytes >= this.r.snapshotBytes && since > 0)) return;
    this.snapJob = true;
    this.snapJobDone = this.createSnapshot().catch((e: unknown) => this.fail(e));
  }

  /** Pins and serializes the state, writes its file; the loop then writes the WAL marker. */
  private async createSnapshot(): Promise<void> {
    const provider = this.o.fsm.snapshot;
    if (provider === undefined) return;
    const { index, chunks } = await provider.call(this.o.fsm);
    const data = await collect(chunks, this.r.maxSnapshotBytes);
    const term = this.store.term(index);
    if (this.state !== 'running' || index <= this.store.snapshot().meta.index || term === undefined) {
      this.snapJob = false;
      return;
    }
    const snap: Snapshot = { meta: { index, term, conf: this.confAt(index) }, data };
    await this.wal.writeSnapshotFile(snap);
    this.readySnapshot = snap;
    this.wake();
  }

  private async commitLocalSnapshot(snap: Snapshot): Promise<void> {
    this.readySnapshot = undefined;
    try {
      // A snapshot installed from the leader meanwhile may already cover this one.
      if (snap.meta.index <= this.store.snapshot().meta.index) return;
      await this.wal.save(undefined, [], { sync: true, snapshot: { meta: snap.meta, mode: 'compact' } });
      if (this.state !== 'running') return;
      this.store.setSnapshot(metaOnly(snap));
      this.store.compact(snap.meta.index - this.r.snapshotRetain);
      this.trimConfHistory();
      this.log('info', 'snapshot taken', { index: snap.meta.index, firstIndex: this.store.firstIndex() });
    } finally {
      this.snapJob = false;
    }
  }

  private confAt(index: number): ConfState {
    let conf = this.confHistory[0]!.conf;
    for (const h of this.confHistory) if (h.index <= index) conf = h.conf;
    return conf;
  }

  private trimConfHistory(): void {
    const snapIndex = this.store.snapshot().meta.index;
    const base = { index: snapIndex, conf: this.confAt(snapIndex) };
    this.confHistory = [base, ...this.confHistory.filter((h) => h.index > snapIndex)];
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
    const waiters = [...this.appliedWaiters.values()].flat();
    this.appliedWaiters.clear();
    for (const w of waiters) w.reject(err);
    this.finish(reason);
  }
}
