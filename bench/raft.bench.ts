import { join } from 'node:path';
import type { Entry, SnapshotMeta } from '../src/raft/core/types.ts';
import { NodeDisk } from '../src/raft/disk/node-disk.ts';
import { type NodeTransport, RaftNode } from '../src/raft/node.ts';
import { Transport } from '../src/raft/transport/transport.ts';
import { type BenchRow, type BenchSuite, percentile } from './harness.ts';

// Committed entries/s and commit latency (propose → applied on the leader) of RaftNode
// with real fsync: 3 nodes in this process over loopback TCP, and a single-node group in
// the same run as the reference. 100-byte entries; 1, 16 and 256 concurrent proposers.

const DATA = new Uint8Array(100).fill(0x62);

/** Counts applies and keeps nothing: the bench measures the log, not a state machine. */
class CountingFsm {
  applied = 0;
  appliedIndex(): number {
    return this.applied;
  }
  apply(entries: readonly Entry[]): undefined {
    this.applied = entries[entries.length - 1]?.index ?? this.applied;
    return undefined;
  }
  async snapshot(): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }> {
    return { index: this.applied, chunks: (async function* () {})() };
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

async function waitLeader(n: RaftNode): Promise<void> {
  n.campaign();
  const deadline = performance.now() + 10_000;
  while (n.status().role !== 'leader') {
    if (performance.now() > deadline) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 5));
  }
  await n.waitApplied(n.status().lastIndex);
}

async function threeNodes(dir: string): Promise<Group> {
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
        fsm: new CountingFsm(),
        snapshotEvery: 50_000,
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
    snapshotEvery: 50_000,
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

const suite: BenchSuite = {
  name: 'raft',
  async run({ quick, tmpDir }) {
    const ms = quick ? 800 : 3000;
    const rows: BenchRow[] = [];
    const groups: [string, Group][] = [
      ['3 nodes', await threeNodes(join(tmpDir, 'three'))],
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
  },
};

export default suite;
