// HARNESS SMOKE MODEL: one fixed primary that executes every command and replicates writes
// to backups, answering a write once a majority holds it. It never fails over, so it is
// linearizable by construction unless `staleBackupReads` deliberately breaks it.

import type { KvCmd, KvOutput } from '../lincheck/models.ts';
import type { NodeId, SimNet } from '../net.ts';
import type { Scheduler } from '../queue.ts';
import { execCmd, isWrite, type SmokeMsg, type Store } from './protocol.ts';

const RESEND_EVERY_MS = 40;
const RESEND_BATCH = 16;

interface ClientSlot {
  reqId: number;
  output?: KvOutput;
}

export class SmokePrimary {
  readonly store: Store = new Map();
  private readonly log: KvCmd[] = [];
  private readonly acked = new Map<NodeId, number>();
  private readonly clients = new Map<NodeId, ClientSlot>();
  private readonly waiting: { seq: number; client: NodeId; reqId: number; output: KvOutput }[] = [];

  constructor(
    readonly id: NodeId,
    private readonly backups: readonly NodeId[],
    private readonly net: SimNet<SmokeMsg>,
    private readonly sched: Scheduler,
  ) {
    for (const b of backups) this.acked.set(b, 0);
    sched.after(RESEND_EVERY_MS, 'primary.resend', () => this.resendTick());
  }

  get commitSeq(): number {
    const acks = [...this.acked.values()].sort((a, b) => b - a);
    const needed = Math.floor((this.backups.length + 1) / 2);
    return needed === 0 ? this.log.length : (acks[needed - 1] ?? 0);
  }

  receive(from: NodeId, m: SmokeMsg): void {
    if (m.t === 'req') this.onRequest(from, m.reqId, m.cmd);
    else if (m.t === 'ack') this.onAck(from, m.seq);
  }

  private onRequest(client: NodeId, reqId: number, cmd: KvCmd): void {
    const slot = this.clients.get(client);
    if (slot !== undefined && reqId < slot.reqId) return;
    if (slot !== undefined && reqId === slot.reqId) {
      if (slot.output !== undefined)
        this.net.send(this.id, client, { t: 'resp', reqId, output: slot.output });
      return;
    }
    this.clients.set(client, { reqId });
    const output = execCmd(this.store, cmd);
    if (!isWrite(cmd)) {
      this.reply(client, reqId, output);
      return;
    }
    this.log.push(cmd);
    const seq = this.log.length;
    for (const b of this.backups) this.net.send(this.id, b, { t: 'repl', seq, cmd });
    this.waiting.push({ seq, client, reqId, output });
    this.releaseCommitted();
  }

  private onAck(backup: NodeId, seq: number): void {
    if (seq > (this.acked.get(backup) ?? 0)) this.acked.set(backup, seq);
    this.releaseCommitted();
  }

  private releaseCommitted(): void {
    const commit = this.commitSeq;
    while (this.waiting.length > 0 && this.waiting[0]!.seq <= commit) {
      const w = this.waiting.shift()!;
      this.reply(w.client, w.reqId, w.output);
    }
  }

  private reply(client: NodeId, reqId: number, output: KvOutput): void {
    const slot = this.clients.get(client);
    if (slot !== undefined && slot.reqId === reqId) slot.output = output;
    this.net.send(this.id, client, { t: 'resp', reqId, output });
  }

  private resendTick(): void {
    for (const b of this.backups) {
      const from = this.acked.get(b)!;
      const to = Math.min(this.log.length, from + RESEND_BATCH);
      for (let seq = from + 1; seq <= to; seq++)
        this.net.send(this.id, b, { t: 'repl', seq, cmd: this.log[seq - 1]! });
    }
    this.sched.after(RESEND_EVERY_MS, 'primary.resend', () => this.resendTick());
  }
}

export class SmokeBackup {
  readonly store: Store = new Map();
  private applied = 0;
  private readonly pending = new Map<number, KvCmd>();

  constructor(
    readonly id: NodeId,
    private readonly net: SimNet<SmokeMsg>,
    private readonly staleReads: boolean,
  ) {}

  get appliedSeq(): number {
    return this.applied;
  }

  receive(from: NodeId, m: SmokeMsg): void {
    if (m.t === 'repl') this.onRepl(from, m.seq, m.cmd);
    else if (m.t === 'req' && this.staleReads && !isWrite(m.cmd)) {
      // Deliberate bug for checker self-tests: serve reads from a lagging replica.
      this.net.send(this.id, from, { t: 'resp', reqId: m.reqId, output: execCmd(this.store, m.cmd) });
    }
  }

  private onRepl(primary: NodeId, seq: number, cmd: KvCmd): void {
    if (seq > this.applied) this.pending.set(seq, cmd);
    while (this.pending.has(this.applied + 1)) {
      const next = this.applied + 1;
      execCmd(this.store, this.pending.get(next)!);
      this.pending.delete(next);
      this.applied = next;
    }
    this.net.send(this.id, primary, { t: 'ack', seq: this.applied });
  }
}
