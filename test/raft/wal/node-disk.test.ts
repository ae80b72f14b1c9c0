import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DelegatingDisk, wrapFile } from '../../../src/raft/disk/delegating.ts';
import { NodeDisk } from '../../../src/raft/disk/node-disk.ts';
import { Wal } from '../../../src/raft/wal/wal.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { batchOffsets, contentEnd, ent, ents, hs, show, snap } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'sealkv-wal-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('WAL on real files (NodeDisk)', () => {
  test('batches go out as one durable write each (O_DSYNC); a wrapper that watches syncs gets write + sync', async () => {
    const dir = join(root, 'durable');
    const disk = new NodeDisk();
    const f = await disk.open(join(root, 'durable-file'), 'create');
    await f.writeDurable!(3, Uint8Array.of(7, 8));
    assert.deepEqual([...(await f.read(0, 5))], [0, 0, 0, 7, 8]);
    await f.close();

    let writes = 0;
    const durable = new (class extends DelegatingDisk {
      override async open(path: string, mode: 'create' | 'existing') {
        const inner = await this.inner.open(path, mode);
        return wrapFile(inner, { close: () => inner.close() });
      }
    })(disk);
    const watched = new (class extends DelegatingDisk {
      override async open(path: string, mode: 'create' | 'existing') {
        const inner = await this.inner.open(path, mode);
        return wrapFile(inner, {
          write: (o, d) => {
            writes++;
            return inner.write(o, d);
          },
        });
      }
    })(disk);
    const opened = await durable.open(join(root, 'durable-file'), 'existing');
    assert.equal(
      typeof opened.writeDurable,
      'function',
      'a wrapper that only tracks close keeps the fast path',
    );
    await opened.close();

    const { wal } = await Wal.open(durable, { dir });
    for (let i = 1; i <= 5; i++) await wal.save(hs(1, i), [ent(i, 1)], { sync: true });
    assert.equal(wal.stats.fsyncs >= 5, true);
    await wal.close();
    const { wal: w2, state } = await Wal.open(watched, { dir });
    assert.deepEqual(show(state.entries), show(ents(1, 5, 1)));
    const before = writes;
    await w2.save(hs(1, 6), [ent(6, 1)], { sync: true });
    assert.ok(writes > before, 'the watching wrapper saw the batch write');
    await w2.close();
  });

  test('inline durable writes land at their offset, reject on error, and carry a WAL round trip', async () => {
    const disk = new NodeDisk({ inlineDurableWrites: true });
    const path = join(root, 'inline-file');
    const f = await disk.open(path, 'create');
    await f.writeDurable!(2, Uint8Array.of(1, 2, 3));
    await f.writeDurable!(0, Uint8Array.of(9));
    assert.deepEqual([...readFileSync(path)], [9, 0, 1, 2, 3]);
    // A write the file system refuses (EFBIG) fails as a rejected promise, like the
    // thread-pool path, not as a throw.
    const bad = f.writeDurable!(2 ** 50, Uint8Array.of(1));
    assert.ok(bad instanceof Promise);
    await assert.rejects(bad, /EFBIG/);
    await f.close();

    const dir = join(root, 'inline-wal');
    const { wal } = await Wal.open(disk, { dir, segmentBytes: 1024 });
    for (let i = 1; i <= 30; i++) await wal.save(hs(1, i - 1), [ent(i, 1)], { sync: true });
    await wal.close();
    const { wal: again, state } = await Wal.open(new NodeDisk(), { dir, segmentBytes: 1024 });
    assert.deepEqual(show(state.entries), show(ents(1, 30, 1)));
    await again.close();
  });

  test('round trip with rotation, overwrite, snapshot and purge', async () => {
    const dir = join(root, 'a');
    const disk = new NodeDisk();
    const opts = { dir, segmentBytes: 1024 };
    const { wal } = await Wal.open(disk, opts);
    for (let i = 1; i <= 40; i++) await wal.save(hs(1, i - 1), [ent(i, 1)], { sync: true });
    await wal.save(hs(2, 39, 'n2'), ents(40, 42, 2), { sync: true });
    const segs = readdirSync(dir).filter((n) => n.startsWith('wal-'));
    assert.ok(segs.length > 2, `rotated into ${segs.length}`);
    await wal.saveSnapshot(snap(30, 1), 'compact');
    assert.ok(readdirSync(dir).filter((n) => n.startsWith('wal-')).length < segs.length, 'purged');
    await wal.close();
    const { wal: w2, state } = await Wal.open(disk, opts);
    assert.deepEqual(show(state.entries), show([...ents(31, 39, 1), ...ents(40, 42, 2)]));
    assert.deepEqual(state.hardState, hs(2, 39, 'n2'));
    assert.deepEqual(state.snapshot, snap(30, 1));
    await w2.close();
  });

  test('a torn tail on disk is truncated and reported; a flipped bit earlier is refused', async () => {
    const dir = join(root, 'b');
    const disk = new NodeDisk();
    const { wal } = await Wal.open(disk, { dir });
    await wal.save(hs(1, 1), ents(1, 2, 1), { sync: true });
    await wal.save(hs(1, 2), ents(3, 4, 1), { sync: true });
    await wal.close();
    const name = readdirSync(dir).find((n) => n.startsWith('wal-'))!;
    const path = join(dir, name);
    const good = contentEnd(readFileSync(path), 0);
    assert.ok(statSync(path).size > good, 'zero padding after the last batch');
    // Garbage after the padding: the remainder is not all zeros, so it is a torn tail.
    appendFileSync(path, Buffer.from([0x53, 0x4b, 0x57, 0x42, 0, 0, 1, 0, 9, 9, 9]));
    const { wal: w2, state } = await Wal.open(disk, { dir });
    assert.equal(state.repaired?.offset, good);
    assert.equal(state.repaired?.file, name);
    assert.equal(statSync(path).size, good);
    assert.equal(state.entries.length, 4);
    await w2.close();

    const bytes = readFileSync(path);
    const offsets = batchOffsets(bytes, 0);
    bytes[offsets[1]! + 25]! ^= 0x10;
    writeFileSync(path, bytes);
    await assert.rejects(
      Wal.open(disk, { dir }),
      (e) => isSealError(e, 'ErrWalCorrupt') && e.details.file === name && e.details.offset === offsets[1],
    );
  });
});
