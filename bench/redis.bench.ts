import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ClusterSpec,
  freeBasePort,
  freePort,
  type LaunchedNode,
  startNode,
  waitForLeader,
} from '../src/server/launcher.ts';
import { exitWatch, stopProc, waitForPong } from './cluster.ts';
import type { BenchRow, BenchSuite } from './harness.ts';
import { type RedisBenchResult, runRedisBenchmark } from './redis-benchmark.ts';

// redis-benchmark SET/GET against redis-server with an fsync-per-write AOF (the
// closest durability to a Raft commit that redis-server offers on one box) and
// against a 3-node sealkv cluster on loopback, in the same invocation so both
// see the same machine load. Followers forward to the leader; one run against a
// follower shows what that hop costs.
//
// Three more references, for reading the ratios rather than for the target: a
// Node server that parses each command and sends a canned reply (the floor of
// any Node server here), the least a 3-node Raft group in Node does per write
// (replication-floor.ts: two sequential durable writes, canned replies), and
// sealkv as a single node (everything but replication).

const CLIENTS = 50;
const PIPELINES = [1, 16];
const TARGET = '>= 0.3x redis-server';

function exitedOf(proc: ChildProcess): Promise<number | string> {
  return new Promise((res) => proc.once('exit', (code, sig) => res(code ?? sig ?? -1)));
}

type Label =
  | 'redis-server'
  | 'node floor'
  | 'replication floor'
  | 'sealkv 1-node'
  | 'sealkv leader'
  | 'sealkv follower';
/** The rows the target applies to. */
const TARGETED: readonly Label[] = ['sealkv leader', 'sealkv follower'];
interface Measured {
  label: Label;
  pipeline: number;
  results: RedisBenchResult[];
}

async function benchRedisServer(dir: string, n: number, timeoutMs: number): Promise<Measured[]> {
  const dataDir = join(dir, 'redis');
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--dir',
    dataDir,
  ];
  const proc = spawn('/usr/bin/redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = exitedOf(proc);
  try {
    await waitForPong(port, 10_000, () =>
      proc.exitCode !== null ? `redis-server exited ${proc.exitCode}: ${log}` : undefined,
    );
    return await eachPipeline('redis-server', port, n, timeoutMs);
  } finally {
    await stopProc(proc, exited);
  }
}

async function eachPipeline(
  label: Label,
  port: number,
  n: number,
  timeoutMs: number,
  during: <T>(p: Promise<T>) => Promise<T> = (p) => p,
): Promise<Measured[]> {
  const out: Measured[] = [];
  for (const pipeline of PIPELINES) {
    const results = await during(
      runRedisBenchmark({ port, tests: ['set', 'get'], requests: n, clients: CLIENTS, pipeline, timeoutMs }),
    );
    out.push({ label, pipeline, results });
  }
  return out;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const FLOOR_SERVER = join(HERE, 'node-floor-server.ts');
const REPLICATION_FLOOR = join(HERE, 'replication-floor.ts');

interface Script {
  proc: ChildProcess;
  exited: Promise<number | string>;
  /** Resolves once the script prints "ready"; rejects if it exits first. */
  ready: Promise<void>;
}

/** Runs one of the bench's reference servers under tsx. */
function startScript(name: string, args: string[]): Script {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-20_000);
  });
  const exited = exitedOf(proc);
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    void exited.then((code) => reject(new Error(`${name} exited ${code} before it was ready: ${log}`)));
  });
  ready.catch(() => {}); // awaited by the caller; an exit after ready is not an error here
  return { proc, exited, ready };
}

async function benchNodeFloor(n: number, timeoutMs: number): Promise<Measured[]> {
  const port = await freePort();
  const server = startScript('the node floor server', [FLOOR_SERVER, String(port)]);
  try {
    await server.ready;
    return await eachPipeline('node floor', port, n, timeoutMs);
  } finally {
    await stopProc(server.proc, server.exited);
  }
}

async function benchReplicationFloor(dir: string, n: number, timeoutMs: number): Promise<Measured[]> {
  const walDir = join(dir, 'replication-floor');
  mkdirSync(walDir, { recursive: true });
  const followerPorts = [await freePort(), await freePort()];
  const scripts = followerPorts.map((port, i) =>
    startScript(`replication floor follower ${i + 1}`, [
      REPLICATION_FLOOR,
      'follower',
      String(port),
      join(walDir, `follower-${i + 1}.wal`),
    ]),
  );
  try {
    await Promise.all(scripts.map((s) => s.ready));
    const port = await freePort();
    const leader = startScript('replication floor leader', [
      REPLICATION_FLOOR,
      'leader',
      String(port),
      join(walDir, 'leader.wal'),
      ...followerPorts.map(String),
    ]);
    scripts.push(leader);
    await leader.ready;
    return await eachPipeline('replication floor', port, n, timeoutMs);
  } finally {
    await Promise.all(scripts.map((s) => stopProc(s.proc, s.exited)));
  }
}

/** A sealkv cluster of `size` nodes: the leader at each depth, and (with followers) one follower at P16. */
async function benchSealkv(dir: string, size: number, n: number, timeoutMs: number): Promise<Measured[]> {
  const spec: ClusterSpec = {
    nodes: size,
    dir: join(dir, `sealkv-${size}`),
    basePort: await freeBasePort(size),
  };
  const nodes: LaunchedNode[] = [];
  try {
    for (let i = 0; i < spec.nodes; i++) nodes.push(startNode(spec, i));
    const died = exitWatch(nodes);
    died.catch(() => {}); // observed through the races below
    const during = <T>(p: Promise<T>): Promise<T> => Promise.race([p, died]);

    const leaderId = await during(waitForLeader(nodes, 60_000));
    const leader = nodes.find((x) => x.id === leaderId);
    if (leader === undefined) throw new Error(`leader ${leaderId} is not in the plan`);
    const follower = nodes.find((x) => x.id !== leaderId);
    const portOf = (addr: string) => Number(addr.split(':')[1]);
    const leaderPort = portOf(leader.redis);
    await during(waitForPong(leaderPort, 10_000, () => undefined));
    if (follower !== undefined) await during(waitForPong(portOf(follower.redis), 10_000, () => undefined));

    // Warm-up: JIT, connection setup, the first WAL segment and batch sizes.
    await during(
      runRedisBenchmark({
        port: leaderPort,
        tests: ['set', 'get'],
        requests: Math.min(10_000, Math.max(2_000, n / 10)),
        clients: CLIENTS,
        pipeline: 16,
        timeoutMs,
      }),
    );

    const out = await eachPipeline(
      size === 1 ? 'sealkv 1-node' : 'sealkv leader',
      leaderPort,
      n,
      timeoutMs,
      during,
    );
    if (follower === undefined) return out;
    const viaFollower = await during(
      runRedisBenchmark({
        port: portOf(follower.redis),
        tests: ['set', 'get'],
        requests: n,
        clients: CLIENTS,
        pipeline: 16,
        timeoutMs,
      }),
    );
    out.push({ label: 'sealkv follower', pipeline: 16, results: viaFollower });
    return out;
  } finally {
    await Promise.all(nodes.map((node) => stopProc(node.proc, node.exited)));
  }
}

function toRows(measured: Measured[]): BenchRow[] {
  const resultOf = (label: Label, test: string, pipeline: number): RedisBenchResult | undefined =>
    measured.find((m) => m.label === label && m.pipeline === pipeline)?.results.find((r) => r.test === test);
  const reference = (test: string, pipeline: number) => resultOf('redis-server', test, pipeline);
  const rows: BenchRow[] = [];
  for (const m of measured) {
    for (const r of m.results) {
      const name = `${m.label} ${r.test} P${m.pipeline}`;
      const ref = reference(r.test, m.pipeline);
      rows.push({
        suite: 'redis',
        name,
        value: r.rps,
        unit: 'ops/s',
        ...(m.label !== 'redis-server' && ref !== undefined
          ? { ratio: r.rps / ref.rps, ratioTo: `redis-server ${r.test} P${m.pipeline}` }
          : {}),
        ...(TARGETED.includes(m.label) ? { target: TARGET } : {}),
      });
      const floor = resultOf('replication floor', r.test, m.pipeline);
      if (m.label.startsWith('sealkv') && floor !== undefined) {
        // How much of what replication alone allows here sealkv keeps.
        rows.push({
          suite: 'redis',
          name: `${name} of replication floor`,
          value: r.rps / floor.rps,
          unit: 'x',
        });
      }
      rows.push({ suite: 'redis', name: `${name} p50`, value: r.p50Ms, unit: 'ms' });
      rows.push({ suite: 'redis', name: `${name} p99`, value: r.p99Ms, unit: 'ms' });
    }
  }
  return rows;
}

const suite: BenchSuite = {
  name: 'redis',
  async run({ quick, tmpDir }) {
    const n = quick ? 10_000 : 100_000;
    // Generous: even 500 ops/s finishes in time; only a stall trips it.
    const timeoutMs = 60_000 + n * 2;
    const measured = [
      ...(await benchRedisServer(tmpDir, n, timeoutMs)),
      ...(await benchNodeFloor(n, timeoutMs)),
      ...(await benchReplicationFloor(tmpDir, n, timeoutMs)),
      ...(await benchSealkv(tmpDir, 3, n, timeoutMs)),
      ...(await benchSealkv(tmpDir, 1, n, timeoutMs)),
    ];
    return toRows(measured);
  },
};

export default suite;
