// One simulated server: the real RaftCore over a MemoryStorage view of a DurableLog model,
// a KvMachine, and an event-driven D1 driver (persist → fsync → send → apply → advance).
// Every callback it schedules carries the process life it belongs to, so a crash silences it.

import { RaftCore } from '../../src/raft/core/core.ts';
import { MemoryStorage } from '../../src/raft/core/memory-storage.ts';
import type { Message } from '../../src/raft/core/messages.ts';
import type { Ready } from '../../src/raft/core/ready.ts';
import type { ConfState, Entry } from '../../src/raft/core/types.ts';
import { isSealError } from '../../src/util/errors.ts';
import type { NodeClock } from '../clock.ts';
import type { KvCmd, KvOutput } from '../lincheck/models.ts';
import type { Prng } from '../prng.ts';
import type { Scheduler } from '../queue.ts';
import { DurableLog } from './disk.ts';
import type { Ghost } from './ghost.ts';
import { bytesHash, encodeOp, KvMachine, mix } from './kv.ts';
import type { Wire } from './wire.ts';

export type RaftBug = 'ack-before-persist' | 'stale-read' | 'lying-fsync';

export interface NodeEnv {
  readonly sched: Scheduler;
  readonly clock: NodeClock;
  readonly send: (from: number, to: number, w: Wire) => void;
  readonly ghost: Ghost;
  /** Election jitter stream (one per node, D4). */
  readonly jitter: Prng;
  /** Disk stream: fsync delays and how much of the unsynced tail a crash keeps. */
  readonly disk: Prng;
  readonly maxFsyncMs: number;
  readonly bug: RaftBug | undefined;
  readonly log: (node: SimRaftNode, text: string) => void;
}

const TICK_MS = 100;
const enc = new TextEncoder();

interface PendingRead {
  readonly client: number;
  readonly reqId: number;
  readonly cmd: KvCmd;
  /** Ghost max commit when the request reached the leader (I15). */
  readonly floor: number;
}

export class SimRaftNode {
  readonly disk = new DurableLog();
  core!: RaftCore;
  storage!: MemoryStorage;
  fsm = new KvMachine();
  alive = true;
  paused = false;
  /** Process life; scheduled callbacks of an earlier life do nothing. */
  private life = 0;
  /** A Ready waiting for its fsync to complete. */
  private inFlight: Ready | undefined;
  private syncDone = false;
  /** Inputs that arrived while paused or waiting for an fsync, in arrival order. */
  private inbox: (() => void)[] = [];
  /** chain[i] = H(chain[i-1], term_i, data_i) over the storage view (I5). */
  private chain: number[] = [0];
  private checkedCommit = 0;
  /** Commit seen at the previous check in this life (I10) and whether we led then (I6). */
  private lastCommit = 0;
  private wasLeader = false;
  /** Highest durable term over every life (I3). */
  private durableTermSeen = 0;
  private readonly writers = new Map<string, number>();
  private reads = new Map<string, PendingRead>();
  private readSeq = 0;
  private serveQueue: { index: number; read: PendingRead }[] = [];

  constructor(
    readonly id: number,
    private readonly conf: ConfState,
    private readonly env: NodeEnv,
  ) {
    this.boot();
  }

  get sid(): string {
    return String(this.id);
  }

  /** Start a process life from the durable image. */
  private boot(): void {
    this.life++;
    const img = this.disk.image();
    this.storage = new MemoryStorage(this.conf);
    this.storage.append(img.ents);
    this.storage.hardState = img.hs;
    this.chain = [0];
    this.extendChain(1, img.ents);
    this.checkedCommit = 0;
    this.lastCommit = 0;
    this.wasLeader = false;
    this.fsm = new KvMachine();
    this.inFlight = undefined;
    this.inbox = [];
    this.writers.clear();
    this.reads = new Map();
    this.serveQueue = [];
    const jitter = this.env.jitter;
    this.core = new RaftCore({
      id: this.sid,
      storage: this.storage,
      rand: () => jitter.float(),
      now: () => this.env.clock.nowMs(),
      applied: 0,
    });
    this.scheduleTick();
  }

  private scheduleTick(): void {
    const life = this.life;
    this.env.sched.after(this.env.clock.virtualDelayMs(TICK_MS), 'node.tick', () => {
      if (life !== this.life || !this.alive) return;
      this.scheduleTick();
      if (this.paused || this.inFlight !== undefined) return;
      this.core.tick();
      this.pump();
    });
  }

  // ---- faults ----

  crash(): void {
    this.alive = false;
    this.life++;
    const keep = this.env.disk.int(0, this.disk.unsyncedWrites);
    this.disk.crash(keep, this.env.bug === 'lying-fsync' ? this.env.disk.int(1, 3) : 0);
    this.checkDurableTerm();
  }

  restart(): void {
    this.alive = true;
    this.paused = false;
    this.env.clock.restart(this.env.sched.nowMs * 3 + 1000);
    this.boot();
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
    if (this.paused || this.inFlight !== undefined) {
      this.inbox.push(run);
      return;
    }
    run();
    this.pump();
  }

  private onRequest(client: number, reqId: number, cmd: KvCmd): void {
    const isRead = cmd.f === 'get' || cmd.f === 'read';
    if (isRead && this.env.bug === 'stale-read') {
      this.env.send(this.id, client, { t: 'resp', reqId, output: this.fsm.read(cmd) });
      return;
    }
    if (this.core.role !== 'leader') {
      this.redirect(client, reqId);
      return;
    }
    if (isRead) {
      // Every arrival (retries included) is its own read with its own floor (I15).
      const key = `${client}:${reqId}:${++this.readSeq}`;
      this.reads.set(key, { client, reqId, cmd, floor: this.env.ghost.maxCommit });
      this.core.readIndex(enc.encode(key));
    } else {
      const cached = this.fsm.cached(client, reqId);
      if (cached !== undefined) {
        this.env.send(this.id, client, { t: 'resp', reqId, output: cached });
        return;
      }
      try {
        this.core.propose(encodeOp({ client, reqId, cmd }));
        this.writers.set(`${client}:${reqId}`, client);
      } catch (err) {
        if (!isSealError(err)) throw err;
        this.redirect(client, reqId);
      }
    }
  }

  private redirect(client: number, reqId: number): void {
    const lead = this.core.lead;
    const leader = lead === '' || lead === this.sid ? undefined : Number(lead);
    this.env.send(this.id, client, { t: 'redirect', reqId, leader });
  }

  private drainInbox(): void {
    while (this.inFlight === undefined && !this.paused && this.alive && this.inbox.length > 0) {
      this.inbox.shift()!();
      this.pump();
    }
  }

  // ---- D1 ----

  /** Run Ready cycles until there is no work or one is waiting for its fsync. */
  private pump(): void {
    while (this.inFlight === undefined && this.alive && !this.paused && this.core.hasReady()) {
      const rd = this.core.ready();
      this.inFlight = rd;
      this.syncDone = false;
      this.persist(rd);
      if (this.env.bug === 'ack-before-persist') this.sendAll(rd);
      if (!rd.mustSync) {
        this.syncDone = true;
        this.finish();
        continue;
      }
      const delay = this.env.maxFsyncMs === 0 ? 0 : this.env.disk.int(0, this.env.maxFsyncMs);
      if (delay === 0) {
        this.fsync();
        this.finish();
        continue;
      }
      const life = this.life;
      this.env.sched.after(delay, 'node.fsync', () => {
        if (life !== this.life) return;
        this.fsync();
        if (!this.paused) this.finish();
      });
    }
  }

  /** Step 1: write entries and hard state (the fsync is a separate, named step). */
  private persist(rd: Ready): void {
    if (rd.entries.length > 0) {
      this.storage.append(rd.entries);
      this.disk.writeEntries(rd.entries);
      const first = rd.entries[0]!.index;
      this.chain.length = first;
      this.extendChain(first, rd.entries);
      if (first <= this.checkedCommit) this.checkedCommit = first - 1;
    }
    if (rd.hardState !== undefined) {
      this.storage.hardState = { ...rd.hardState };
      this.disk.writeHardState(rd.hardState);
    }
  }

  private fsync(): void {
    this.disk.sync();
    this.syncDone = true;
    this.checkDurableTerm();
  }

  /** Steps 2–4: send, apply, serve reads, advance; then the next cycle. */
  private finish(): void {
    const rd = this.inFlight!;
    if (this.env.bug !== 'ack-before-persist') this.sendAll(rd);
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) {
      const key = new TextDecoder().decode(rs.context);
      const read = this.reads.get(key);
      if (read === undefined) continue;
      this.reads.delete(key);
      this.serveQueue.push({ index: rs.index, read });
    }
    this.serveReads();
    this.core.advance(rd);
    this.inFlight = undefined;
    this.drainInbox();
    this.pump();
  }

  private sendAll(rd: Ready): void {
    for (const m of rd.messages) {
      this.checkSend(m);
      this.env.send(this.id, Number(m.to), { t: 'raft', m });
    }
  }

  private applyEntry(e: Entry): void {
    const r = this.fsm.apply(e.index, e.data);
    this.env.ghost.applied(this.id, e.index, bytesHash(e.term, e.data), this.fsm.stateHash());
    if (r === undefined) return;
    const key = `${r.op.client}:${r.op.reqId}`;
    if (this.writers.delete(key))
      this.env.send(this.id, r.op.client, { t: 'resp', reqId: r.op.reqId, output: r.output });
  }

  private serveReads(): void {
    if (this.serveQueue.length === 0) return;
    const keep: { index: number; read: PendingRead }[] = [];
    for (const q of this.serveQueue) {
      if (this.fsm.applied < q.index) {
        keep.push(q);
        continue;
      }
      if (q.index < q.read.floor) {
        this.env.ghost.fail('I15', `n${this.id} read at ${q.index} < max commit ${q.read.floor} at arrival`);
      }
      const output: KvOutput = this.fsm.read(q.read.cmd);
      this.env.send(this.id, q.read.client, { t: 'resp', reqId: q.read.reqId, output });
    }
    this.serveQueue = keep;
  }

  // ---- ghost checks ----

  private extendChain(first: number, ents: readonly Entry[]): void {
    let h = this.chain[first - 1] ?? 0;
    for (const e of ents) {
      h = mix(h, bytesHash(e.term, e.data) % 4294967296);
      this.chain[e.index] = h;
      this.env.ghost.chain(this.id, e.index, e.term, h);
    }
  }

  private checkDurableTerm(): void {
    const t = this.disk.hardState.term;
    if (t < this.durableTermSeen)
      this.env.ghost.fail('I3', `n${this.id} durable term fell ${this.durableTermSeen}→${t}`);
    else this.durableTermSeen = t;
  }

  /** I12: nothing is sent that the durable state does not back. */
  private checkSend(m: Message): void {
    const hs = this.disk.hardState;
    const g = this.env.ghost;
    if (m.type === 'VoteResp' && !m.reject) g.vote(this.id, m.term, m.to);
    const pre = m.type === 'PreVote' || m.type === 'PreVoteResp';
    if (!pre && m.term > hs.term)
      g.fail('I12', `n${this.id} sent ${m.type} t${m.term} with durable t${hs.term}`);
    else if (m.type === 'VoteResp' && !m.reject && (hs.vote !== m.to || hs.term !== m.term)) {
      g.fail('I12', `n${this.id} granted t${m.term} to n${m.to}; durable vote ${hs.vote || '-'} t${hs.term}`);
    } else if (m.type === 'AppResp' && !m.reject && m.index > this.disk.lastIndex) {
      g.fail('I12', `n${this.id} acked ${m.index}; durable last ${this.disk.lastIndex}`);
    } else if (m.type === 'App' && m.entries.length > 0) {
      const last = m.entries[m.entries.length - 1]!.index;
      if (last > this.disk.lastIndex)
        g.fail('I12', `n${this.id} sent up to ${last}; durable last ${this.disk.lastIndex}`);
    }
  }

  /** Per-event checks: I1, I3 (volatile ≥ durable), I7, I11. */
  check(): void {
    if (!this.alive) return;
    const g = this.env.ghost;
    const log = this.core.raft.log;
    const term = this.core.term;
    const leads = this.core.role === 'leader';
    if (leads) g.leader(term, this.id);
    if (leads && !this.wasLeader) {
      // I6: a new leader holds every entry committed so far.
      for (let i = 1; i <= g.maxCommit; i++) {
        if (log.term(i) !== g.committedTerm[i]) {
          g.fail('I6', `n${this.id} leads t${term} without committed ${g.committedTerm[i]}/${i}`);
          break;
        }
      }
    }
    this.wasLeader = leads;
    if (term < this.disk.hardState.term)
      g.fail('I3', `n${this.id} volatile t${term} < durable t${this.disk.hardState.term}`);
    const commit = log.committed;
    if (commit < this.lastCommit) g.fail('I10', `n${this.id} commit fell ${this.lastCommit}→${commit}`);
    this.lastCommit = commit;
    for (let i = this.checkedCommit + 1; i <= commit; i++) g.committed(this.id, i, log.term(i));
    if (commit > this.checkedCommit) this.checkedCommit = commit;
    const applied = this.fsm.applied;
    if (!(applied <= commit && commit <= log.lastIndex())) {
      g.fail('I11', `n${this.id} a${applied} c${commit} l${log.lastIndex()}`);
    } else if (applied > this.disk.lastIndex) {
      g.fail('I11', `n${this.id} applied ${applied} beyond durable last ${this.disk.lastIndex}`);
    }
  }

  roleLetter(): string {
    if (!this.alive) return 'X';
    const r = this.core.role;
    return r === 'leader' ? 'L' : r === 'follower' ? 'F' : r === 'candidate' ? 'C' : 'P';
  }

  /** `n2 F t5 c17/a17/l18` */
  label(): string {
    if (!this.alive) return `n${this.id} X - -/-/${this.disk.lastIndex}`;
    const l = this.core.raft.log;
    return `n${this.id} ${this.roleLetter()} t${this.core.term} c${l.committed}/a${this.fsm.applied}/l${l.lastIndex()}`;
  }
}
