// One seeded simulation run: builds the world from the seed, runs it to the end (or to
// --until-ev), checks the client history for linearizability and hashes the trace.
// The default world is the Raft model (sim/raft/); the primary-backup HARNESS SMOKE MODEL
// (sim/smoke/) stays selectable for harness self-tests.

import { drawRate, NodeClock } from './clock.ts';
import { checkKvHistory, formatCounterexample } from './lincheck/index.ts';
import type { KvInput, KvOutput } from './lincheck/models.ts';
import type { RawOp, Verdict } from './lincheck/types.ts';
import { type Envelope, SimNet } from './net.ts';
import { drawNetFaultPlan, NetChaos } from './netfaults.ts';
import { streamFor } from './prng.ts';
import { Scheduler } from './queue.ts';
import type { RaftBug } from './raft/node.ts';
import { runRaftSeed } from './raft/world.ts';
import { type ClientConfig, SmokeClient } from './smoke/client.ts';
import { describeMsg, type SmokeMsg } from './smoke/protocol.ts';
import { SmokeBackup, SmokePrimary } from './smoke/server.ts';
import { failLine, faultLine, fmtEv, fmtTime, passLine, statusLine, Trace } from './trace.ts';

export type SimModel = 'raft' | 'smoke';
export type SimBug = 'stale-read' | RaftBug;

export interface RunOptions {
  /** Which world to simulate; default raft. */
  readonly model?: SimModel;
  /** Stop after this event number and keep the log lines just before it. */
  readonly untilEv?: number;
  /** Virtual ms during which clients start ops and faults are injected. */
  readonly workloadMs?: number;
  /** Deliberately broken variant for self-tests of the checker wiring. */
  readonly bug?: SimBug;
  /** Raft model: followers serve reads through a ReadIndex forwarded to the leader. */
  readonly followerReads?: boolean;
}

export interface SeedResult {
  readonly seed: number;
  readonly verdict: Verdict;
  readonly events: number;
  /** Event at which the violation became visible (the run's last event when passing). */
  readonly failEv: number;
  readonly vtimeMs: number;
  readonly ops: number;
  readonly traceHash: string;
  /** PASS or FAIL line. */
  readonly summary: string;
  /** Counterexample report when the verdict is not ok. */
  readonly detail?: string;
  readonly keptLines: readonly string[];
  readonly history: readonly RawOp<KvInput, KvOutput>[];
  /** Fault and recovery counters of the run (kills by point, tears, disk errors, repairs…). */
  readonly stats?: ReadonlyMap<string, number>;
  /** Extra files for a failing run's sim/out/<seed>/ (e.g. each node's durable disk image). */
  readonly artifacts?: ReadonlyMap<string, string>;
}

const SERVERS = [1, 2, 3];
const PRIMARY = 1;
const CLIENTS = [101, 102, 103, 104];
const SETTLE_MS = 1500;
const STATUS_EVERY_EVENTS = 1000;
const KEEP_EVENTS_BEFORE = 300;
const CLOCK_RHO_PPM = 100;

interface World {
  readonly sched: Scheduler;
  readonly trace: Trace;
  readonly primary: SmokePrimary;
  readonly backups: SmokeBackup[];
  readonly clients: SmokeClient[];
  readonly chaos: NetChaos<SmokeMsg>;
}

function buildWorld(seed: number, opts: RunOptions, workloadMs: number): World {
  const sched = new Scheduler();
  const until = opts.untilEv;
  const trace = new Trace(
    until === undefined ? undefined : { fromEv: until - KEEP_EVENTS_BEFORE, toEv: until },
  );
  const emit = (text: string): void => trace.line(sched.eventCount, text);
  const plan = drawNetFaultPlan(streamFor(seed, 'net.plan'));
  const route = new Map<number, { receive(from: number, m: SmokeMsg): void }>();
  const deliver = (msg: Envelope<SmokeMsg>): void => {
    const text = `recv ${msg.from}->${msg.to} ${describeMsg(msg.payload)}`;
    emit(`${fmtTime(sched.nowMs)} ${fmtEv(sched.eventCount)} ${whoIs(msg.to)} | ${text}`);
    route.get(msg.to)?.receive(msg.from, msg.payload);
  };
  const fault = (text: string): void => {
    emit(faultLine(sched.nowMs, sched.eventCount, text));
    emit(statusLine(sched.nowMs, sched.eventCount, status(primary, backups)));
  };
  const net = new SimNet<SmokeMsg>(sched, streamFor(seed, 'net'), [...SERVERS, ...CLIENTS], plan.rates, {
    deliver,
    fault,
  });
  const primary = new SmokePrimary(PRIMARY, SERVERS.slice(1), net, sched);
  const backups = SERVERS.slice(1).map((id) => new SmokeBackup(id, net, opts.bug === 'stale-read'));
  const whoIs = (id: number): string => {
    if (id === PRIMARY) return `n${id} P s${primary.commitSeq}`;
    const b = backups.find((x) => x.id === id);
    return b === undefined ? `c${id}` : `n${id} B a${b.appliedSeq}`;
  };
  route.set(PRIMARY, primary);
  for (const b of backups) route.set(b.id, b);
  const clients = makeClients(seed, { sched, net, route, emit }, clientConfig(opts, workloadMs));
  const chaos = new NetChaos(sched, net, streamFor(seed, 'net.chaos'), plan, SERVERS, () => PRIMARY);
  return { sched, trace, primary, backups, clients, chaos };
}

function clientConfig(opts: RunOptions, workloadMs: number): ClientConfig {
  return {
    registerKeys: 4,
    listKeys: 2,
    timeoutMs: 250,
    retryEveryMs: 60,
    maxThinkMs: 20,
    stopAtMs: workloadMs,
    readTargets: opts.bug === 'stale-read' ? SERVERS : [PRIMARY],
  };
}

interface Wiring {
  readonly sched: Scheduler;
  readonly net: SimNet<SmokeMsg>;
  readonly route: Map<number, { receive(from: number, m: SmokeMsg): void }>;
  readonly emit: (text: string) => void;
}

function makeClients(seed: number, w: Wiring, cfg: ClientConfig): SmokeClient[] {
  const { sched, net } = w;
  let opId = 0;
  return CLIENTS.map((id) => {
    const log = (text: string): void =>
      w.emit(`${fmtTime(sched.nowMs)} ${fmtEv(sched.eventCount)} c${id} ${text}`);
    const clock = new NodeClock(sched, drawRate(streamFor(seed, `clock.${id}`), CLOCK_RHO_PPM));
    const rand = streamFor(seed, `client.${id}`);
    const c = new SmokeClient(id, PRIMARY, { net, sched, rand, clock }, cfg, log, () => opId++);
    w.route.set(id, { receive: (_from, m) => c.receive(m) });
    return c;
  });
}

function status(primary: SmokePrimary, backups: readonly SmokeBackup[]): string {
  const p = `[n${primary.id} P s${primary.commitSeq}]`;
  const b = backups.map((x) => `[n${x.id} B a${x.appliedSeq}]`).join(' ');
  return `${p} ${b}`;
}

function drive(w: World, endMs: number, untilEv: number | undefined): void {
  const { sched } = w;
  for (;;) {
    if (untilEv !== undefined && sched.eventCount >= untilEv) return;
    const next = sched.nextTimeMs();
    if (next === undefined || next > endMs) return;
    sched.step();
    if (sched.eventCount % STATUS_EVERY_EVENTS === 0) {
      w.trace.line(sched.eventCount, statusLine(sched.nowMs, sched.eventCount, status(w.primary, w.backups)));
    }
  }
}

function evOf(maps: readonly ReadonlyMap<number, number>[], opId: number): number {
  for (const m of maps) {
    const ev = m.get(opId);
    if (ev !== undefined) return ev;
  }
  return 0;
}

/**
 * Async because the Raft model runs the real, promise-based WAL: the run loop lets its
 * microtasks settle between queue events (sim/raft/node.ts). It never waits on host time.
 */
export async function runSeed(seed: number, opts: RunOptions = {}): Promise<SeedResult> {
  if ((opts.model ?? 'raft') === 'raft') {
    const bug = opts.bug;
    return runRaftSeed(seed, {
      ...(opts.untilEv === undefined ? {} : { untilEv: opts.untilEv }),
      ...(opts.workloadMs === undefined ? {} : { workloadMs: opts.workloadMs }),
      ...(bug === undefined ? {} : { bug }),
      ...(opts.followerReads === true ? { followerReads: true } : {}),
    });
  }
  return runSmokeSeed(seed, opts);
}

function runSmokeSeed(seed: number, opts: RunOptions): SeedResult {
  const workloadMs = opts.workloadMs ?? 3000;
  const w = buildWorld(seed, opts, workloadMs);
  for (const c of w.clients) c.start();
  w.chaos.start();
  w.sched.at(workloadMs, 'chaos.stop', () => w.chaos.stop());
  drive(w, workloadMs + SETTLE_MS, opts.untilEv);
  for (const c of w.clients) c.finish();
  const history = w.clients.flatMap((c) => c.history).sort((a, b) => a.id - b.id);
  const check = checkKvHistory(history, {
    caps: { maxOps: 2000, maxSteps: 2_000_000 },
    shrink: { maxChecks: 200 },
  });
  const events = w.sched.eventCount;
  const vtimeMs = w.sched.nowMs;
  const bad = check.partitions.find((p) => p.verdict !== 'ok');
  let summary = passLine(seed, events, vtimeMs, history.length);
  let detail: string | undefined;
  let failEv = events;
  if (bad?.verdict === 'illegal') {
    const cx = bad.counterexample!;
    const retEvs = w.clients.map((c) => c.retEvById);
    failEv = Math.max(0, ...cx.ops.filter((o) => Number.isFinite(o.ret)).map((o) => evOf(retEvs, o.id)));
    summary = failLine(
      seed,
      failEv,
      'LIN',
      `key=${cx.key} not linearizable; ${cx.ops.length} ops after shrinking`,
    );
    detail = formatCounterexample(check.modelOf(bad.key), cx);
  } else if (bad !== undefined) {
    detail = `lincheck unknown on key=${bad.key}: ${bad.reason ?? 'cap reached'}`;
  }
  w.trace.hashOnly(events, summary);
  const base = {
    seed,
    verdict: check.verdict,
    events,
    failEv,
    vtimeMs,
    ops: history.length,
    summary,
    history,
  };
  const result = { ...base, traceHash: w.trace.digestHex(), keptLines: w.trace.kept };
  return detail === undefined ? result : { ...result, detail };
}
