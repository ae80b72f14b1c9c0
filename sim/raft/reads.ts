// Linearizable reads at a simulated leader, one instance per process life: ReadIndex through
// the core, or (for a share of reads) the leader's lease, served once the FSM has applied
// the read's index. Checks I15 (served at or above the commit any node had reached when the
// request arrived) and I16 (a read index comes only from a leader that committed in its term).

import type { RaftCore } from '../../src/raft/core/core.ts';
import type { Message } from '../../src/raft/core/messages.ts';
import type { ReadState } from '../../src/raft/core/readonly.ts';
import { isSealError } from '../../src/util/errors.ts';
import type { KvCmd, KvOutput } from '../lincheck/models.ts';
import type { Prng } from '../prng.ts';
import type { Ghost } from './ghost.ts';
import type { KvMachine } from './kv.ts';
import type { Wire } from './wire.ts';

interface PendingRead {
  readonly client: number;
  readonly reqId: number;
  readonly cmd: KvCmd;
  /** Ghost max commit when the request reached the server (I15); a forwarded read reaches the leader later. */
  readonly floor: number;
  /** Served on the leader's lease: re-checked after reading the FSM (P34). */
  readonly lease: boolean;
  /** Served by a follower, whose ReadIndex its leader answered. */
  readonly forwarded?: boolean;
}

export interface ReadHost {
  readonly id: number;
  readonly core: RaftCore;
  /** The FSM now (an installed snapshot replaces it). */
  readonly fsm: () => KvMachine;
  readonly ghost: Ghost;
  readonly send: (to: number, w: Wire) => void;
  readonly redirect: (client: number, reqId: number) => void;
  /** Runs `fn` as the node's next input, after the current Ready cycle. */
  readonly later: (fn: () => void) => void;
  readonly leaseShare: number;
  readonly lease: Prng;
  /** The self-test bug that answers at the local commit index, skipping ReadIndex. */
  readonly skipReadIndex: boolean;
}

export interface LeaseCounts {
  leaseReads: number;
  leaseRefused: number;
  leaseLapsed: number;
  /** Reads a follower served after its forwarded ReadIndex was answered. */
  followerReads: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class LeaderReads {
  private readonly byContext = new Map<string, PendingRead>();
  private seq = 0;
  private queue: { index: number; read: PendingRead }[] = [];

  constructor(
    private readonly h: ReadHost,
    private readonly counts: LeaseCounts,
  ) {}

  /** A read request at the leader; every arrival (retries included) has its own floor (I15). */
  start(client: number, reqId: number, cmd: KvCmd): void {
    const h = this.h;
    const read = { client, reqId, cmd, floor: h.ghost.maxCommit, lease: false };
    if (h.skipReadIndex) {
      const at = h.core.raft.log.committed;
      this.answered(at);
      this.queue.push({ index: at, read });
      this.serve();
      return;
    }
    const share = h.leaseShare;
    if (share > 0 && (share >= 1 || h.lease.chance(share)) && this.leaseRead(read)) return;
    this.readIndex(read);
  }

  /**
   * A read at a follower: its ReadIndex goes to the leader, and it is served here once
   * applied. False when no leader is known (the client is redirected instead).
   */
  startForwarded(client: number, reqId: number, cmd: KvCmd): boolean {
    const read = { client, reqId, cmd, floor: this.h.ghost.maxCommit, lease: false, forwarded: true };
    try {
      this.readIndex(read);
    } catch (err) {
      if (!isSealError(err)) throw err;
      return false;
    }
    return true;
  }

  /**
   * The core's answers in a Ready just taken: checked against the state that produced them.
   * A follower's read states were answered by its leader, which is checked when it sends them.
   */
  checkAnswers(states: readonly ReadState[]): void {
    if (this.h.core.role !== 'leader') return;
    for (const rs of states) this.answered(rs.index);
  }

  /** The leader's answers to forwarded reads in a Ready just taken (I16, as for its own). */
  checkRemoteAnswers(messages: readonly Message[]): void {
    for (const m of messages) if (m.type === 'ReadIndexResp') this.answered(m.index);
  }

  /** The Ready's read states are confirmed: queue them to be served once applied. */
  confirmed(states: readonly ReadState[]): void {
    for (const rs of states) {
      const key = dec.decode(rs.context);
      const read = this.byContext.get(key);
      if (read === undefined) continue;
      this.byContext.delete(key);
      this.queue.push({ index: rs.index, read });
    }
  }

  /** Serves every queued read whose index the FSM has applied. */
  serve(): void {
    if (this.queue.length === 0) return;
    const h = this.h;
    const fsm = h.fsm();
    const keep: { index: number; read: PendingRead }[] = [];
    for (const q of this.queue) {
      if (fsm.applied < q.index) {
        keep.push(q);
        continue;
      }
      const output: KvOutput = fsm.read(q.read.cmd);
      if (q.read.lease && !h.core.leaseValid()) {
        // The lease ran out while the read waited or was read (P34): confirm by ReadIndex.
        this.counts.leaseLapsed++;
        const read = q.read;
        h.later(() => {
          if (h.core.role === 'leader') this.readIndex(read);
          else h.redirect(read.client, read.reqId);
        });
        continue;
      }
      if (q.read.lease) this.counts.leaseReads++;
      if (q.read.forwarded === true) this.counts.followerReads++;
      if (q.index < q.read.floor) {
        const how = q.read.lease ? 'lease read' : 'read';
        h.ghost.fail('I15', `n${h.id} ${how} at ${q.index} < max commit ${q.read.floor} at arrival`);
      }
      h.send(q.read.client, { t: 'resp', reqId: q.read.reqId, output });
    }
    this.queue = keep;
  }

  private readIndex(read: PendingRead): void {
    const key = `${read.client}:${read.reqId}:${++this.seq}`;
    this.byContext.set(key, { ...read, lease: false });
    try {
      this.h.core.readIndex(enc.encode(key));
    } catch (err) {
      this.byContext.delete(key);
      throw err;
    }
  }

  /** Serves the read at the commit index if the lease holds; false: use ReadIndex instead. */
  private leaseRead(read: PendingRead): boolean {
    let index: number;
    try {
      index = this.h.core.leaseRead();
    } catch (err) {
      if (!isSealError(err)) throw err;
      this.counts.leaseRefused++;
      return false;
    }
    this.answered(index);
    this.queue.push({ index, read: { ...read, lease: true } });
    this.serve();
    return true;
  }

  /** I16: a read index is only handed out by a leader that has committed an entry of its term. */
  private answered(index: number): void {
    const core = this.h.core;
    const log = core.raft.log;
    const t = log.term(log.committed);
    if (core.role !== 'leader' || t !== core.term) {
      this.h.ghost.fail(
        'I16',
        `n${this.h.id} answered a read at ${index} as ${core.role} t${core.term}; commit ${log.committed} is t${t ?? '?'}`,
      );
    }
  }
}
