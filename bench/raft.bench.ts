import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Entry, SnapshotMeta } from '../src/raft/core/types.ts';
import { NodeDisk } from '../src/raft/disk/node-disk.ts';
import { type NodeTransport, RaftNode } from '../src/raft/node.ts';
import { Transport } from '../src/raft/transport/transport.ts';
import { type BenchRow, type BenchSuite, percentile } from './harness.ts';

// Committed entries/s and commit latency (propose → applied on the leader) of RaftNode
// with real fsync: 3 nodes in this process over loopback TCP, and a single-node group in
// the same run as the reference. 100-byte entries; 1, 16 and 256 concurrent proposers.
//
// Then the memory case: 1M proposals through a fresh 3-node group with snapshots at the
// default thresholds, sampling heap and RSS after a full GC every 100k, so growth across
// snapshots shows as a slope. RAFT_BENCH=memory or =throughput runs one half only.

const DATA = new Uint8Array(100).fill(0x62);
const MB = 1024 * 1024;

/** Counts applies and keeps nothing: the bench measures the log, not a state machine. */
class CountingFsm {
  applied = 0;
  /** Size of the image each snapshot streams (a fresh buffer each time). */
  constructor(private readonly imageBytes = 0) {}
  appliedIndex(): number {
    return this.applied;
  }
  apply(entries: readonly Entry[]): undefined {
    this.applied = entries[entries.length - 1]?.index ?? this.applied;
    return undefined;
  }
  async snapshot(): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }> {
    const image = new Uint8Array(this.imageBytes).fill(0x73);
    return {
      index: this.applied,
      chunks: (async function* () {
        if (image.length > 0) yield image;
      })(),
    };
  }
  async restore(meta: SnapshotMeta): Promise<void> {
    this.applied = meta.index;
  }
}

const lone: NodeTransport = {
  send: () => false,
  onMessage: () => {},
  onUnreachable: () => {},
  sendSnapshot: () => Promise.reject(new Error('no peers')),
  onSnapshot: () => {},
  close: () => Promise.resolve(),
};

interface Group {
  leader: RaftNode;
  nodes: RaftNode[];
}

interface GroupOptions {
  /** Undefined: the node's default threshold. */
  snapshotEvery: number | undefined;
  imageBytes: number;
}

const THROUGHPUT: GroupOptions = { snapshotEvery: 50_000, imageBytes: 0 };

async function waitLeader(n: RaftNode): Promise<void> {
  n.campaign();
  const deadline = performance.now() + 10_000;
  while (n.status().role !== 'leader') {
    if (performance.now() > deadline) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 5));
  }
  await n.waitApplied(n.status().lastIndex);
}

async function threeNodes(dir: string, g: GroupOptions): Promise<Group> {
  const ids = ['b1', 'b2', 'b3'];
  const ts = ids.map((id) => new Transport({ id, clusterId: 'bench', backoffBaseMs: 10, backoffMaxMs: 100 }));
  const addrs = await Promise.all(ts.map((t) => t.listen('127.0.0.1', 0)));
  ts.forEach((t, i) => {
    ids.forEach((p, j) => {
      if (i !== j) t.addPeer(p, addrs[j]!);
    });
  });
  const nodes = await Promise.all(
    ids.map((id, i) =>
      RaftNode.start({
        id,
        voters: ids,
        dir: join(dir, id),
        disk: new NodeDisk(),
        transport: ts[i]!,
        fsm: new CountingFsm(g.imageBytes),
        ...(g.snapshotEvery === undefined ? {} : { snapshotEvery: g.snapshotEvery }),
      }),
    ),
  );
  await waitLeader(nodes[0]!);
  return { leader: nodes[0]!, nodes };
}

async function oneNode(dir: string): Promise<Group> {
  const n = await RaftNode.start({
    id: 's1',
    voters: ['s1'],
    dir: join(dir, 's1'),
    disk: new NodeDisk(),
    transport: lone,
    fsm: new CountingFsm(),
    snapshotEvery: THROUGHPUT.snapshotEvery,
  });
  await waitLeader(n);
  return { leader: n, nodes: [n] };
}

async function load(g: Group, proposers: number, ms: number): Promise<{ rate: number; lat: number[] }> {
  const lat: number[] = [];
  let done = 0;
  const end = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const { index } = await g.leader.propose(DATA);
      await g.leader.waitApplied(index);
      lat.push(performance.now() - t0);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: proposers }, worker));
  return { rate: done / ((performance.now() - t0) / 1000), lat: lat.sort((a, b) => a - b) };
}

async function throughput(tmpDir: string, quick: boolean): Promise<BenchRow[]> {
  const ms = quick ? 800 : 3000;
  const rows: BenchRow[] = [];
  const groups: [string, Group][] = [
    ['3 nodes', await threeNodes(join(tmpDir, 'three'), THROUGHPUT)],
    ['1 node', await oneNode(join(tmpDir, 'one'))],
  ];
  const single = new Map<number, number>();
  const results: { label: string; c: number; rate: number; lat: number[] }[] = [];
  for (const c of [1, 16, 256]) {
    for (const [label, g] of groups) {
      await load(g, c, Math.min(300, ms)); // warm-up
      const r = await load(g, c, ms);
      results.push({ label, c, ...r });
      if (label === '1 node') single.set(c, r.rate);
    }
  }
  for (const { label, c, rate, lat } of results) {
    const ref = single.get(c);
    const three = label === '3 nodes';
    rows.push({
      suite: 'raft',
      name: `${label} c=${c} committed entries/s`,
      value: rate,
      unit: 'entries/s',
      ...(three && ref !== undefined ? { ratio: rate / ref, ratioTo: `1 node c=${c}` } : {}),
    });
    rows.push({
      suite: 'raft',
      name: `${label} c=${c} commit latency p50`,
      value: percentile(lat, 50),
      unit: 'ms',
    });
    rows.push({
      suite: 'raft',
      name: `${label} c=${c} commit latency p99`,
      value: percentile(lat, 99),
      unit: 'ms',
    });
  }
  for (const [, g] of groups) for (const n of g.nodes) await n.stop();
  return rows;
}

/**
 * A full collection before each sample, so the figures are what is retained rather than
 * what happens to be uncollected. `npm run bench` does not pass --expose-gc; V8 still
 * lets a running process turn the flag on and hands out `gc` in a fresh context.
 */
function fullGc(): { gc: () => void; how: string } {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return { gc: g, how: '--expose-gc' };
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    if (typeof fn === 'function') return { gc: () => fn(), how: 'v8.setFlagsFromString' };
  } catch {
    // fall through: report without a forced collection
  }
  return { gc: () => {}, how: 'none (figures include garbage)' };
}

interface MemSample {
  proposals: number;
  seconds: number;
  heapMB: number;
  rssMB: number;
  arrayBuffersMB: number;
  logEntries: number;
  snapshotIndex: number;
}

/** 1M (quick: 100k) proposals, 256 in flight, a sample every tenth of the way. */
async function memory(tmpDir: string, quick: boolean): Promise<BenchRow[]> {
  const total = quick ? 100_000 : 1_000_000;
  const every = total / 10;
  const proposers = 256;
  const { gc, how } = fullGc();
  // Default thresholds (snapshot every 10,000 entries, keep 1,000) and a 1 MiB image,
  // so a retained image per snapshot would show too.
  const g = await threeNodes(join(tmpDir, 'memory'), { snapshotEvery: undefined, imageBytes: MB });
  const samples: MemSample[] = [];
  const t0 = performance.now();
  const sample = (proposals: number) => {
    gc();
    const m = process.memoryUsage();
    const logs = g.nodes.map((n) => n.logStats());
    samples.push({
      proposals,
      seconds: (performance.now() - t0) / 1000,
      heapMB: m.heapUsed / MB,
      rssMB: m.rss / MB,
      arrayBuffersMB: m.arrayBuffers / MB,
      logEntries: Math.max(...logs.map((l) => l.entries)),
      snapshotIndex: Math.min(...logs.map((l) => l.snapshotIndex)),
    });
    const s = samples[samples.length - 1]!;
    process.stderr.write(
      `  raft memory ${String(proposals).padStart(8)} proposals  ${s.seconds.toFixed(1).padStart(6)} s  heap ${s.heapMB.toFixed(1).padStart(6)} MB  rss ${s.rssMB.toFixed(1).padStart(6)} MB  arrayBuffers ${s.arrayBuffersMB.toFixed(1).padStart(6)} MB  log ≤ ${s.logEntries} entries/node  snapshot ≥ ${s.snapshotIndex}\n`,
    );
  };
  process.stderr.write(`  raft memory: ${total} proposals of 100 B, gc via ${how}\n`);
  sample(0);
  let issued = 0;
  let done = 0;
  const worker = async () => {
    while (issued < total) {
      issued++;
      const { index } = await g.leader.propose(DATA);
      await g.leader.waitApplied(index);
      done++;
      if (done % every === 0) sample(done);
    }
  };
  await Promise.all(Array.from({ length: proposers }, worker));
  const seconds = (performance.now() - t0) / 1000;
  for (const n of g.nodes) await n.stop();
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  const during = samples.slice(1);
  const row = (name: string, value: number, unit: string, target?: string): BenchRow => ({
    suite: 'raft',
    name,
    value,
    unit,
    ...(target === undefined ? {} : { target }),
  });
  const label = `mem ${total / 1000}k`;
  return [
    ...samples.map((s) => row(`${label} heap @${s.proposals / 1000}k`, s.heapMB, 'MB')),
    ...samples.map((s) => row(`${label} rss @${s.proposals / 1000}k`, s.rssMB, 'MB')),
    row(`${label} heap max`, Math.max(...during.map((s) => s.heapMB)), 'MB', '≤ 256 MB, flat'),
    row(`${label} rss max (sampled)`, Math.max(...during.map((s) => s.rssMB)), 'MB'),
    row(`${label} heap last − first sample`, during.at(-1)!.heapMB - during[0]!.heapMB, 'MB'),
    row(`${label} rss peak of the process (maxRSS)`, peakRssMB, 'MB'),
    row(`${label} log entries max/node`, Math.max(...during.map((s) => s.logEntries)), 'entries'),
    row(`${label} wall time`, seconds, 's'),
    row(`${label} committed entries/s`, total / seconds, 'entries/s'),
  ];
}

const suite: BenchSuite = {
  name: 'raft',
  async run({ quick, tmpDir }) {
    const only = process.env.RAFT_BENCH;
    const rows: BenchRow[] = [];
    if (only !== 'memory') rows.push(...(await throughput(tmpDir, quick)));
    if (only !== 'throughput') rows.push(...(await memory(tmpDir, quick)));
    return rows;
  },
};

export default suite;
