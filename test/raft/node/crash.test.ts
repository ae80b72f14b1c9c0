import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { SimDisk } from '../../../src/raft/disk/sim-disk.ts';
import type { WalCrashPoint } from '../../../src/raft/wal/wal.ts';
import { Cluster, waitFor } from './cluster.ts';

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

/** Crash hooks armed per node: the next time `id` reaches `point`, its WAL "dies" there. */
class Crasher {
  private armed = new Map<string, { point: WalCrashPoint; after?: WalCrashPoint }>();
  hits: string[] = [];

  arm(id: string, point: WalCrashPoint, after?: WalCrashPoint): void {
    this.armed.set(id, after === undefined ? { point } : { point, after });
  }

  hook(id: string): (p: WalCrashPoint) => void {
    return (p) => {
      const a = this.armed.get(id);
      if (a === undefined) return;
      if (a.after !== undefined) {
        if (p === a.after) a.after = undefined;
        return;
      }
      if (p !== a.point) return;
      this.armed.delete(id);
      this.hits.push(`${id}@${p}`);
      throw new Error(`simulated crash of ${id} at ${p}`);
    };
  }
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

function assertSameItems(cl: Cluster): void {
  const first = cl.m(cl.ids[0]!).fsm.items;
  for (const id of cl.ids.slice(1)) assert.deepStrictEqual(cl.m(id).fsm.items, first, `${id} differs`);
}

describe('RaftNode: crashes at WAL boundaries', () => {
  test('a follower crashing before its fsync loses the unsynced batch, restarts and is re-probed (P20, P25)', async () => {
    const disks = new Map<string, SimDisk>();
    const crash = new Crasher();
    c = new Cluster({
      wrapDisk: (id) => {
        let d = disks.get(id);
        if (d === undefined) {
          d = new SimDisk();
          disks.set(id, d);
        }
        return d;
      },
      perNode: (id) => ({ walHook: crash.hook(id) }),
    });
    await c.start();
    const leader = await c.waitLeader();
    await c.waitAllApplied(await c.proposeMany('s', 100, 8));
    const f = c.ids.find((id) => id !== leader.id)!;
    const fnode = c.node(f);
    crash.arm(f, 'wal.beforeSync');
    const { index } = await c.propose('lost-on-follower');
    const reason = await fnode.done;
    assert.equal(reason.kind, 'fatal');
    assert.deepEqual(crash.hits, [`${f}@wal.beforeSync`]);
    // The entry commits on the other two (it never needed f's ack).
    await c.waitAllApplied(
      index,
      c.ids.filter((id) => id !== f),
    );
    await c.kill(f);
    disks.get(f)!.crash(seeded(7), { tear: 'garbage' });
    const more = await c.proposeMany('t', 50, 8);
    await c.restart(f);
    await c.waitAllApplied(more);
    assertSameItems(c);
    assert.ok(c.m(f).fsm.items.includes(`${index}:lost-on-follower`));
  });

  test('a crash after the WAL installed a snapshot but before the state machine restored it recovers at startup', async () => {
    const crash = new Crasher();
    c = new Cluster({
      node: { snapshotEvery: 150, snapshotRetain: 10 },
      perNode: (id) => ({ walHook: crash.hook(id) }),
    });
    await c.start();
    await c.waitLeader();
    await c.waitAllApplied(await c.proposeMany('u', 20, 4));
    const lagger = c.ids.find((id) => id !== c!.leader()!.id)!;
    await c.kill(lagger);
    const last = await c.proposeMany('v', 400, 32);
    const l = c.leader()!;
    await waitFor('compaction', () => l.firstIndex > c!.m(lagger).fsm.applied + 1);
    // The install save: snapshot marker, then write, sync, and the crash right after the sync.
    crash.arm(lagger, 'wal.afterSync', 'snap.beforeMarker');
    const restoresBefore = c.m(lagger).fsm.restores;
    await c.restart(lagger);
    const reason = await c.node(lagger).done;
    assert.equal(reason.kind, 'fatal');
    assert.deepEqual(crash.hits, [`${lagger}@wal.afterSync`]);
    assert.equal(c.m(lagger).fsm.restores, restoresBefore, 'the FSM had not restored yet');
    await c.kill(lagger);
    await c.restart(lagger);
    await c.waitAllApplied(last);
    assert.ok(c.m(lagger).fsm.restores > restoresBefore);
    assertSameItems(c);
  });
});
