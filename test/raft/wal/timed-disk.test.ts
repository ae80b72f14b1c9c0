import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NodeDisk } from '../../../src/raft/disk/node-disk.ts';
import { TimedDisk } from '../../../src/raft/disk/timed.ts';
import { Wal } from '../../../src/raft/wal/wal.ts';
import { ent, hs } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'sealkv-timed-disk-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('every durability barrier is timed once; plain writes are not; the durable write stays', async () => {
  const seen: number[] = [];
  let clock = 0;
  const disk = new TimedDisk(
    new NodeDisk(),
    (s) => seen.push(s),
    () => (clock += 5),
  );
  const path = join(root, 'f');
  const f = await disk.open(path, 'create');
  await f.write(0, Uint8Array.of(1));
  assert.deepEqual(seen, []);
  assert.equal(typeof f.writeDurable, 'function', 'the one-call durable write is kept');
  await f.writeDurable!(1, Uint8Array.of(2));
  await f.sync();
  await disk.syncDir(root);
  assert.deepEqual(seen, [0.005, 0.005, 0.005]);
  assert.deepEqual([...readFileSync(path)], [1, 2]);
  await f.close();

  // A failed barrier is still timed, and its error reaches the caller.
  await assert.rejects(disk.syncDir(join(root, 'missing')), /ENOENT/);
  assert.equal(seen.length, 4);
});

test('a WAL over a timed disk reports one barrier per synced save', async () => {
  let barriers = 0;
  const { wal } = await Wal.open(new TimedDisk(new NodeDisk(), () => barriers++), { dir: join(root, 'wal') });
  const before = barriers;
  for (let i = 1; i <= 5; i++) await wal.save(hs(1, i), [ent(i, 1)], { sync: true });
  assert.equal(barriers - before, 5);
  await wal.close();
});
