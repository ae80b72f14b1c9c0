import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import type { Message } from '../../../src/raft/core/messages.ts';
import { DelegatingDisk, wrapFile } from '../../../src/raft/disk/delegating.ts';
import type { Disk, DiskFile } from '../../../src/raft/disk/disk.ts';
import { NodeDisk } from '../../../src/raft/disk/node-disk.ts';
import { SimDisk } from '../../../src/raft/disk/sim-disk.ts';
import { type NodeTransport, RaftNode } from '../../../src/raft/node.ts';
import { recover } from '../../../src/raft/wal/recover.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { Cluster, ListFsm, waitFor } from './cluster.ts';
import { type DurableImage, RecordingDisk, recordingTransport, type SendRecord } from './recording.ts';

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

function instrumented(): { cluster: Cluster; disks: Map<string, RecordingDisk>; sends: SendRecord[] } {
  const disks = new Map<string, RecordingDisk>();
  const sends: SendRecord[] = [];
  const cluster = new Cluster({
    wrapDisk: (id, d) => {
      const r = new RecordingDisk(d);
      disks.set(id, r);
      return r;
    },
    wrapTransport: (id, t) => recordingTransport(id, t, () => disks.get(id)!, sends),
  });
  return { cluster, disks, sends };
}

/** The state a WAL directory would recover to if only the fsynced prefixes of its files survived. */
async function durableState(dir: string, image: DurableImage) {
  const sim = new SimDisk();
  await sim.mkdirp(dir);
  for (const [path, len] of image) {
    if (!path.startsWith(`${dir}/`) || !path.endsWith('.log')) continue;
    const f = await sim.open(path, 'create');
    await f.write(0, readFileSync(path).subarray(0, len));
    await f.sync();
    await f.close();
  }
  await sim.syncDir(dir);
  const r = await recover(sim, dir);
  const hs = r.hardState ?? { term: 0, vote: '', commit: 0 };
  const terms = new Map(r.entries.map((e) => [e.index, e.term]));
  const last = r.entries.at(-1)?.index ?? r.snapshot?.meta.index ?? 0;
  return { hs, terms, last };
}

describe('RaftNode: persistence before sending (I12, P2, P20)', () => {
  test('no message is sent before the fsync it depends on', async () => {
    const { cluster, sends } = instrumented();
    c = cluster;
    await c.start();
    const leader = await c.waitLeader();
    await c.waitAllApplied(await c.proposeMany('i', 300, 16));
    const finalTerms = new Map(
      leader.entries(1, leader.status().lastIndex + 1).map((e) => [e.index, e.term]),
    );
    for (const id of c.ids) await c.node(id).stop();

    const byImage = new Map<DurableImage, SendRecord[]>();
    for (const s of sends) {
      const list = byImage.get(s.durable) ?? [];
      list.push(s);
      byImage.set(s.durable, list);
    }
    const counts = { vote: 0, voteResp: 0, app: 0, appResp: 0, term: 0 };
    for (const [image, records] of byImage) {
      const from = records[0]!.from;
      const d = await durableState(c.m(from).dir, image);
      for (const { msg: m } of records) check(m, d, finalTerms, counts);
    }
    assert.ok(
      counts.app > 50 && counts.appResp > 50 && counts.vote >= 1 && counts.voteResp >= 1,
      JSON.stringify(counts),
    );
  });

  test('an fsync error on the leader is fatal: it stops, never sends the entry, and the others elect anew', async () => {
    const { cluster, disks, sends } = instrumented();
    c = cluster;
    await c.start();
    const leader = await c.waitLeader();
    await c.waitAllApplied(await c.proposeMany('f', 20, 4));
    disks.get(leader.id)!.failSyncs = true;
    const { index } = await leader.propose(new TextEncoder().encode('doomed'));
    const reason = await leader.done;
    assert.equal(reason.kind, 'fatal');
    assert.ok(reason.kind === 'fatal' && isSealError(reason.error, Err.WalFailed), String(reason));
    assert.ok(!leader.isRunning);
    await assert.rejects(leader.propose(new Uint8Array([1])), (e: unknown) =>
      isSealError(e, Err.ProposalFailed),
    );
    const leaked = sends.filter((s) => s.from === leader.id && s.msg.entries.some((e) => e.index >= index));
    assert.deepEqual(leaked, [], 'the entry whose fsync failed was never sent');
    // The leader's transport is closed: the other two elect a new leader among themselves.
    await waitFor('a new leader', () => c!.running().some((n) => n.status().role === 'leader'));
    const next = c.running().find((n) => n.status().role === 'leader')!;
    assert.notEqual(next.id, leader.id);
  });
});

function check(
  m: Message,
  d: Awaited<ReturnType<typeof durableState>>,
  finalTerms: Map<number, number>,
  counts: Record<string, number>,
): void {
  const where = `${m.type} ${m.from}->${m.to} t${m.term} i${m.index}`;
  if (m.type !== 'PreVote' && m.type !== 'PreVoteResp') {
    assert.ok(m.term <= d.hs.term, `${where}: durable term ${d.hs.term}`);
    counts.term!++;
  }
  if (m.type === 'Vote') {
    assert.equal(d.hs.vote, m.from, `${where}: self-vote not durable`);
    assert.equal(d.hs.term, m.term, where);
    counts.vote!++;
  }
  if (m.type === 'VoteResp' && !m.reject) {
    assert.equal(d.hs.vote, m.to, `${where}: granted vote not durable`);
    assert.equal(d.hs.term, m.term, where);
    counts.voteResp!++;
  }
  if (m.type === 'AppResp' && !m.reject && m.index > 0) {
    assert.ok(m.index <= d.last, `${where}: acked beyond durable last ${d.last}`);
    const t = d.terms.get(m.index);
    if (t !== undefined && finalTerms.has(m.index)) assert.equal(t, finalTerms.get(m.index), where);
    counts.appResp!++;
  }
  if (m.type === 'App' && m.entries.length > 0) {
    const lastSent = m.entries[m.entries.length - 1]!.index;
    assert.ok(lastSent <= d.last, `${where}: sent ${lastSent} beyond durable last ${d.last}`);
    counts.app!++;
  }
}

/** A transport for a group of one: nobody to talk to. */
function loneTransport(): NodeTransport {
  return {
    send: () => false,
    onMessage: () => {},
    onUnreachable: () => {},
    sendSnapshot: () => Promise.reject(new Error('no peers')),
    onSnapshot: () => {},
    close: () => Promise.resolve(),
  };
}

function soloOptions(dir: string, disk: Disk, fsm: ListFsm) {
  return { id: 'solo', voters: ['solo'], dir, disk, transport: loneTransport(), fsm, tickMs: 10 };
}

describe('RaftNode: a single-node group', () => {
  test('commits on its own fsync, one fsync for a burst of proposals, reads at once, restarts with its state', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-raft-one-'));
    try {
      const disk = new RecordingDisk(new NodeDisk());
      const fsm = new ListFsm();
      const opts = { ...soloOptions(dir, disk, fsm), raft: { leaseReads: true } };
      const node = await RaftNode.start(opts);
      const leaders: string[] = [];
      node.onLeaderChange((l) => leaders.push(l));
      node.campaign();
      await waitFor('leadership', () => node.status().role === 'leader');
      await node.waitApplied(1);
      const before = disk.fsyncs;
      const enc = new TextEncoder();
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => node.propose(enc.encode(`s${i}`))),
      );
      const last = results.at(-1)!.index;
      await node.waitApplied(last);
      assert.ok(disk.fsyncs - before <= 2, `${disk.fsyncs - before} fsyncs for 100 proposals in one turn`);
      assert.equal(fsm.items.length, 100);
      assert.deepEqual(leaders, ['solo']);
      assert.ok((await node.readIndex()) >= last);
      assert.ok(node.leaseRead() >= last);
      assert.ok(node.leaseValid());
      // P18: a proposal that cannot fit in one transport frame is refused at once.
      await assert.rejects(node.propose(new Uint8Array(16 * 1024 * 1024)), (e: unknown) =>
        isSealError(e, Err.ProposalTooLarge),
      );
      assert.equal((await node.stop()).kind, 'stopped');
      await assert.rejects(node.readIndex(), (e: unknown) => isSealError(e));

      // Restart with a fresh (empty) FSM: everything committed is replayed, in order.
      const fresh = new ListFsm();
      const again = await RaftNode.start({ ...opts, fsm: fresh });
      await again.waitApplied(last);
      assert.deepEqual(fresh.items, fsm.items);
      // Restart with the durable FSM: nothing is applied twice (P22).
      await again.stop();
      const resumed = await RaftNode.start({ ...opts, fsm });
      resumed.campaign();
      await waitFor('leadership', () => resumed.status().role === 'leader');
      const r = await resumed.propose(enc.encode('after'));
      await resumed.waitApplied(r.index);
      assert.equal(fsm.items.length, 101);
      await resumed.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A disk whose file fsyncs wait while the gate is closed (counted, so a test knows one is held). */
class GatedSyncDisk extends DelegatingDisk {
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  held = 0;
  syncing = 0;

  holdSyncs(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  releaseSyncs(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  override async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    const f = await this.inner.open(path, mode);
    return wrapFile(f, {
      sync: async () => {
        this.syncing++;
        try {
          const g = this.gate;
          if (g !== undefined) {
            this.held++;
            await g;
            this.held--;
          }
          await f.sync();
        } finally {
          this.syncing--;
        }
      },
    });
  }
}

describe('RaftNode: applying while the WAL syncs', () => {
  test('an entry that commits in the Ready that writes it is applied only after its fsync (P23)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-raft-gated-'));
    const disk = new GatedSyncDisk(new NodeDisk());
    const fsm = new ListFsm();
    const node = await RaftNode.start(soloOptions(dir, disk, fsm));
    try {
      node.campaign();
      await waitFor('leadership', () => node.status().role === 'leader');
      const first = await node.propose(new TextEncoder().encode('a'));
      await node.waitApplied(first.index);
      // Applied is not the end of a's Ready: let its own fsync finish before holding the next.
      await new Promise((r) => setTimeout(r, 20));
      await waitFor('the WAL is idle', () => disk.syncing === 0);
      disk.holdSyncs();
      const second = node.propose(new TextEncoder().encode('b'));
      await waitFor('the fsync of b is held', () => disk.held > 0);
      // Give an early apply every chance to happen.
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(fsm.items, [`${first.index}:a`]);
      disk.releaseSyncs();
      const r = await second;
      await node.waitApplied(r.index);
      assert.deepEqual(fsm.items, [`${first.index}:a`, `${r.index}:b`]);
    } finally {
      disk.releaseSyncs();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('RaftNode: reads and leadership transfer', () => {
  test('ReadIndex on the leader and through a follower covers every applied proposal; transfer moves leadership', async () => {
    c = new Cluster();
    await c.start();
    const leader = await c.waitLeader();
    const last = await c.proposeMany('r', 50, 8);
    const follower = c.running().find((n) => n !== leader)!;
    assert.ok((await leader.readIndex()) >= last);
    assert.ok((await follower.readIndex()) >= last);
    const seen: string[] = [];
    follower.onLeaderChange((l) => seen.push(l));
    leader.transferLeadership(follower.id);
    await waitFor('transfer', () => follower.status().role === 'leader');
    await waitFor('leader change seen', () => seen.includes(follower.id));
    assert.ok((await follower.readIndex()) >= last);
    await assert.rejects(leader.propose(new Uint8Array([1])), (e: unknown) => isSealError(e, Err.NotLeader));
  });
});

describe('RaftNode: startup guards', () => {
  test('a state machine applied beyond the recovered log is refused (P21/P22), and the directory is left usable', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-raft-guard-'));
    try {
      const fsm = new ListFsm();
      fsm.applied = 1000;
      const opts = {
        id: 'g',
        voters: ['g'],
        dir,
        disk: new NodeDisk(),
        transport: loneTransport(),
        fsm,
        tickMs: 10,
      };
      await assert.rejects(RaftNode.start(opts), (e: unknown) => isSealError(e, Err.WalCorrupt));
      fsm.applied = 0;
      const node = await RaftNode.start(opts);
      assert.ok(node.isRunning);
      await node.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
