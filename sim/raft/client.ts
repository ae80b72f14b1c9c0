// Closed-loop clients of the Raft model: one op in flight each, sent to the server believed
// to lead, re-sent (same request id, deduplicated by the FSM sessions) on redirects and
// every retry interval, and recorded as ambiguous (pending) when the timeout expires.

import { ClientHistory } from '../client-history.ts';
import type { NodeClock } from '../clock.ts';
import type { KvCmd, KvInput, KvOutput } from '../lincheck/models.ts';
import type { RawOp } from '../lincheck/types.ts';
import type { Prng } from '../prng.ts';
import type { Scheduler } from '../queue.ts';
import type { Wire } from './wire.ts';

export interface RaftClientConfig {
  readonly servers: readonly number[];
  readonly timeoutMs: number;
  readonly retryEveryMs: number;
  readonly maxThinkMs: number;
  readonly stopAtMs: number;
  /** Reads go to a random server instead of the leader (only with the stale-read bug). */
  readonly readAnywhere: boolean;
  /**
   * Share of ops that are MULTI/EXEC batches over three registers (0 = none, and the usual
   * 4 registers and 2 lists). Such a history is checked under the whole-map model,
   * which is why the key space shrinks with it (raft.md §5, Partitioning).
   */
  readonly multiShare: number;
}

interface InFlight {
  readonly reqId: number;
  readonly cmd: KvInput;
  readonly callMs: number;
}

export class RaftClient {
  private readonly ops = new ClientHistory();
  get history(): RawOp<KvInput, KvOutput>[] {
    return this.ops.ops;
  }
  get retEvById(): Map<number, number> {
    return this.ops.retEvById;
  }
  private nextReqId = 1;
  private current: InFlight | undefined;
  private target: number;

  constructor(
    readonly id: number,
    private readonly sched: Scheduler,
    private readonly clock: NodeClock,
    private readonly rand: Prng,
    private readonly send: (from: number, to: number, w: Wire) => void,
    private readonly cfg: RaftClientConfig,
    private readonly log: (text: string) => void,
    private readonly nextOpId: () => number,
  ) {
    this.target = rand.pick(cfg.servers);
  }

  private afterLocal(localMs: number, label: string, run: () => void): void {
    this.sched.after(this.clock.virtualDelayMs(localMs), label, run);
  }

  start(): void {
    this.sched.after(this.rand.int(0, this.cfg.maxThinkMs), 'client.start', () => this.issue());
  }

  finish(): void {
    if (this.current !== undefined) this.record(this.current, 'unknown');
    this.current = undefined;
  }

  receive(from: number, w: Wire): void {
    const cur = this.current;
    if (cur === undefined || w.t === 'raft' || w.t === 'req' || w.reqId !== cur.reqId) return;
    if (w.t === 'redirect') {
      this.target = w.leader ?? this.otherServer(from);
      return;
    }
    this.current = undefined;
    this.target = from;
    this.record(cur, 'ok', w.output);
    this.log(`done #${cur.reqId}`);
    this.sched.after(this.rand.int(0, this.cfg.maxThinkMs), 'client.think', () => this.issue());
  }

  private otherServer(not: number): number {
    const others = this.cfg.servers.filter((s) => s !== not);
    return others.length === 0 ? not : this.rand.pick(others);
  }

  private drawCmd(): KvInput {
    const value = `c${this.id}-${this.nextReqId}`;
    const multi = this.cfg.multiShare;
    if (multi > 0) return this.rand.chance(multi) ? this.drawMulti(value) : this.drawSmall(value);
    if (this.rand.chance(0.3)) {
      const key = `l${this.rand.int(0, 1)}`;
      return this.rand.chance(0.5) ? { f: 'append', key, value } : { f: 'read', key };
    }
    const key = `k${this.rand.int(0, 3)}`;
    return this.rand.chance(0.5) ? { f: 'get', key } : { f: 'put', key, value };
  }

  /** One op on the small key space of MULTI/EXEC seeds: registers k0..k2. */
  private drawSmall(value: string): KvCmd {
    const key = `k${this.rand.int(0, 2)}`;
    return this.rand.chance(0.5) ? { f: 'get', key } : { f: 'put', key, value };
  }

  /**
   * An atomic batch: read two registers and write both, or read one and write another. No
   * lists here: the whole-map model would have to try every order of the pending appends.
   */
  private drawMulti(value: string): KvInput {
    const a = `k${this.rand.int(0, 2)}`;
    const b = `k${(Number(a.slice(1)) + this.rand.int(1, 2)) % 3}`;
    const cmds: KvCmd[] = this.rand.chance(0.5)
      ? [
          { f: 'get', key: a },
          { f: 'get', key: b },
          { f: 'put', key: a, value },
          { f: 'put', key: b, value },
        ]
      : [
          { f: 'get', key: a },
          { f: 'put', key: b, value },
        ];
    return { f: 'multi', cmds };
  }

  private issue(): void {
    if (this.sched.nowMs >= this.cfg.stopAtMs) return;
    const cmd = this.drawCmd();
    const cur: InFlight = { reqId: this.nextReqId++, cmd, callMs: this.sched.nowMs };
    this.current = cur;
    const keys = cmd.f === 'multi' ? cmd.cmds.map((c) => c.key).join(',') : cmd.key;
    this.log(`call #${cur.reqId} ${cmd.f} ${keys} -> n${this.target}`);
    this.transmit(cur);
    this.afterLocal(this.cfg.timeoutMs, 'client.timeout', () => this.onTimeout(cur));
  }

  private transmit(cur: InFlight): void {
    if (this.current !== cur) return;
    const isRead = cur.cmd.f === 'get' || cur.cmd.f === 'read';
    const to = isRead && this.cfg.readAnywhere ? this.rand.pick(this.cfg.servers) : this.target;
    this.send(this.id, to, { t: 'req', reqId: cur.reqId, cmd: cur.cmd });
    this.afterLocal(this.cfg.retryEveryMs, 'client.retry', () => {
      // No answer within the interval: the target may be down; try another server next.
      if (this.current === cur && this.rand.chance(0.5)) this.target = this.otherServer(this.target);
      this.transmit(cur);
    });
  }

  private onTimeout(cur: InFlight): void {
    if (this.current !== cur) return;
    this.current = undefined;
    this.record(cur, 'unknown');
    this.log(`timeout #${cur.reqId}`);
    this.sched.after(this.rand.int(0, this.cfg.maxThinkMs), 'client.think', () => this.issue());
  }

  private record(cur: InFlight, outcome: 'ok' | 'unknown', output?: KvOutput): void {
    this.ops.record(
      {
        id: this.nextOpId(),
        client: this.id,
        cmd: cur.cmd,
        callMs: cur.callMs,
        retMs: this.sched.nowMs,
        retEv: this.sched.eventCount,
      },
      outcome,
      output,
    );
  }
}
