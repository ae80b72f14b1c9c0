import { createConnection } from 'node:net';
import { join } from 'node:path';
import {
  type ClusterSpec,
  freeBasePort,
  type LaunchedNode,
  startNode,
  waitForLeader,
} from '../src/server/launcher.ts';
import { exitWatch, stopProc, waitForPong } from './cluster.ts';
import type { BenchRow, BenchSuite } from './harness.ts';
import { runRedisBenchmark } from './redis-benchmark.ts';

// Memory of a 3-node cluster holding 1M keys of 100 B: load them through the
// leader, then run redis-benchmark SET/GET over the same key space, sampling
// every node's V8 heap and RSS from its /metrics endpoint all along. The heap
// figure is `heapUsed` at the sample (garbage included), so it is an upper
// bound of the live heap.

const KEYS = 1_000_000;
const VALUE = 'v'.repeat(100);
const CONNECTIONS = 8;
/** Replies a loader connection may owe before it stops sending (back-pressure). */
const WINDOW = 4_000;
const TARGET = '<= 256 MB';

interface Sample {
  node: string;
  phase: string;
  heapMb: number;
  rssMb: number;
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`metric ${name} missing from /metrics`);
  return Number(line.split(' ')[1]);
}

/** Scrapes every node; a scrape that fails twice (node busy, socket reset) is skipped, not fatal. */
async function sample(nodes: LaunchedNode[], phase: string, into: Sample[]): Promise<void> {
  for (const n of nodes) {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const res = await fetch(`http://${n.metrics}/metrics`, { headers: { connection: 'close' } });
        const text = await res.text();
        into.push({
          node: n.id,
          phase,
          heapMb: metricValue(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
          rssMb: metricValue(text, 'process_resident_memory_bytes') / 2 ** 20,
        });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

function setCommand(i: number): string {
  const key = `key:${String(i).padStart(12, '0')}`;
  return `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${VALUE.length}\r\n${VALUE}\r\n`;
}

/**
 * Writes SETs for keys [from, to) on one connection, never owing more than
 * WINDOW replies. A `-TRYAGAIN` (no leader during an election) re-queues that
 * key, as a real client would retry it; other errors fail the run.
 */
function loadRange(
  port: number,
  from: number,
  to: number,
  progress: { acked: number; retries: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let next = from;
    const inFlight: number[] = [];
    let head = 0;
    const retry: number[] = [];
    let done = 0;
    let pending = '';
    let waiting = false;
    const total = to - from;
    const pump = () => {
      if (waiting) return;
      const chunk: string[] = [];
      while (inFlight.length - head < WINDOW && chunk.length < 512) {
        const key = retry.length > 0 ? retry.shift()! : next < to ? next++ : undefined;
        if (key === undefined) break;
        inFlight.push(key);
        chunk.push(setCommand(key));
      }
      if (chunk.length > 0) sock.write(chunk.join(''));
    };
    sock.setNoDelay(true);
    sock.once('error', reject);
    sock.once('connect', pump);
    sock.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      let consumed = 0;
      let retried = false;
      for (let at = pending.indexOf('\r\n'); at >= 0; at = pending.indexOf('\r\n', consumed)) {
        const line = pending.slice(consumed, at);
        consumed = at + 2;
        const key = inFlight[head++]!;
        if (line === '+OK') {
          done++;
          progress.acked++;
        } else if (line.startsWith('-TRYAGAIN')) {
          retry.push(key);
          progress.retries++;
          retried = true;
        } else {
          sock.destroy();
          reject(new Error(`SET failed: ${line}`));
          return;
        }
      }
      pending = pending.slice(consumed);
      if (head > 65_536) {
        inFlight.splice(0, head);
        head = 0;
      }
      if (done === total) {
        sock.end();
        resolve();
      } else if (retried && !waiting) {
        // Give the election a moment instead of spinning on refusals.
        waiting = true;
        setTimeout(() => {
          waiting = false;
          pump();
        }, 200);
      } else {
        pump();
      }
    });
  });
}

/** Sends raw RESP and resolves with the reply text once `done` says it is complete. */
function exchange(port: number, request: string, done: (reply: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    sock.once('error', reject);
    sock.once('connect', () => sock.write(request));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!done(buf)) return;
      sock.destroy();
      resolve(buf);
    });
  });
}

/**
 * Reads back `count` keys spread over the loaded range and returns how many
 * hold the value written. (DBSIZE walks every key in one synchronous body:
 * over a million keys it holds the event loop for seconds, long enough to
 * cost the leadership, so the check samples instead.)
 */
async function verifySample(port: number, keys: number, count: number): Promise<number> {
  const step = Math.floor(keys / count);
  const cmds: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = `key:${String(i * step).padStart(12, '0')}`;
    cmds.push(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`);
  }
  const expected = `$${VALUE.length}\r\n${VALUE}\r\n`;
  const reply = await exchange(port, cmds.join(''), (r) => r.split('\r\n').length > 2 * count);
  return reply.split(expected).length - 1;
}

async function raftTerm(port: number): Promise<number> {
  const reply = await exchange(
    port,
    '*1\r\n$4\r\nINFO\r\n',
    (r) => r.includes('raft_term:') && r.endsWith('\r\n'),
  );
  return Number(/raft_term:(\d+)/.exec(reply)?.[1] ?? Number.NaN);
}

const suite: BenchSuite = {
  name: 'redis-memory',
  async run({ quick, tmpDir }) {
    const keys = quick ? KEYS / 10 : KEYS;
    const spec: ClusterSpec = { nodes: 3, dir: join(tmpDir, 'sealkv'), basePort: await freeBasePort(3) };
    const nodes: LaunchedNode[] = [];
    const samples: Sample[] = [];
    const rows: BenchRow[] = [];
    try {
      for (let i = 0; i < spec.nodes; i++) nodes.push(startNode(spec, i));
      const died = exitWatch(nodes);
      died.catch(() => {});
      const during = <T>(p: Promise<T>): Promise<T> => Promise.race([p, died]);
      const leaderId = await during(waitForLeader(nodes, 60_000));
      const leader = nodes.find((n) => n.id === leaderId)!;
      const port = Number(leader.redis.split(':')[1]);
      await during(waitForPong(port, 10_000, () => undefined));
      await sample(nodes, 'empty', samples);
      const termBefore = await during(raftTerm(port));

      const per = Math.ceil(keys / CONNECTIONS);
      const progress = { acked: 0, retries: 0 };
      let nextMark = keys / 10;
      let marking = Promise.resolve();
      const marker = setInterval(() => {
        while (progress.acked >= nextMark) {
          const label = `${Math.round(nextMark / 1000)}k keys`;
          nextMark += keys / 10;
          marking = marking.then(() => sample(nodes, label, samples));
        }
      }, 50);
      const started = performance.now();
      try {
        await during(
          Promise.all(
            Array.from({ length: CONNECTIONS }, (_, c) =>
              loadRange(port, c * per, Math.min(keys, (c + 1) * per), progress),
            ),
          ),
        );
      } finally {
        clearInterval(marker);
      }
      const loadSeconds = (performance.now() - started) / 1000;
      await marking;
      const found = await during(verifySample(port, keys, 1000));
      const termAfter = await during(raftTerm(port));
      rows.push({
        suite: 'redis-memory',
        name: `load ${keys} keys of 100 B (8 conns)`,
        value: keys / loadSeconds,
        unit: 'keys/s',
      });
      rows.push({
        suite: 'redis-memory',
        name: 'sampled keys read back (of 1000)',
        value: found,
        unit: 'keys',
      });
      rows.push({
        suite: 'redis-memory',
        name: 'Raft term change during the load (elections)',
        value: termAfter - termBefore,
        unit: 'terms',
      });
      rows.push({
        suite: 'redis-memory',
        name: 'SETs retried after -TRYAGAIN (elections)',
        value: progress.retries,
        unit: 'cmds',
      });

      // Steady load over the same key space, sampled while it runs.
      const load = runRedisBenchmark({
        port,
        tests: ['set', 'get'],
        requests: quick ? 50_000 : 300_000,
        clients: 50,
        pipeline: 16,
        timeoutMs: 300_000,
        keyspace: keys,
        dataSize: 100,
      });
      let running = true;
      const sampler = (async () => {
        while (running) {
          await new Promise((r) => setTimeout(r, 2_000));
          if (running) await sample(nodes, 'under redis-benchmark', samples);
        }
      })();
      await during(load).finally(() => {
        running = false;
      });
      await sampler;
      await sample(nodes, 'after load', samples);

      for (const n of nodes) {
        const mine = samples.filter((s) => s.node === n.id);
        const role = n.id === leaderId ? 'leader' : 'follower';
        const maxHeap = Math.max(...mine.map((s) => s.heapMb));
        const maxRss = Math.max(...mine.map((s) => s.rssMb));
        rows.push({
          suite: 'redis-memory',
          name: `${n.id} (${role}) max heap`,
          value: maxHeap,
          unit: 'MB',
          target: TARGET,
        });
        rows.push({ suite: 'redis-memory', name: `${n.id} (${role}) max RSS`, value: maxRss, unit: 'MB' });
      }
      for (const s of samples.filter((x) => x.node === leaderId)) {
        process.stderr.write(
          `redis-memory leader ${s.phase.padEnd(24)} heap ${s.heapMb.toFixed(1).padStart(7)} MB  rss ${s.rssMb.toFixed(1).padStart(7)} MB\n`,
        );
      }
      return rows;
    } finally {
      await Promise.all(nodes.map((n) => stopProc(n.proc, n.exited)));
    }
  },
};

export default suite;
