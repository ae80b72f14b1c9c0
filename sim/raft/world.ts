// One seeded run of the Raft model: 3 or 5 real RaftCore nodes, each on the real WAL over its
// own SimDisk, under network chaos and process and disk faults, closed-loop clients, ghost
// invariants after every event, a fault-free tail that must reach liveness (I21), and a
// linearizability check of the client history. The run loop is async only so the WAL's
// promises can settle between events (see node.ts); it never waits on host time.

import { drawRate, NodeClock } from '../clock.ts';
import { checkKvHistory, formatCounterexample } from '../lincheck/index.ts';
import type { KvInput, KvOutput } from '../lincheck/models.ts';
import type { RawOp } from '../lincheck/types.ts';
import { type Envelope, SimNet } from '../net.ts';
import { drawNetFaultPlan, NetChaos } from '../netfaults.ts';
import { streamFor } from '../prng.ts';
import { Scheduler } from '../queue.ts';
import type { SeedResult } from '../run.ts';
import { failLine, faultLine, fmtEv, fmtTime, passLine, statusLine, Trace } from '../trace.ts';
import { drawActionPlan, LeaderActions } from './actions.ts';
import { RaftClient } from './client.ts';
import { describePlan, drawProcFaultPlan, drawSnapPlan, ProcChaos } from './faults.ts';
import { confKey, Ghost } from './ghost.ts';
import { drawMemberPlan, MembershipActions } from './membership.ts';
import { type RaftBug, SimRaftNode } from './node.ts';
import { viewHolds } from './wal-view.ts';
import { describeWire, type Wire } from './wire.ts';

export interface RaftRunOptions {
  readonly untilEv?: number;
  /** Virtual ms with client ops and faults; a fault-free settle phase follows. */
  readonly workloadMs?: number;
  readonly bug?: RaftBug;
  /** Followers serve reads through a ReadIndex forwarded to the leader; clients read anywhere. */
  readonly followerReads?: boolean;
}

/** Clock-rate error of every node; the core's lease assumes ρ = 1% (its default), so this is within. */
const CLOCK_RHO_PPM = 1000;
/** Only in the labelled negative run: each server runs 65% slow or fast, far beyond that ρ. */
const SLOW_BEYOND_RHO = 0.35;
/** I21 asks for ≥ 6 election timeouts after the faults stop. */
const SETTLE_MS = 6500;
const STATUS_EVERY_EVENTS = 1000;
const KEEP_EVENTS_BEFORE = 300;
/** A healthy run needs ~10^4 events; far more means messages ping-pong without progress. */
const MAX_EVENTS = 300_000;

interface World {
  readonly sched: Scheduler;
  readonly trace: Trace;
  readonly ghost: Ghost;
  readonly nodes: SimRaftNode[];
  readonly clients: RaftClient[];
  readonly netChaos: NetChaos<Wire>;
  readonly procChaos: ProcChaos;
  readonly actions: LeaderActions;
  readonly members: MembershipActions;
}

const RESOLVED = Promise.resolve();
/** Microtask turns one event's WAL work may take; far more means a WAL waits on nothing. */
const MAX_SETTLE_TURNS = 100_000;

/** Lets every node's WAL work run until it is done or parked at a disk gate. */
export async function settle(nodes: readonly SimRaftNode[]): Promise<void> {
  for (let turns = 0; nodes.some((n) => n.busy); turns++) {
    if (turns >= MAX_SETTLE_TURNS)
      throw new Error('WAL work did not settle: a promise waits outside the gate');
    await RESOLVED;
  }
}

function status(nodes: readonly SimRaftNode[], ghost: Ghost): string {
  const leaders = [...ghost.leaderOf.entries()].slice(-3).map(([t, n]) => `${t}:${n}`);
  return `${nodes.map((n) => `[${n.label()}]`).join(' ')} leaders={${leaders.join(',')}}`;
}

function buildWorld(seed: number, opts: RaftRunOptions, workloadMs: number): World {
  const sched = new Scheduler();
  const until = opts.untilEv;
  const trace = new Trace(
    until === undefined ? undefined : { fromEv: until - KEEP_EVENTS_BEFORE, toEv: until },
  );
  const emit = (text: string): void => trace.line(sched.eventCount, text);
  const ghost = new Ghost(() => sched.eventCount);
  const size = streamFor(seed, 'cluster').chance(0.7) ? 3 : 5;
  // Membership seeds hold one spare server that starts outside the configuration.
  const confBug = opts.bug === 'two-pending-conf' || opts.bug === 'learner-campaign';
  const memberPlan = confBug ? { confEveryMs: 400 } : drawMemberPlan(streamFor(seed, 'member.plan'));
  const initial = Array.from({ length: size }, (_, i) => i + 1);
  const servers = memberPlan.confEveryMs > 0 ? [...initial, size + 1] : initial;
  const clientIds = Array.from({ length: 3 + streamFor(seed, 'clients').int(0, 2) }, (_, i) => 101 + i);
  const netPlan = drawNetFaultPlan(streamFor(seed, 'net.plan'));
  const procPlan = drawProcFaultPlan(streamFor(seed, 'proc.plan'));
  const snapPlan = drawSnapPlan(streamFor(seed, 'snap.plan'));
  const actionPlan = drawActionPlan(streamFor(seed, 'action.plan'));
  // A quarter of the seeds run MULTI/EXEC batches (a fifth of their ops) on a smaller key space.
  const multiShare = streamFor(seed, 'workload.plan').chance(0.25) ? 0.2 : 0;
  // The labelled negative run: clocks far beyond the ρ the lease assumes, every read on the lease.
  const beyondRho = opts.bug === 'clock-beyond-rho';
  const leaseShare = beyondRho ? 1 : actionPlan.leaseShare;
  // Slow clocks rarely win elections; frequent transfers make them lead too.
  const actions = beyondRho ? { transferEveryMs: 700, leaseShare } : actionPlan;
  const route = new Map<number, (from: number, w: Wire) => void>();
  const nodes: SimRaftNode[] = [];
  const who = (id: number): string => nodes[id - 1]?.label() ?? `c${id}`;
  const deliver = (msg: Envelope<Wire>): void => {
    const text = `recv ${msg.from}->${msg.to} ${describeWire(msg.payload)}`;
    const w = msg.payload;
    const snapTo = w.t === 'raft' && w.m.type === 'Snap' && nodes[msg.to - 1]?.alive === true;
    route.get(msg.to)?.(msg.from, msg.payload);
    // The snapshot stream completed: its sender hears so (the real node's reportSnapshot).
    if (snapTo && w.t === 'raft') nodes[msg.from - 1]?.snapshotDelivered(msg.to, w.m.term);
    emit(`${fmtTime(sched.nowMs)} ${fmtEv(sched.eventCount)} ${who(msg.to)} | ${text}`);
  };
  const fault = (text: string): void => {
    emit(faultLine(sched.nowMs, sched.eventCount, text));
    emit(statusLine(sched.nowMs, sched.eventCount, status(nodes, ghost)));
  };
  const net = new SimNet<Wire>(sched, streamFor(seed, 'net'), [...servers, ...clientIds], netPlan.rates, {
    deliver,
    fault,
  });
  const send = (from: number, to: number, w: Wire): void => net.send(from, to, w);
  // Every server, the spare too, boots with the initial membership (it is not in the log).
  const conf = { voters: initial.map(String), learners: [] };
  const diskRands = servers.map((id) => streamFor(seed, `disk.fault.${id}`));
  // The fault scheduler needs the nodes and the nodes report deaths to it: bound after both exist.
  let chaos: ProcChaos | undefined;
  for (const id of servers) {
    const rates = streamFor(seed, `clock.${id}`);
    const rate = beyondRho
      ? rates.chance(0.5)
        ? SLOW_BEYOND_RHO
        : 2 - SLOW_BEYOND_RHO
      : drawRate(rates, CLOCK_RHO_PPM);
    const clock = new NodeClock(sched, rate);
    const node = new SimRaftNode(id, conf, {
      sched,
      clock,
      send,
      ghost,
      jitter: streamFor(seed, `jitter.${id}`),
      disk: streamFor(seed, `disk.${id}`),
      salt: streamFor(seed, `wal.salt.${id}`),
      maxFsyncMs: procPlan.maxFsyncMs,
      segmentBytes: procPlan.segmentBytes,
      snapEvery: snapPlan.every,
      snapRetain: snapPlan.retain,
      snapConcurrent: snapPlan.concurrent,
      leaseShare,
      lease: streamFor(seed, `lease.${id}`),
      bug: opts.bug,
      followerReads: opts.followerReads === true,
      log: (n, text) => emit(`${fmtTime(sched.nowMs)} ${fmtEv(sched.eventCount)} ${n.label()} ${text}`),
      diskFault: (n, op) => chaos?.diskFault(n, op),
      onDeath: (n, verb, detail) => chaos?.died(n, verb, detail),
    });
    nodes.push(node);
    route.set(id, (from, w) => node.receive(from, w));
  }
  let opId = 0;
  const clients = clientIds.map((id) => {
    const clock = new NodeClock(sched, drawRate(streamFor(seed, `clock.${id}`), CLOCK_RHO_PPM));
    const log = (text: string): void =>
      emit(`${fmtTime(sched.nowMs)} ${fmtEv(sched.eventCount)} c${id} ${text}`);
    const cfg = {
      servers: initial,
      timeoutMs: 1500,
      retryEveryMs: 120,
      maxThinkMs: 30,
      stopAtMs: workloadMs,
      readAnywhere: opts.bug === 'stale-read' || opts.followerReads === true,
      multiShare,
    };
    const c = new RaftClient(id, sched, clock, streamFor(seed, `client.${id}`), send, cfg, log, () => opId++);
    route.set(id, (from, w) => c.receive(from, w));
    return c;
  });
  const leaderHint = (): number | undefined => nodes.find((n) => n.alive && n.roleLetter() === 'L')?.id;
  const netChaos = new NetChaos(sched, net, streamFor(seed, 'net.chaos'), netPlan, servers, leaderHint);
  const durableQuorum = (): void => {
    const views = nodes.map((n) => n.durableView());
    ghost.durableQuorum(views.map((v) => (i: number, t: number | undefined) => viewHolds(v, i, t)));
  };
  const procChaos = new ProcChaos(
    sched,
    streamFor(seed, 'proc.chaos'),
    procPlan,
    nodes,
    diskRands,
    fault,
    durableQuorum,
  );
  chaos = procChaos;
  const leaderActions = new LeaderActions(
    sched,
    streamFor(seed, 'actions'),
    actions,
    nodes,
    ghost.leaderOf,
    (text) => {
      emit(faultLine(sched.nowMs, sched.eventCount, text));
    },
  );
  const members = new MembershipActions(
    sched,
    streamFor(seed, 'member'),
    memberPlan,
    nodes,
    (text) => emit(faultLine(sched.nowMs, sched.eventCount, text)),
    opts.bug === 'two-pending-conf',
  );
  const confPlan = memberPlan.confEveryMs > 0 ? ` conf/${memberPlan.confEveryMs}ms spare=n${size + 1}` : '';
  emit(
    `plan n=${size}${confPlan} clients=${clientIds.length} ${describePlan(procPlan)} snap=${snapPlan.every}/${snapPlan.retain}${snapPlan.concurrent ? '/bg' : ''} transfer/${actions.transferEveryMs}ms lease=${leaseShare} multi=${multiShare} drop=${netPlan.rates.dropP.toFixed(3)}`,
  );
  return { sched, trace, ghost, nodes, clients, netChaos, procChaos, actions: leaderActions, members };
}

/** Runs events to endMs; checks the ghost invariants after each. Stops at the first violation. */
async function drive(w: World, endMs: number, untilEv: number | undefined): Promise<void> {
  const { sched, nodes, ghost } = w;
  const voters = nodes.map((n) => ({
    id: n.id,
    termAt: (i: number) => n.synced.termAt(i),
    get snapIndex() {
      return n.synced.snapshot.index;
    },
  }));
  await settle(nodes);
  for (;;) {
    if (untilEv !== undefined && sched.eventCount >= untilEv) return;
    const next = sched.nextTimeMs();
    if (next === undefined || next > endMs) return;
    sched.step();
    if (nodes.some((n) => n.busy)) await settle(nodes);
    for (const n of nodes) n.check();
    ghost.checkAcks();
    ghost.commitQuorum(voters);
    if (sched.eventCount >= MAX_EVENTS) {
      ghost.fail(
        'BUDGET',
        `${MAX_EVENTS} events by t=${sched.nowMs.toFixed(3)}: a message storm without progress`,
      );
    }
    if (ghost.violation !== undefined) return;
    if (sched.eventCount % STATUS_EVERY_EVENTS === 0) {
      w.trace.line(sched.eventCount, statusLine(sched.nowMs, sched.eventCount, status(nodes, ghost)));
    }
  }
}

/**
 * I21: after the settle phase there is one leader and every member of its configuration,
 * learners included, agrees on commit, applied and FSM. A node outside it (removed, or a
 * spare never added) is left behind by design and only has to be up.
 */
function liveness(w: World): string | undefined {
  const leaders = w.nodes.filter((n) => n.alive && n.roleLetter() === 'L');
  if (leaders.length !== 1) return `${leaders.length} leaders after settling`;
  const ref = leaders[0]!;
  const conf = ref.confState();
  for (const n of w.nodes) {
    const a = n.core.raft.log;
    const b = ref.core.raft.log;
    if (!n.alive) return `n${n.id} still down`;
    if (!conf.voters.includes(n.sid) && !conf.learners.includes(n.sid)) continue;
    if (confKey(n.confState()) !== confKey(conf)) return `n${n.id} holds config ${confKey(n.confState())}`;
    if (a.committed !== b.committed || n.fsm.applied !== ref.fsm.applied) {
      return `n${n.id} c${a.committed}/a${n.fsm.applied} vs n${ref.id} c${b.committed}/a${ref.fsm.applied}`;
    }
    if (n.fsm.stateHash() !== ref.fsm.stateHash()) return `n${n.id} FSM hash differs from n${ref.id}`;
  }
  return undefined;
}

function diskImages(nodes: readonly SimRaftNode[]): Map<string, string> {
  return new Map(nodes.map((n) => [`disk-n${n.id}.txt`, n.dumpDisk()]));
}

function runStats(w: World): Map<string, number> {
  const out = new Map<string, number>();
  const add = (k: string, v: number): void => {
    out.set(k, (out.get(k) ?? 0) + v);
  };
  for (const [k, v] of w.procChaos.counts) add(k, v);
  for (const [k, v] of w.actions.counts) add(k, v);
  for (const [k, v] of w.members.counts) add(k, v);
  for (const c of w.clients)
    for (const o of c.history) if (o.input.f === 'multi' && o.outcome === 'ok') add('ops.multi', 1);
  for (const n of w.nodes) for (const [k, v] of Object.entries(n.counters())) add(k, v);
  return out;
}

function evOf(clients: readonly RaftClient[], opId: number): number {
  for (const c of clients) {
    const ev = c.retEvById.get(opId);
    if (ev !== undefined) return ev;
  }
  return 0;
}

export async function runRaftSeed(seed: number, opts: RaftRunOptions = {}): Promise<SeedResult> {
  const workloadMs = opts.workloadMs ?? 10000;
  const w = buildWorld(seed, opts, workloadMs);
  for (const c of w.clients) c.start();
  w.netChaos.start();
  w.procChaos.start();
  w.actions.start();
  w.members.start();
  w.sched.at(workloadMs, 'chaos.stop', () => {
    w.netChaos.stop();
    w.procChaos.stop();
    w.actions.stop();
    w.members.stop();
  });
  const endMs = workloadMs + SETTLE_MS;
  await drive(w, endMs, opts.untilEv);
  // The state where the run stopped (a violation or --until-ev), for the replay's last line.
  w.trace.line(w.sched.eventCount, statusLine(w.sched.nowMs, w.sched.eventCount, status(w.nodes, w.ghost)));
  for (const c of w.clients) c.finish();
  const history: RawOp<KvInput, KvOutput>[] = w.clients.flatMap((c) => c.history).sort((a, b) => a.id - b.id);
  const events = w.sched.eventCount;
  const vtimeMs = w.sched.nowMs;
  const v = w.ghost.violation;
  const ranToEnd = v === undefined && (opts.untilEv === undefined || events < opts.untilEv);
  let summary = passLine(seed, events, vtimeMs, history.length);
  let detail: string | undefined;
  let failEv = events;
  let verdict: SeedResult['verdict'] = 'ok';
  if (v !== undefined) {
    verdict = 'illegal';
    failEv = v.ev;
    summary = failLine(seed, v.ev, v.invariant, v.detail);
  } else {
    const live = ranToEnd ? liveness(w) : undefined;
    const check = checkKvHistory(history, {
      caps: { maxOps: 2000, maxSteps: 2_000_000 },
      shrink: { maxChecks: 200 },
    });
    const bad = check.partitions.find((p) => p.verdict !== 'ok');
    if (bad?.verdict === 'illegal') {
      const cx = bad.counterexample!;
      verdict = 'illegal';
      failEv = Math.max(0, ...cx.ops.filter((o) => Number.isFinite(o.ret)).map((o) => evOf(w.clients, o.id)));
      summary = failLine(
        seed,
        failEv,
        'LIN',
        `key=${cx.key} not linearizable; ${cx.ops.length} ops after shrinking`,
      );
      detail = formatCounterexample(check.modelOf(bad.key), cx);
    } else if (live !== undefined) {
      verdict = 'illegal';
      summary = failLine(seed, events, 'I21', live);
    } else if (bad !== undefined) {
      verdict = 'unknown';
      detail = `lincheck unknown on key=${bad.key}: ${bad.reason ?? 'cap reached'}`;
    }
  }
  w.trace.hashOnly(events, summary);
  const result = {
    seed,
    verdict,
    events,
    failEv,
    vtimeMs,
    ops: history.length,
    summary,
    history,
    traceHash: w.trace.digestHex(),
    keptLines: w.trace.kept,
    stats: runStats(w),
    ...(verdict === 'illegal' ? { artifacts: diskImages(w.nodes) } : {}),
  };
  return detail === undefined ? result : { ...result, detail };
}
