// One simulated server: the real RaftCore, the real WAL (src/raft/wal) on its own in-memory
// SimDisk, a KvMachine, and an event-driven D1 driver (persist → fsync → send → apply → advance).
//
// How a promise-based WAL stays deterministic here:
// - The WAL and SimDisk only ever wait on SimDisk's gate (SimGateFn) or on microtasks. Every
//   fsync and directory fsync passes the gate; the gate parks the operation and schedules its
//   completion as a queue event ('disk.fsync', after a delay from the node's disk stream), so
//   the time an fsync takes is virtual time and a crash can land while it is in flight.
//   Writes, truncates, renames and unlinks pass at once (no event).
// - The run loop (world.ts) is async: after each queue event it awaits an already-resolved
//   promise until no node is `busy` (WAL work started and not parked at a gate). Microtasks
//   run in FIFO order, so the interleaving is a function of the program and the seed; no host
//   timers are involved. A node has at most one WAL operation in flight (recovery, or the
//   save of the Ready it is waiting on), so "parked at a gate" means "nothing left to run".
// - Every callback carries the process life it belongs to: a crash bumps the life, so a parked
//   fsync of a dead process is never resumed and the WAL it belonged to is simply dropped.
// - Kill points are the WAL's own crash hook: when the fault scheduler armed one, the hook
//   crashes the disk and throws, so the dying WAL gets no further step. A kill during
//   recovery happens at the gate instead (recovery has no hook): its fsync never returns.

import { decodeConfChange } from '../../src/raft/core/confchange.ts';
import { RaftCore } from '../../src/raft/core/core.ts';
import { MemoryStorage } from '../../src/raft/core/memory-storage.ts';
import type { Message } from '../../src/raft/core/messages.ts';
import type { Ready } from '../../src/raft/core/ready.ts';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type Snapshot,
} from '../../src/raft/core/types.ts';
import type { Disk } from '../../src/raft/disk/disk.ts';
import { type CrashOptions, SimDisk, type SimDiskOp } from '../../src/raft/disk/sim-disk.ts';
import { MembershipHistory } from '../../src/raft/node/membership.ts';
import { type RecoveredState, Wal, type WalCrashPoint } from '../../src/raft/wal/wal.ts';
import { isSealError } from '../../src/util/errors.ts';
import type { NodeClock } from '../clock.ts';
import type { KvInput, KvOutput } from '../lincheck/models.ts';
import type { Prng } from '../prng.ts';
import type { Scheduler } from '../queue.ts';
import { confKey, type Ghost } from './ghost.ts';
import { bytesHash, encodeOp, KvMachine, mix } from './kv.ts';
import { LyingDisk } from './lying-disk.ts';
import { LeaderReads } from './reads.ts';
import { diffLogState, SyncedLog } from './synced-log.ts';
import { readWalView, type WalView } from './wal-view.ts';
import type { Wire } from './wire.ts';

/** The WAL's crash points plus the driver's own: mid-send and around applying a batch. */
export type SimKillPoint = WalCrashPoint | 'send.mid' | 'apply.beforeBatch' | 'apply.afterBatch';

export type RaftBug =
  | 'ack-before-persist'
  | 'stale-read'
  | 'lying-fsync'
  | 'snapshot-off-by-one'
  | 'ack-on-append'
  | 'read-before-term-commit'
  | 'clock-beyond-rho'
  | 'multi-reads-at-propose'
  | 'apply-through-halt'
  | 'two-pending-conf'
  | 'learner-campaign';

export interface NodeEnv {
  readonly sched: Scheduler;
  readonly clock: NodeClock;
  readonly send: (from: number, to: number, w: Wire) => void;
  readonly ghost: Ghost;
  /** Election jitter stream (one per node, D4). */
  readonly jitter: Prng;
  /** Disk stream: fsync delays and which unsynced sectors a crash keeps. */
  readonly disk: Prng;
  /** Segment salts of the WAL. */
  readonly salt: Prng;
  readonly maxFsyncMs: number;
  readonly segmentBytes: number;
  /** Take a local snapshot every this many applied entries (0 = never). */
  readonly snapEvery: number;
  /** Entries kept in memory before a local snapshot's index when compacting. */
  readonly snapRetain: number;
  /** Write a local snapshot's file while Readies go on (as the real node does). */
  readonly snapConcurrent: boolean;
  /** Share of reads a leader tries to serve on its lease (0 = lease reads off). */
  readonly leaseShare: number;
  /** Draws which reads try the lease. */
  readonly lease: Prng;
  readonly bug: RaftBug | undefined;
  /** A follower serves reads itself, through a ReadIndex forwarded to its leader. */
  readonly followerReads: boolean;
  readonly log: (node: SimRaftNode, text: string) => void;
  /** An injected disk error for this operation (EIO, ENOSPC), or undefined. */
  readonly diskFault: (node: SimRaftNode, op: SimDiskOp, path: string) => string | undefined;
  /**
   * The process died on its own: `kill` at a kill point, or `exit` on a disk error. The fault
   * scheduler crashes its disk, checks I9 and restarts it later.
   */
  readonly onDeath: (node: SimRaftNode, verb: 'kill' | 'exit' | 'halt', detail: string) => void;
}

export const WAL_DIR = '/wal';
const TICK_MS = 100;
const RESOLVED = Promise.resolve();

export class SimRaftNode {
  /** Survives crashes; a crash keeps what SimDisk's crash model keeps. */
  readonly disk = new SimDisk();
  /** What the WAL is given: the same disk, or one whose fsync lies (a self-test bug). */
  private readonly walDisk: Disk;
  /** The node's own account of its durable state (I3, I11, I12, I20). */
  readonly synced = new SyncedLog();
  core!: RaftCore;
  storage!: MemoryStorage;
  fsm = new KvMachine();
  /** Serving: booted and not crashed. */
  alive = false;
  /** Recovering the WAL after a (re)start. */
  booting = false;
  paused = false;
  private wal: Wal | undefined;
  /** Process life; scheduled callbacks of an earlier life do nothing. */
  private life = 0;
  /** WAL operations this life started and has not seen settle (0 or 1). */
  private ioPending = 0;
  /** Disk operations parked at the gate, waiting for their completion event. */
  private parked = 0;
  /** The kill point the fault scheduler armed, if any. */
  private killAt: SimKillPoint | undefined;
  /** An armed apply halt: the process exits instead of applying this index (P45). */
  private haltAt: number | undefined;
  /** Highest log index whose client write this life acknowledged (I19). */
  private lastAckIndex = 0;
  /** Die at the first fsync of the next recovery (torn-tail repair or segment creation). */
  private killInRecovery = false;
  /** The disk error injected in this life, to tell a WAL failure it caused from a real bug. */
  private injected: string | undefined;
  /** A Ready waiting for its fsync to complete. */
  private inFlight: Ready | undefined;
  private syncDone = false;
  /** A local snapshot's file or WAL marker is being written between two Readies. */
  private snapping = false;
  /** A local snapshot is in progress, from its file to its marker. */
  private snapJob = false;
  /** Its file is durable (written alongside Readies); the marker goes out between two. */
  private snapFileDone: Snapshot | undefined;
  /** Inputs that arrived while paused or waiting for an fsync, in arrival order. */
  private inbox: (() => void)[] = [];
  /** chain[i] = H(chain[i-1], term_i, data_i) over the storage view (I5). */
  private chain: number[] = [0];
  private checkedCommit = 0;
  /** Commit seen at the previous check in this life (I10) and whether we led then (I6). */
  private lastCommit = 0;
  private wasLeader = false;
  /** I4: the last entry of the log at the previous check while leading (the object itself). */
  private leadLast: { term: number; last: Entry } | undefined;
  /** Highest durable term over every life (I3). */
  private durableTermSeen = 0;
  private readonly writers = new Map<string, number>();
  /** Self-test bug only: the reads of a MULTI/EXEC batch as the leader saw them at propose time. */
  private readonly earlyReads = new Map<string, KvOutput[]>();
  private reads!: LeaderReads;
  /** Membership as of the snapshot and each conf entry applied since (P31). */
  private membership = new MembershipHistory(0, { voters: [], learners: [] });
  private readonly totals = {
    recoveries: 0,
    repairs: 0,
    wholeLast: 0,
    batches: 0,
    fsyncs: 0,
    rotations: 0,
    snapTaken: 0,
    snapTakenBg: 0,
    snapSent: 0,
    snapInstalled: 0,
    snapRecovered: 0,
    leaseReads: 0,
    leaseRefused: 0,
    leaseLapsed: 0,
    followerReads: 0,
    confApplied: 0,
    confSnapRecovered: 0,
  };

  constructor(
    readonly id: number,
    private readonly conf: ConfState,
    private readonly env: NodeEnv,
  ) {
    this.disk.gate = (op, path) => this.gate(op, path);
    this.disk.fault = (op, path) => this.fault(op, path);
    this.walDisk = env.bug === 'lying-fsync' ? new LyingDisk(this.disk) : this.disk;
    this.boot();
  }

  get sid(): string {
    return String(this.id);
  }

  /** WAL work is running (not parked at a gate): the run loop must let microtasks drain. */
  get busy(): boolean {
    // Each WAL operation in flight waits at no more than one gate at a time.
    return this.ioPending > this.parked;
  }

  /** A Ready or a local snapshot is being persisted: inputs queue, ticks wait. */
  private get waiting(): boolean {
    return this.inFlight !== undefined || this.snapping;
  }

  /** Crashed and not yet restarted. */
  get down(): boolean {
    return !this.alive && !this.booting;
  }

  // ---- disk hooks ----

  private gate(op: SimDiskOp, path: string): Promise<void> {
    if (op !== 'fsync' && op !== 'syncDir') return RESOLVED;
    if (this.booting && this.killInRecovery) {
      this.killInRecovery = false;
      this.env.onDeath(this, 'kill', `at recovery.beforeSync (${op} of ${path})`);
      // The process is gone: this operation never completes.
      return new Promise(() => {});
    }
    const delay = this.env.maxFsyncMs === 0 ? 0 : this.env.disk.int(0, this.env.maxFsyncMs);
    if (delay === 0) return RESOLVED;
    const life = this.life;
    this.parked++;
    return new Promise((resolve) => {
      this.env.sched.after(delay, 'disk.fsync', () => {
        // A dead process's fsync never returns to it.
        if (life !== this.life) return;
        this.parked--;
        resolve();
      });
    });
  }

  private fault(op: SimDiskOp, path: string): string | undefined {
    const code = this.env.diskFault(this, op, path);
    if (code !== undefined) this.injected = `${code} on ${op} of ${path}`;
    return code;
  }

  private hook(point: WalCrashPoint, life: number): void {
    if (life !== this.life || this.killAt !== point) return;
    this.killAt = undefined;
    this.env.onDeath(this, 'kill', `at ${point}`);
    throw new Error(`killed at ${point}`);
  }

  // ---- process life ----

  /** Start a process: recover the WAL, then rebuild storage, core and FSM from it. */
  private boot(): void {
    this.life++;
    const life = this.life;
    this.booting = true;
    this.injected = undefined;
    this.ioPending++;
    const salt = this.env.salt;
    Wal.open(this.walDisk, {
      dir: WAL_DIR,
      segmentBytes: this.env.segmentBytes,
      hook: (point) => this.hook(point, life),
      salt: () => salt.uint32(),
    }).then(
      ({ wal, state }) => {
        if (life !== this.life) return;
        this.ioPending--;
        this.started(wal, state);
      },
      (err: unknown) => {
        if (life !== this.life) return;
        this.ioPending--;
        this.walFailed(err, 'recovery');
      },
    );
  }

  private started(wal: Wal, state: RecoveredState): void {
    this.killInRecovery = false;
    this.checkRecovered(state);
    this.wal = wal;
    this.booting = false;
    this.alive = true;
    this.totals.recoveries++;
    if (state.repaired !== undefined) this.totals.repairs++;
    this.storage = new MemoryStorage(this.conf);
    const snap = state.snapshot;
    if (snap !== undefined) this.storage.applySnapshot(snap);
    this.storage.append(state.entries);
    this.storage.hardState = { ...state.hardState };
    const si = snap?.meta.index ?? 0;
    this.chain = [];
    this.chain[si] = snap === undefined ? 0 : this.snapChain(snap);
    this.extendChain(si + 1, state.entries);
    this.checkedCommit = si;
    this.lastCommit = 0;
    this.wasLeader = false;
    this.leadLast = undefined;
    this.fsm = snap === undefined ? new KvMachine() : KvMachine.restore(snap.data);
    this.membership = new MembershipHistory(si, snap?.meta.conf ?? this.conf);
    if (snap !== undefined) {
      this.totals.snapRecovered++;
      if (confKey(snap.meta.conf) !== confKey(this.conf)) this.totals.confSnapRecovered++;
      this.checkSnapState('recovered', snap.meta.index, this.fsm);
    }
    this.inFlight = undefined;
    this.snapping = false;
    this.snapJob = false;
    this.snapFileDone = undefined;
    this.inbox = [];
    this.writers.clear();
    this.earlyReads.clear();
    this.lastAckIndex = 0;
    const jitter = this.env.jitter;
    this.core = new RaftCore({
      id: this.sid,
      storage: this.storage,
      rand: () => jitter.float(),
      now: () => this.env.clock.nowMs(),
      leaseReads: this.env.leaseShare > 0,
      applied: si,
    });
    this.reads = new LeaderReads(
      {
        id: this.id,
        core: this.core,
        fsm: () => this.fsm,
        ghost: this.env.ghost,
        send: (to, w) => this.env.send(this.id, to, w),
        redirect: (client, reqId) => this.redirect(client, reqId),
        later: (fn) => this.inbox.push(fn),
        leaseShare: this.env.leaseShare,
        lease: this.env.lease,
        skipReadIndex: this.env.bug === 'read-before-term-commit',
      },
      this.totals,
    );
    const r = state.repaired;
    const hs = state.hardState;
    this.env.log(
      this,
      `| recovered s=${si} l=${state.entries.at(-1)?.index ?? si} t${hs.term} c${hs.commit}` +
        (r === undefined ? '' : ` repaired ${r.file}@${r.offset} -${r.droppedBytes}B (${r.reason})`),
    );
    this.scheduleTick();
  }

  /** I20: recovery returns the synced state, plus the last batch only if it is whole; I3 across lives. */
  private checkRecovered(state: RecoveredState): void {
    const m = state.snapshot?.meta;
    const snap = { index: m?.index ?? 0, term: m?.term ?? 0 };
    const got = { ents: state.entries, hs: state.hardState, snap };
    const cands = this.synced.candidates();
    const diffs = cands.map((c) => diffLogState(got, c));
    if (cands.length > 1 && diffs[0] !== undefined && diffs[1] === undefined) this.totals.wholeLast++;
    if (diffs.every((d) => d !== undefined)) {
      this.env.ghost.fail(
        'I20',
        `n${this.id} recovered a log that is neither synced nor synced+last: ${diffs[0]}`,
      );
    }
    this.synced.reset(state.entries, state.hardState, snap);
    this.checkDurableTerm();
  }

  /** The WAL failed: an injected disk error makes the process exit; anything else is a bug. */
  private walFailed(err: unknown, during: string): void {
    if (this.injected !== undefined) {
      this.env.onDeath(this, 'exit', `(${this.injected})`);
      return;
    }
    // Not a fault this run injected: the process stays down and the run reports why.
    this.booting = false;
    const msg = err instanceof Error ? err.message : String(err);
    if (isSealError(err, 'ErrWalCorrupt')) this.env.ghost.fail('I20', `n${this.id} refused to start: ${msg}`);
    else this.env.ghost.fail('WAL', `n${this.id} WAL failed during ${during}: ${msg}`);
  }

  private scheduleTick(): void {
    const life = this.life;
    this.env.sched.after(this.env.clock.virtualDelayMs(TICK_MS), 'node.tick', () => {
      if (life !== this.life || !this.alive) return;
      this.scheduleTick();
      if (this.paused || this.waiting) return;
      this.core.tick();
      // The self-test bug lets a learner start an election of its own.
      if (this.env.bug === 'learner-campaign' && this.isLearner() && this.core.role === 'follower')
        this.core.raft.startElection('PreVote', false);
      this.pump();
    });
  }

  // ---- faults ----

  /** kill -9 / power loss now: the disk keeps what its crash model keeps; nothing else survives. */
  crash(opts: CrashOptions = {}): void {
    this.alive = false;
    this.booting = false;
    this.life++;
    this.ioPending = 0;
    this.parked = 0;
    this.killAt = undefined;
    this.haltAt = undefined;
    this.killInRecovery = false;
    this.addWalStats();
    this.wal = undefined;
    this.inFlight = undefined;
    this.snapping = false;
    this.snapJob = false;
    this.snapFileDone = undefined;
    this.disk.crash(() => this.env.disk.float(), opts);
  }

  restart(): void {
    this.paused = false;
    this.env.clock.restart(this.env.sched.nowMs * 3 + 1000);
    this.boot();
  }

  private addWalStats(): void {
    const w = this.wal?.stats;
    if (w === undefined) return;
    this.totals.batches += w.batches;
    this.totals.fsyncs += w.fsyncs;
    this.totals.rotations += w.rotations;
  }

  /** Recoveries, torn tails repaired, and WAL batches, fsyncs and segment rotations over every life. */
  counters(): Record<string, number> {
    const w = this.wal?.stats;
    const t = this.totals;
    return {
      recoveries: t.recoveries,
      repairs: t.repairs,
      'recover.unsynced-batch-kept': t.wholeLast,
      'wal.batches': t.batches + (w?.batches ?? 0),
      'wal.fsyncs': t.fsyncs + (w?.fsyncs ?? 0),
      'wal.rotations': t.rotations + (w?.rotations ?? 0),
      'snap.taken': t.snapTaken,
      'snap.taken.concurrent': t.snapTakenBg,
      'snap.sent': t.snapSent,
      'snap.installed': t.snapInstalled,
      'snap.recovered': t.snapRecovered,
      'lease.served': t.leaseReads,
      'lease.refused': t.leaseRefused,
      'lease.lapsed': t.leaseLapsed,
      'reads.follower': t.followerReads,
      'conf.applied': t.confApplied,
      'conf.snap-recovered': t.confSnapRecovered,
    };
  }

  /** The next recovery dies at its first fsync, if it makes one. */
  armRecoveryKill(): void {
    this.killInRecovery = true;
  }

  /** The next time the WAL reaches `point` in this life, the process dies there. */
  armKill(point: SimKillPoint): void {
    this.killAt = point;
  }

  /** The next time this life is to apply `index`, it halts instead. */
  armHalt(index: number): void {
    this.haltAt = index;
  }

  disarm(): void {
    this.killAt = undefined;
    this.haltAt = undefined;
    this.killInRecovery = false;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.alive || !this.paused) return;
    this.paused = false;
    if (this.inFlight !== undefined && this.syncDone) this.finish();
    else this.drainInbox();
  }

  // ---- inputs ----

  receive(from: number, w: Wire): void {
    if (!this.alive) return;
    let run: (() => void) | undefined;
    if (w.t === 'raft') run = () => this.core.step(w.m);
    else if (w.t === 'req') run = () => this.onRequest(from, w.reqId, w.cmd);
    if (run === undefined) return;
    if (this.paused || this.waiting) {
      this.inbox.push(run);
      return;
    }
    run();
    this.pump();
  }

  private onRequest(client: number, reqId: number, cmd: KvInput): void {
    if ((cmd.f === 'get' || cmd.f === 'read') && this.env.bug === 'stale-read') {
      this.env.send(this.id, client, { t: 'resp', reqId, output: this.fsm.read(cmd) });
      return;
    }
    const isRead = cmd.f === 'get' || cmd.f === 'read';
    if (this.core.role !== 'leader') {
      if (
        isRead &&
        this.env.followerReads &&
        this.core.role === 'follower' &&
        this.reads.startForwarded(client, reqId, cmd)
      )
        return;
      this.redirect(client, reqId);
      return;
    }
    if (isRead) {
      this.reads.start(client, reqId, cmd);
    } else {
      const cached = this.fsm.cached(client, reqId);
      if (cached !== undefined) {
        this.ackWrite(client, reqId, cached);
        return;
      }
      try {
        this.core.propose(encodeOp({ client, reqId, cmd }));
        this.writers.set(`${client}:${reqId}`, client);
        if (cmd.f === 'multi' && this.env.bug === 'multi-reads-at-propose') {
          // The bug reads outside the log, so another write can land between read and write.
          this.earlyReads.set(
            `${client}:${reqId}`,
            cmd.cmds.map((c) => (c.f === 'get' ? this.fsm.read(c) : 'ok')),
          );
        }
        // The self-test bug acknowledges a write once it is in the leader's log.
        if (this.env.bug === 'ack-on-append') this.ackWrite(client, reqId, 'ok');
      } catch (err) {
        if (!isSealError(err)) throw err;
        this.redirect(client, reqId);
      }
    }
  }

  /** Hand leadership to `to` if this node still leads when the request is taken in. */
  transfer(to: number): void {
    if (!this.alive) return;
    const run = (): void => {
      if (this.core.role !== 'leader') return;
      try {
        this.core.transferLeadership(String(to));
      } catch (err) {
        if (!isSealError(err)) throw err;
      }
    };
    if (this.paused || this.waiting) {
      this.inbox.push(run);
      return;
    }
    run();
    this.pump();
  }

  /**
   * Ask the core to append a membership change if this node still leads when the request is
   * taken in; `done` gets the refusal's error code, or undefined once the entry is appended.
   */
  proposeConf(cc: ConfChange, done: (refused: string | undefined) => void): void {
    if (!this.alive) return;
    const run = (): void => {
      if (this.core.role !== 'leader') {
        done('NotLeader');
        return;
      }
      // The self-test bug forgets the change already pending (P37).
      if (this.env.bug === 'two-pending-conf') this.core.raft.pendingConfIndex = 0;
      let refused: string | undefined;
      try {
        this.core.proposeConfChange(cc);
      } catch (err) {
        if (!isSealError(err)) throw err;
        refused = err.code;
      }
      done(refused);
    };
    if (this.paused || this.waiting) {
      this.inbox.push(run);
      return;
    }
    run();
    this.pump();
  }

  /** The configuration in effect on this node (D2: as of its last applied conf entry). */
  confState(): ConfState {
    return this.core.raft.trk.confState();
  }

  private isLearner(): boolean {
    return this.core.raft.trk.isLearner(this.sid);
  }

  /**
   * The snapshot this node sent to `to` in `term` arrived at a live process: report the
   * transfer done, as the real node does when its snapshot stream completes, so the leader
   * probes from the snapshot's index instead of waiting out the lost-snapshot timeout.
   */
  snapshotDelivered(to: number, term: number): void {
    if (!this.alive) return;
    const run = (): void => {
      if (this.core.role === 'leader' && this.core.term === term) this.core.reportSnapshot(String(to), true);
    };
    if (this.paused || this.waiting) {
      this.inbox.push(run);
      return;
    }
    run();
    this.pump();
  }

  /** I17: a write is acknowledged only by a node that applied the committed entry carrying it. */
  private ackWrite(client: number, reqId: number, output: KvOutput): void {
    const op = `${client}:${reqId}`;
    this.env.ghost.ack(this.id, op, this.fsm.applied);
    this.lastAckIndex = Math.max(this.lastAckIndex, this.env.ghost.opAt.get(op)?.index ?? 0);
    this.env.send(this.id, client, { t: 'resp', reqId, output });
  }

  private redirect(client: number, reqId: number): void {
    const lead = this.core.lead;
    const leader = lead === '' || lead === this.sid ? undefined : Number(lead);
    this.env.send(this.id, client, { t: 'redirect', reqId, leader });
  }

  private drainInbox(): void {
    while (!this.waiting && !this.paused && this.alive && this.inbox.length > 0) {
      this.inbox.shift()!();
      this.pump();
    }
  }

  // ---- D1 ----

  /** Start the next Ready cycle, if there is work and none is in flight. */
  private pump(): void {
    if (!this.waiting && this.alive && !this.paused && this.snapFileDone !== undefined) {
      const snap = this.snapFileDone;
      this.snapFileDone = undefined;
      this.writeMarker(snap);
      return;
    }
    if (!this.waiting && this.alive && !this.paused && this.core.hasReady()) {
      const rd = this.core.ready();
      // The read states came out of the step just taken: check them against that state.
      this.reads.checkAnswers(rd.readStates);
      this.reads.checkRemoteAnswers(rd.messages);
      this.inFlight = rd;
      this.syncDone = false;
      const life = this.life;
      // The WAL starts writing inside save(), so a kill point can end this life right here.
      const saved = this.persist(rd);
      if (life !== this.life) {
        saved.catch(() => {});
        return;
      }
      if (this.env.bug === 'ack-before-persist' && !this.sendAll(rd)) {
        saved.catch(() => {});
        return;
      }
      this.ioPending++;
      saved.then(
        () => {
          if (life !== this.life) return;
          this.ioPending--;
          if (rd.mustSync) this.synced.sync();
          this.checkDurableTerm();
          this.syncDone = true;
          if (!this.paused) this.finish();
        },
        (err: unknown) => {
          if (life !== this.life) return;
          this.ioPending--;
          this.walFailed(err, 'save');
        },
      );
      // The next cycle starts from finish(), once this one is durable.
    }
  }

  /** Step 1: hand entries and hard state to the WAL; with mustSync it resolves after the fsync. */
  private persist(rd: Ready): Promise<void> {
    const s = rd.snapshot;
    if (s !== undefined) {
      this.restoreLog(s);
      // The file first, then one synced batch: install marker, entries, hard state.
      const life = this.life;
      const wal = this.wal!;
      return wal.writeSnapshotFile(s).then(() => {
        if (life !== this.life) return;
        this.synced.writeSnapshot(s.meta, 'install');
        this.remember(rd);
        return wal.save(rd.hardState, rd.entries, {
          sync: true,
          snapshot: { meta: s.meta, mode: 'install' },
        });
      });
    }
    this.remember(rd);
    if (rd.entries.length === 0 && rd.hardState === undefined) return RESOLVED;
    return this.wal!.save(rd.hardState, rd.entries, { sync: rd.mustSync });
  }

  /** A snapshot from the leader replaces the in-memory log; I18: it must cover a committed entry. */
  private restoreLog(s: Snapshot): void {
    const { index, term } = s.meta;
    const committed = this.env.ghost.committedTerm[index];
    if (committed !== term) {
      this.env.ghost.fail(
        'I18',
        `n${this.id} installs snapshot ${term}/${index}; committed term there ${committed ?? '-'}`,
      );
    }
    this.storage.applySnapshot(s);
    this.membership.reset(index, s.meta.conf);
    this.chain.length = index;
    this.chain[index] = this.snapChain(s);
    if (this.checkedCommit < index) this.checkedCommit = index;
  }

  /** The log-matching chain hash at a snapshot's last entry, as the ghost saw it stored (I5). */
  private snapChain(s: Snapshot): number {
    const h = this.env.ghost.chainAt.get(`${s.meta.index}/${s.meta.term}`);
    if (h === undefined)
      this.env.ghost.fail('I18', `n${this.id} snapshot ${s.meta.term}/${s.meta.index} names no stored entry`);
    return h ?? 0;
  }

  /** The storage view and the node's account of its WAL take the Ready's entries and hard state. */
  private remember(rd: Ready): void {
    if (rd.entries.length > 0) {
      this.storage.append(rd.entries);
      this.synced.writeEntries(rd.entries);
      const first = rd.entries[0]!.index;
      this.chain.length = first;
      this.extendChain(first, rd.entries);
      if (first <= this.checkedCommit) this.checkedCommit = first - 1;
    }
    if (rd.hardState !== undefined) {
      this.storage.hardState = { ...rd.hardState };
      this.synced.writeHardState(rd.hardState);
    }
  }

  /** Steps 2–4: send, apply, serve reads, advance; then the next cycle. */
  private finish(): void {
    const rd = this.inFlight!;
    if (this.env.bug !== 'ack-before-persist' && !this.sendAll(rd)) return;
    // Replies go out below, and this life may end before the next check: record commit now.
    this.noteCommitted();
    if (rd.snapshot !== undefined) {
      this.fsm = KvMachine.restore(rd.snapshot.data);
      this.totals.snapInstalled++;
      this.checkSnapState('installed', rd.snapshot.meta.index, this.fsm);
    }
    const applying = rd.committedEntries.length > 0;
    if (applying && this.dieAt('apply.beforeBatch')) return;
    for (const e of rd.committedEntries) {
      if (e.index === this.haltAt) {
        this.halt(e);
        return;
      }
      this.applyEntry(e);
    }
    if (applying && this.dieAt('apply.afterBatch')) return;
    this.reads.confirmed(rd.readStates);
    this.reads.serve();
    this.core.advance(rd);
    this.inFlight = undefined;
    if (this.maybeSnapshot()) return;
    this.drainInbox();
    this.pump();
  }

  /**
   * Every snapEvery applied entries: serialize the FSM and write the snapshot file, then its
   * WAL marker between two Readies (as the real loop does), then compact. The file is written
   * either between Readies too, or (snapConcurrent seeds) alongside them, as the real node
   * does off its loop. Returns whether Readies must wait for the snapshot.
   */
  private maybeSnapshot(): boolean {
    const every = this.env.snapEvery;
    const applied = this.fsm.applied;
    if (every === 0 || this.snapJob || !this.alive) return false;
    if (applied - this.storage.snapshot().meta.index < every) return false;
    // The self-test bug labels the state after `applied` with the index before it.
    const index = this.env.bug === 'snapshot-off-by-one' ? applied - 1 : applied;
    const term = this.storage.term(index);
    if (term === undefined || index <= this.storage.snapshot().meta.index) return false;
    // P31: the membership in force at the snapshot's index, not the latest one.
    const conf = this.membership.at(index);
    const snap: Snapshot = { meta: { index, term, conf }, data: this.fsm.serialize() };
    if (index > applied)
      this.env.ghost.fail('I18', `n${this.id} snapshot at ${index} beyond applied ${applied}`);
    this.checkSnapState('created', index, KvMachine.restore(snap.data));
    this.snapJob = true;
    const concurrent = this.env.snapConcurrent;
    if (!concurrent) this.snapping = true;
    const life = this.life;
    this.ioPending++;
    this.wal!.writeSnapshotFile(snap).then(
      () => {
        if (life !== this.life) return;
        this.ioPending--;
        if (!concurrent) {
          this.writeMarker(snap);
          return;
        }
        this.snapFileDone = snap;
        this.pump();
      },
      (err: unknown) => {
        if (life !== this.life) return;
        this.ioPending--;
        this.walFailed(err, 'snapshot file');
      },
    );
    return !concurrent;
  }

  /** The marker makes the snapshot count; once it is durable the in-memory log is compacted. */
  private writeMarker(snap: Snapshot): void {
    const { meta } = snap;
    if (meta.index <= this.storage.snapshot().meta.index) {
      // A snapshot installed from the leader meanwhile covers this one.
      this.snapJob = false;
      this.snapping = false;
      this.drainInbox();
      this.pump();
      return;
    }
    this.snapping = true;
    const life = this.life;
    this.synced.writeSnapshot(meta, 'compact');
    const saved = this.wal!.save(undefined, [], { sync: true, snapshot: { meta, mode: 'compact' } });
    if (life !== this.life) {
      saved.catch(() => {});
      return;
    }
    this.ioPending++;
    saved.then(
      () => {
        if (life !== this.life) return;
        this.ioPending--;
        this.synced.sync();
        this.snapping = false;
        this.snapJob = false;
        // Compaction forgets terms: tell the ghost what this node's commit covered first.
        this.noteCommitted();
        this.storage.createSnapshot(meta.index, meta.conf, snap.data);
        this.storage.compact(meta.index - this.env.snapRetain);
        this.totals.snapTaken++;
        if (this.env.snapConcurrent) this.totals.snapTakenBg++;
        this.env.log(this, `| snapshot ${meta.term}/${meta.index} first=${this.storage.firstIndex()}`);
        this.drainInbox();
        this.pump();
      },
      (err: unknown) => {
        if (life !== this.life) return;
        this.ioPending--;
        this.walFailed(err, 'snapshot marker');
      },
    );
  }

  /** I18: a snapshot's state is the state every node had after applying its index. */
  private checkSnapState(what: string, index: number, fsm: KvMachine): void {
    const want = this.env.ghost.stateHash[index];
    if (index > 0 && want !== undefined && fsm.stateHash() !== want) {
      this.env.ghost.fail(
        'I18',
        `n${this.id} ${what} snapshot at ${index} with a state other than after ${index}`,
      );
    } else if (fsm.applied !== index) {
      this.env.ghost.fail(
        'I18',
        `n${this.id} ${what} snapshot at ${index} holds state applied to ${fsm.applied}`,
      );
    }
  }

  /** The driver's own kill points: the process dies here if the fault scheduler armed this one. */
  private dieAt(point: SimKillPoint): boolean {
    if (this.killAt !== point) return false;
    this.killAt = undefined;
    this.env.onDeath(this, 'kill', `at ${point}`);
    return true;
  }

  /**
   * P45: an apply halt writes nothing for its entry, skips the rest of the Ready, sends no
   * reply and exits. I19: nothing this life did may show entry i as applied or answered.
   */
  private halt(e: Entry): void {
    const i = e.index;
    this.haltAt = undefined;
    // The self-test bug applies (and answers) the entry before halting.
    if (this.env.bug === 'apply-through-halt') this.applyEntry(e);
    const g = this.env.ghost;
    if (this.fsm.applied >= i) g.fail('I19', `n${this.id} halted at ${i} with applied ${this.fsm.applied}`);
    else if (this.lastAckIndex >= i)
      g.fail('I19', `n${this.id} halted at ${i} after answering ${this.lastAckIndex}`);
    this.env.onDeath(this, 'halt', `at ${i}`);
    const durable = this.durableView().snap.index;
    if (durable >= i) g.fail('I19', `n${this.id} halted at ${i}; its disk holds state through ${durable}`);
  }

  /** Step 2; false when a kill at send.mid ended the process partway through. */
  private sendAll(rd: Ready): boolean {
    const mid = this.killAt === 'send.mid' && rd.messages.length >= 2 ? rd.messages.length >> 1 : -1;
    for (let k = 0; k < rd.messages.length; k++) {
      if (k === mid && this.dieAt('send.mid')) return false;
      const m = rd.messages[k]!;
      this.checkSend(m);
      if (m.type === 'Snap') this.totals.snapSent++;
      this.env.send(this.id, Number(m.to), { t: 'raft', m });
    }
    return true;
  }

  private applyEntry(e: Entry): void {
    const r = e.type === EntryType.ConfChange ? this.applyConf(e) : this.fsm.apply(e.index, e.data);
    const key = r === undefined ? undefined : `${r.op.client}:${r.op.reqId}`;
    this.env.ghost.applied(this.id, e.index, bytesHash(e.term, e.data), this.fsm.stateHash(), key, e.term);
    if (r === undefined || key === undefined) return;
    if (!this.writers.delete(key) || this.env.bug === 'ack-on-append') return;
    const early = this.earlyReads.get(key);
    this.earlyReads.delete(key);
    this.ackWrite(r.op.client, r.op.reqId, early ?? r.output);
  }

  /** D2: the change takes effect now, on every node, leader or not; the FSM only moves on. */
  private applyConf(e: Entry): undefined {
    const before = this.confState();
    const after = this.core.applyConfChange(decodeConfChange(e.data));
    this.membership.applied(e.index, after);
    this.fsm.applied = e.index;
    this.totals.confApplied++;
    this.env.ghost.confApplied(this.id, e.index, before, after);
    this.env.log(this, `| conf ${e.index} ${confKey(after)}`);
    return undefined;
  }

  // ---- ghost checks ----

  /** What the disk really holds now, read from its synced bytes (after a crash: all it kept). */
  durableView(): WalView {
    return readWalView(this.disk.durableImage(), WAL_DIR);
  }

  private extendChain(first: number, ents: readonly Entry[]): void {
    let h = this.chain[first - 1] ?? 0;
    for (const e of ents) {
      h = mix(h, bytesHash(e.term, e.data) % 4294967296);
      this.chain[e.index] = h;
      this.env.ghost.chain(this.id, e.index, e.term, h);
    }
  }

  private checkDurableTerm(): void {
    const t = this.synced.hardState.term;
    if (t < this.durableTermSeen)
      this.env.ghost.fail('I3', `n${this.id} durable term fell ${this.durableTermSeen}→${t}`);
    else this.durableTermSeen = t;
  }

  /** I12: nothing is sent that the durable state does not back. */
  private checkSend(m: Message): void {
    const hs = this.synced.hardState;
    const last = this.synced.lastIndex;
    const g = this.env.ghost;
    if (m.type === 'VoteResp' && !m.reject) g.vote(this.id, m.term, m.to);
    const pre = m.type === 'PreVote' || m.type === 'PreVoteResp';
    if (!pre && m.term > hs.term)
      g.fail('I12', `n${this.id} sent ${m.type} t${m.term} with durable t${hs.term}`);
    else if (m.type === 'VoteResp' && !m.reject && (hs.vote !== m.to || hs.term !== m.term)) {
      g.fail('I12', `n${this.id} granted t${m.term} to n${m.to}; durable vote ${hs.vote || '-'} t${hs.term}`);
    } else if (m.type === 'AppResp' && !m.reject && m.index > last) {
      g.fail('I12', `n${this.id} acked ${m.index}; durable last ${last}`);
    } else if (m.type === 'App' && m.entries.length > 0) {
      const top = m.entries[m.entries.length - 1]!.index;
      if (top > last) g.fail('I12', `n${this.id} sent up to ${top}; durable last ${last}`);
    }
  }

  /** Per-event checks: I1, I3 (volatile ≥ durable), I6, I7, I10, I11. */
  check(): void {
    if (!this.alive) return;
    const g = this.env.ghost;
    const log = this.core.raft.log;
    const term = this.core.term;
    const leads = this.core.role === 'leader';
    if (leads) g.leader(term, this.id);
    const trk = this.core.raft.trk;
    if (leads && !this.wasLeader) g.winner(term, this.id, trk.voters);
    // I13: a node that declares itself a learner never campaigns or leads; one outside the
    // config never campaigns (a leader that applied its own removal leads until it steps down).
    const role = this.core.role;
    const conf = (): string => confKey(trk.confState());
    if (role !== 'follower' && trk.isLearner(this.sid))
      g.fail('I13', `n${this.id} is ${role} t${term} while a learner (${conf()})`);
    else if ((role === 'candidate' || role === 'precandidate') && !trk.isVoter(this.sid))
      g.fail('I13', `n${this.id} is ${role} t${term} outside the config (${conf()})`);
    if (leads) this.checkPendingConf();
    this.checkAppendOnly(leads);
    if (leads && !this.wasLeader) {
      // I6: a new leader holds every entry committed so far.
      // Below the compaction point the log holds nothing to compare; the snapshot covers it (I18).
      // Only entries committed in an earlier term bind it: a stale leader of a lower term
      // (a paused candidate counting old grants) need not hold what a later term committed.
      for (let i = Math.max(1, log.firstIndex() - 1); i <= g.maxCommit; i++) {
        if ((g.committedIn[i] ?? 0) >= term) continue;
        if (log.term(i) !== g.committedTerm[i]) {
          g.fail('I6', `n${this.id} leads t${term} without committed ${g.committedTerm[i]}/${i}`);
          break;
        }
      }
    }
    this.wasLeader = leads;
    const durable = this.synced.hardState.term;
    if (term < durable) g.fail('I3', `n${this.id} volatile t${term} < durable t${durable}`);
    const commit = log.committed;
    if (commit < this.lastCommit) g.fail('I10', `n${this.id} commit fell ${this.lastCommit}→${commit}`);
    this.lastCommit = commit;
    this.noteCommitted();
    const applied = this.fsm.applied;
    if (!(applied <= commit && commit <= log.lastIndex())) {
      g.fail('I11', `n${this.id} a${applied} c${commit} l${log.lastIndex()}`);
    } else if (applied > this.synced.lastIndex) {
      g.fail('I11', `n${this.id} applied ${applied} beyond durable last ${this.synced.lastIndex}`);
    } else if (!this.waiting && this.storage.snapshot().meta.index > applied) {
      g.fail('I11', `n${this.id} snapshot ${this.storage.snapshot().meta.index} beyond applied ${applied}`);
    }
  }

  /** I14: a leader holds at most one conf entry beyond what it applied. */
  private checkPendingConf(): void {
    const log = this.core.raft.log;
    const lo = Math.max(log.applied + 1, log.firstIndex());
    let pending = 0;
    for (const e of log.slice(lo, log.lastIndex() + 1)) if (e.type === EntryType.ConfChange) pending++;
    if (pending > 1)
      this.env.ghost.fail(
        'I14',
        `n${this.id} leads t${this.core.term} with ${pending} conf entries beyond applied ${log.applied}`,
      );
  }

  /** I7: the ghost learns the term of each index this node's commit newly covers. */
  private noteCommitted(): void {
    const log = this.core.raft.log;
    const commit = log.committed;
    const from = Math.max(this.checkedCommit + 1, log.firstIndex() - 1);
    const term = this.core.term;
    const voters = from <= commit ? this.core.raft.trk.voters : undefined;
    for (let i = from; i <= commit; i++) this.env.ghost.committed(this.id, i, log.term(i), term, voters);
    if (commit > this.checkedCommit) this.checkedCommit = commit;
  }

  /** I4: while it leads, a leader's log before each event is a prefix of its log after it. */
  private checkAppendOnly(leads: boolean): void {
    const log = this.core.raft.log;
    const lead = this.leadLast;
    const prev = lead?.last;
    const lastIndex = log.lastIndex();
    if (leads && this.wasLeader && prev !== undefined && lead?.term === this.core.term) {
      const now = prev.index >= log.firstIndex() ? log.slice(prev.index, prev.index + 1)[0] : undefined;
      // Below the compaction point the entry is gone from memory; its term is still known.
      const same = now === undefined ? log.term(prev.index) === prev.term : now === prev;
      if (lastIndex < prev.index || !same) {
        this.env.ghost.fail(
          'I4',
          `n${this.id} leading t${this.core.term} replaced ${prev.term}/${prev.index}`,
        );
      }
    }
    const last = leads && lastIndex >= log.firstIndex() ? log.slice(lastIndex, lastIndex + 1)[0] : undefined;
    this.leadLast = last === undefined ? undefined : { term: this.core.term, last };
  }

  roleLetter(): string {
    if (!this.alive) return 'X';
    const r = this.core.role;
    return r === 'leader' ? 'L' : r === 'follower' ? 'F' : r === 'candidate' ? 'C' : 'P';
  }

  /** `n2 F t5 c17/a17/l18` */
  label(): string {
    if (!this.alive) return `n${this.id} X - -/-/${this.synced.lastIndex}${this.booting ? ' boot' : ''}`;
    const l = this.core.raft.log;
    return `n${this.id} ${this.roleLetter()} t${this.core.term} c${l.committed}/a${this.fsm.applied}/l${l.lastIndex()}`;
  }

  /** Text dump of what the disk durably holds, for a failing run's sim/out/<seed>/. */
  dumpDisk(): string {
    const v = this.durableView();
    const hs = v.hardState;
    const lines = [`hardstate term=${hs.term} vote=${hs.vote || '-'} commit=${hs.commit}`];
    if (v.snap.index > 0) lines.push(`snapshot ${v.snap.term}/${v.snap.index} file=${v.snap.fileKept}`);
    for (const e of v.ents) lines.push(`entry ${e.term}/${e.index} ${new TextDecoder().decode(e.data)}`);
    for (const f of v.files) {
      lines.push(
        `file ${f.name} bytes=${f.bytes} batches=${f.batches}${f.stop === undefined ? '' : ` stop="${f.stop}"`}`,
      );
    }
    const w = this.wal?.stats;
    if (w !== undefined) lines.push(`wal batches=${w.batches} fsyncs=${w.fsyncs} rotations=${w.rotations}`);
    lines.push(`unsynced writes: ${this.synced.unsyncedWrites}`);
    return `${lines.join('\n')}\n`;
  }
}
