// HARNESS SMOKE MODEL: closed-loop clients, one op in flight each, with retries on the
// same request id and a timeout after which the op is recorded as ambiguous (pending).

import { ClientHistory } from '../client-history.ts';
import type { NodeClock } from '../clock.ts';
import type { KvCmd, KvInput, KvOutput } from '../lincheck/models.ts';
import { describeKvOp } from '../lincheck/models.ts';
import type { RawOp } from '../lincheck/types.ts';
import type { NodeId, SimNet } from '../net.ts';
import type { Prng } from '../prng.ts';
import type { Scheduler } from '../queue.ts';
import type { SmokeMsg } from './protocol.ts';

export interface ClientConfig {
  readonly registerKeys: number;
  readonly listKeys: number;
  readonly timeoutMs: number;
  readonly retryEveryMs: number;
  readonly maxThinkMs: number;
  /** Clients stop starting new ops at this virtual time. */
  readonly stopAtMs: number;
  /** Where reads go: the primary, or (deliberately broken) any server. */
  readonly readTargets: readonly NodeId[];
}

export interface ClientEnv {
  readonly net: SimNet<SmokeMsg>;
  readonly sched: Scheduler;
  readonly rand: Prng;
  readonly clock: NodeClock;
}

interface InFlight {
  readonly reqId: number;
  readonly cmd: KvCmd;
  readonly callMs: number;
  readonly target: NodeId;
}

export class SmokeClient {
  private readonly ops = new ClientHistory();
  get history(): RawOp<KvInput, KvOutput>[] {
    return this.ops.ops;
  }
  /** Event number at which each op (by id) completed: where a violation becomes visible. */
  get retEvById(): Map<number, number> {
    return this.ops.retEvById;
  }
  private nextReqId = 1;
  private current: InFlight | undefined;

  private readonly net: SimNet<SmokeMsg>;
  private readonly sched: Scheduler;
  private readonly rand: Prng;
  private readonly clock: NodeClock;

  constructor(
    readonly id: NodeId,
    private readonly primary: NodeId,
    env: ClientEnv,
    private readonly cfg: ClientConfig,
    private readonly log: (text: string) => void,
    private readonly nextOpId: () => number,
  ) {
    this.net = env.net;
    this.sched = env.sched;
    this.rand = env.rand;
    this.clock = env.clock;
  }

  /** Virtual delay until the client's own (rate-skewed) clock has advanced by localMs. */
  private afterLocal(localMs: number, label: string, run: () => void): void {
    this.sched.after(this.clock.virtualDelayMs(localMs), label, run);
  }

  start(): void {
    this.sched.after(this.rand.int(0, this.cfg.maxThinkMs), 'client.start', () => this.issue());
  }

  /** Ops still in flight when the run ends count as ambiguous. */
  finish(): void {
    if (this.current !== undefined) this.record(this.current, 'unknown');
    this.current = undefined;
  }

  receive(m: SmokeMsg): void {
    const cur = this.current;
    if (m.t !== 'resp' || cur === undefined || m.reqId !== cur.reqId) return;
    this.current = undefined;
    this.record(cur, 'ok', m.output);
    this.log(`done #${cur.reqId} ${describeKvOp(cur.cmd, m.output)}`);
    this.thinkThenIssue();
  }

  private drawCmd(): KvCmd {
    const value = `c${this.id}-${this.nextReqId}`;
    const c = this.cfg;
    if (c.listKeys > 0 && this.rand.chance(0.3)) {
      const key = `l${this.rand.int(0, c.listKeys - 1)}`;
      return this.rand.chance(0.5) ? { f: 'append', key, value } : { f: 'read', key };
    }
    const key = `k${this.rand.int(0, c.registerKeys - 1)}`;
    const r = this.rand.int(0, 5);
    if (r <= 2) return { f: 'get', key };
    if (r <= 4) return { f: 'put', key, value };
    return {
      f: 'cas',
      key,
      expect: this.rand.chance(0.2) ? null : `c${this.rand.int(1, 9)}-${this.rand.int(1, 20)}`,
      value,
    };
  }

  private issue(): void {
    if (this.sched.nowMs >= this.cfg.stopAtMs) return;
    const cmd = this.drawCmd();
    const isRead = cmd.f === 'get' || cmd.f === 'read';
    const target = isRead ? this.rand.pick(this.cfg.readTargets) : this.primary;
    const cur: InFlight = { reqId: this.nextReqId++, cmd, callMs: this.sched.nowMs, target };
    this.current = cur;
    this.log(`call #${cur.reqId} ${describeKvOp(cmd, undefined)} -> n${target}`);
    this.send(cur);
    this.afterLocal(this.cfg.timeoutMs, 'client.timeout', () => this.onTimeout(cur));
  }

  private send(cur: InFlight): void {
    if (this.current !== cur) return;
    this.net.send(this.id, cur.target, { t: 'req', reqId: cur.reqId, cmd: cur.cmd });
    this.afterLocal(this.cfg.retryEveryMs, 'client.retry', () => this.send(cur));
  }

  private onTimeout(cur: InFlight): void {
    if (this.current !== cur) return;
    this.current = undefined;
    this.record(cur, 'unknown');
    this.log(`timeout #${cur.reqId}`);
    this.thinkThenIssue();
  }

  private thinkThenIssue(): void {
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
