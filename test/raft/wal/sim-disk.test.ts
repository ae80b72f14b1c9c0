import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SECTOR, SimDisk } from '../../../src/raft/disk/sim-disk.ts';
import { prng } from './helpers.ts';

const filled = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('SimDisk crash model', () => {
  test('synced bytes always survive; unsynced ones survive as an arbitrary, not only prefix, subset of sectors', async () => {
    let sawNonPrefix = false;
    let sawAll = false;
    let sawNone = false;
    for (let seed = 1; seed <= 200; seed++) {
      const d = new SimDisk();
      const f = await d.open('/w/a', 'create');
      await d.syncDir('/w');
      await f.write(0, filled(SECTOR, 1));
      await f.sync();
      await f.write(SECTOR, filled(4 * SECTOR, 2));
      d.crash(prng(seed));
      const got = await d.readFile('/w/a');
      assert.ok(got.length >= SECTOR);
      assert.deepEqual(got.subarray(0, SECTOR), filled(SECTOR, 1));
      const kept: boolean[] = [];
      for (let s = 1; s < 5; s++) {
        const sec = got.subarray(s * SECTOR, (s + 1) * SECTOR);
        const k = sec.length === SECTOR && sec.every((b) => b === 2);
        assert.ok(k || sec.every((b) => b === 0), 'a sector is either the new data or absent/zero');
        kept.push(k);
      }
      const firstLost = kept.indexOf(false);
      if (firstLost >= 0 && kept.slice(firstLost).includes(true)) sawNonPrefix = true;
      if (kept.every(Boolean)) sawAll = true;
      if (got.length === SECTOR) sawNone = true;
    }
    assert.ok(sawNonPrefix && sawAll && sawNone);
  });

  test('a created file whose directory was not fsynced may vanish; after syncDir it stays', async () => {
    let vanished = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const d = new SimDisk();
      const f = await d.open('/w/a', 'create');
      await f.write(0, filled(10, 7));
      await f.sync();
      d.crash(prng(seed));
      if ((await d.list('/w')).length === 0) vanished++;
    }
    assert.ok(vanished > 0 && vanished < 40);
    for (let seed = 1; seed <= 20; seed++) {
      const d = new SimDisk();
      const f = await d.open('/w/a', 'create');
      await f.write(0, filled(10, 7));
      await f.sync();
      await d.syncDir('/w');
      d.crash(prng(seed));
      assert.deepEqual(await d.readFile('/w/a'), filled(10, 7));
    }
  });

  test('an un-synced rename or unlink may revert', async () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const d = new SimDisk();
      const f = await d.open('/w/tmp', 'create');
      await f.write(0, filled(3, 1));
      await f.sync();
      await d.syncDir('/w');
      await d.rename('/w/tmp', '/w/final');
      const g = await d.open('/w/old', 'create');
      await g.sync();
      d.crash(prng(seed));
      outcomes.add((await d.list('/w')).join(','));
    }
    assert.ok(outcomes.has('tmp') || outcomes.has('old,tmp'));
    assert.ok(outcomes.has('final') || outcomes.has('final,old'));
  });

  test('tear cuts the last write and fills its sector with zeros or garbage', async () => {
    for (const tear of ['zeros', 'garbage'] as const) {
      const d = new SimDisk();
      const f = await d.open('/w/a', 'create');
      await d.syncDir('/w');
      await f.write(0, filled(100, 1));
      await f.sync();
      await f.write(100, filled(2000, 9));
      d.crash(prng(3), { tear });
      const got = await d.readFile('/w/a');
      assert.deepEqual(got.subarray(0, 100), filled(100, 1));
      assert.ok(got.length % SECTOR === 0 && got.length < 2100 + SECTOR);
      let cut = 100;
      while (cut < got.length && got[cut] === 9) cut++;
      assert.ok(cut < 2100, 'the write was cut');
      if (tear === 'zeros') assert.ok(got.subarray(cut).every((b) => b === 0));
    }
  });

  test('injected faults fail the operation; handles are dead after a crash', async () => {
    const d = new SimDisk();
    const f = await d.open('/w/a', 'create');
    d.fault = (op) => (op === 'fsync' ? 'EIO' : undefined);
    await assert.rejects(f.sync(), { code: 'EIO' });
    d.fault = (op) => (op === 'write' ? 'ENOSPC' : undefined);
    await assert.rejects(f.write(0, filled(1, 1)), { code: 'ENOSPC' });
    d.fault = undefined;
    d.crash(prng(1));
    await assert.rejects(f.write(0, filled(1, 1)), { code: 'EBADF' });
  });
});

describe('SimDisk gate', () => {
  test('a gated fsync completes only when released; a crash before then loses the write', async () => {
    const d = new SimDisk();
    const f = await d.open('/w/a', 'create');
    await d.syncDir('/w');
    const held: Array<() => void> = [];
    d.gate = (op) => (op === 'fsync' ? new Promise<void>((r) => held.push(r)) : Promise.resolve());
    await f.write(0, filled(SECTOR, 5));
    let synced = false;
    const p = f.sync().then(() => {
      synced = true;
    });
    await Promise.resolve();
    assert.equal(synced, false);
    assert.equal(held.length, 1);
    d.crash(() => 0.99);
    held[0]!();
    await assert.rejects(p, { code: 'EBADF' });
    assert.equal((await d.readFile('/w/a')).length, 0);
  });
});
