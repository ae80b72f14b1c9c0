import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterAdminClient } from '../admin/client.ts';

export interface LaunchedNode {
  id: string;
  proc: ChildProcess;
  redis: string;
  raft: string;
  admin: string;
  metrics: string;
  args: string[];
  /** Resolves with the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
  stderr: () => string;
}

export interface ClusterSpec {
  nodes: number;
  dir: string;
  basePort: number;
  /** Extra `sealkv server` flags per node (e.g. the encryption flags). */
  extraArgs?: (id: string, dir: string) => string[];
  logLevel?: string;
  /** Node flags for the child processes, e.g. `--cpu-prof` when profiling a benchmark. */
  execArgv?: string[];
}

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'sealkv');

/** Ports: Redis basePort+i, raft basePort+100+i, admin basePort+200+i, metrics basePort+300+i. */
export function nodePlan(
  spec: ClusterSpec,
): { id: string; redis: string; raft: string; admin: string; metrics: string }[] {
  return Array.from({ length: spec.nodes }, (_, i) => ({
    id: `n${i + 1}`,
    redis: `127.0.0.1:${spec.basePort + i}`,
    raft: `127.0.0.1:${spec.basePort + 100 + i}`,
    admin: `127.0.0.1:${spec.basePort + 200 + i}`,
    metrics: `127.0.0.1:${spec.basePort + 300 + i}`,
  }));
}

export function peersFlag(spec: ClusterSpec): string {
  return nodePlan(spec)
    .map((n) => `${n.id}=${n.raft}@${n.admin}`)
    .join(',');
}

/** Whether 127.0.0.1:`port` can be listened on right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port the OS just handed out for listening on 127.0.0.1 (free right now). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A base port for `nodes` nodes whose every port in the plan (Redis, raft, admin, metrics)
 * is free right now. The ranges stay below Linux's ephemeral range (32768 and up): an
 * outgoing connection of a concurrent process, which takes an ephemeral port, can then
 * never occupy one of them between this check and the node's listen().
 */
export async function freeBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 20_000);
    const ports = nodePlan({ nodes, dir: '', basePort: base }).flatMap((n) =>
      [n.redis, n.raft, n.admin, n.metrics].map((a) => Number(a.split(':')[1])),
    );
    let ok = true;
    for (const p of ports) {
      if (!(await portFree(p))) {
        ok = false;
        break;
      }
    }
    if (ok) return base;
  }
  throw new Error(`no free port range for a ${nodes}-node sealkv cluster below 32768`);
}

/** Starts one `sealkv server` child process for node `index` of the plan. */
export function startNode(spec: ClusterSpec, index: number): LaunchedNode {
  const n = nodePlan(spec)[index]!;
  const dataDir = join(spec.dir, n.id);
  mkdirSync(dataDir, { recursive: true });
  const args = [
    'server',
    '--id',
    n.id,
    '--data-dir',
    dataDir,
    '--raft-addr',
    n.raft,
    '--admin-addr',
    n.admin,
    '--redis-addr',
    n.redis,
    '--metrics-addr',
    n.metrics,
    '--peers',
    peersFlag(spec),
    '--log-level',
    spec.logLevel ?? 'warn',
    ...(spec.extraArgs?.(n.id, dataDir) ?? []),
  ];
  const proc = spawn(process.execPath, [...(spec.execArgv ?? []), BIN, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 1_000_000) err = err.slice(-500_000);
  });
  const exited = new Promise<number | string>((res) =>
    proc.once('exit', (code, sig) => res(code ?? sig ?? -1)),
  );
  return { ...n, proc, args, exited, stderr: () => err };
}

/** Polls the admin Status of every listed node until one reports a leader all agree on. */
export async function waitForLeader(nodes: { admin: string }[], timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const leaders: string[] = [];
    for (const n of nodes) {
      const c = new ClusterAdminClient(n.admin, { timeoutMs: 500 });
      try {
        leaders.push((await c.status()).leaderId);
      } catch {
        // not up yet
      } finally {
        c.close();
      }
    }
    const first = leaders[0];
    if (
      leaders.length === nodes.length &&
      first !== undefined &&
      first !== '' &&
      leaders.every((l) => l === first)
    ) {
      return first;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no agreed leader within ${timeoutMs} ms`);
}
