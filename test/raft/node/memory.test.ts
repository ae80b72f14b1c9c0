import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { Entry } from '../../../src/raft/core/types.ts';
import { SimDisk } from '../../../src/raft/disk/sim-disk.ts';
import { type NodeTransport, RaftNode } from '../../../src/raft/node.ts';
import { Cluster, waitFor } from './cluster.ts';

// The in-memory log must stay bounded by the snapshot thresholds however many entries
// go through it (raft.md: nothing grows without bound).

const EVERY = 100;
const RETAIN = 10;

/** Constant-size state, so only the node itself could grow. */
class FixedFsm {
  applied = 0;
  snapshots = 0;
  appliedIndex(): number {
    return this.applied;
  }
  apply(entries: readonly Entry[]): undefined {
    this.applied = entries[entries.length - 1]?.index ?? this.applied;
    return undefined;
  }
  async snapshot(): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }> {
    this.snapshots++;
    const image = new Uint8Array(64 * 1024).fill(1);
    return {
      index: this.applied,
      chunks: (async function* () {
        yield image;
      })(),
    };
  }
  async restore(): Promise<void> {}
}

const lone: NodeTransport = {
  send: () => false,
  onMessage: () => {},
  onUnreachable: () => {},
  sendSnapshot: () => Promise.reject(new Error('no peers')),
  onSnapshot: () => {},
  close: () => Promise.resolve(),
};

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

describe('RaftNode: bounded memory', () => {
  test('the log holds at most snapshotEvery + snapshotRetain entries (plus what is in flight) over many snapshots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-raft-mem-'));
    const fsm = new FixedFsm();
    const node = await RaftNode.start({
      id: 'm1',
      voters: ['m1'],
      dir,
      disk: new SimDisk(),
      transport: lone,
      fsm,
      snapshotEvery: EVERY,
      snapshotRetain: RETAIN,
    });
    try {
      node.campaign();
      await waitFor('leadership', () => node.status().role === 'leader');
      const total = 5_000;
      const concurrency = 16;
      const data = new Uint8Array(100);
      let issued = 0;
      let maxEntries = 0;
      const worker = async () => {
        while (issued < total) {
          issued++;
          const { index } = await node.propose(data);
          await node.waitApplied(index);
          const s = node.logStats();
          maxEntries = Math.max(maxEntries, s.entries);
          assert.equal(s.snapshotBytesInMemory, 0, 'snapshot images stay on disk');
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      const s = node.logStats();
      // Entries appended while a snapshot is being written come on top of the threshold.
      const slack = 4 * concurrency;
      assert.ok(maxEntries <= EVERY + RETAIN + slack, `max ${maxEntries} entries held`);
      assert.ok(fsm.snapshots >= total / (EVERY + slack), `${fsm.snapshots} snapshots`);
      assert.ok(s.snapshotIndex >= total - EVERY - slack, JSON.stringify(s));
      assert.equal(node.firstIndex, s.snapshotIndex - RETAIN + 1, 'compacted to retain entries before it');
      assert.ok(s.bytes <= (EVERY + RETAIN + slack) * data.length, `${s.bytes} payload bytes held`);
    } finally {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with a follower down, the leader still compacts and its queue to that follower stays capped', async () => {
    c = new Cluster({ node: { snapshotEvery: EVERY, snapshotRetain: RETAIN } });
    await c.start();
    const l0 = await c.waitLeader();
    const down = c.ids.find((id) => id !== l0.id)!;
    await c.kill(down);
    const last = await c.proposeMany('d', 1_500, 16);
    const l = c.leader()!;
    await c.waitAllApplied(
      last,
      c.ids.filter((id) => id !== down),
    );
    const s = l.logStats();
    assert.ok(s.entries <= EVERY + RETAIN + 64, JSON.stringify(s));
    assert.ok(s.snapshotIndex >= last - EVERY - 64, JSON.stringify(s));
    const q = c.m(l.id).transport!.stats(down);
    assert.ok(q !== undefined);
    // The transport's defaults: 4096 messages, 8 MiB.
    assert.ok(q.queuedMessages <= 4096 && q.queuedBytes <= 8 * 1024 * 1024, JSON.stringify(q));
  });
});
