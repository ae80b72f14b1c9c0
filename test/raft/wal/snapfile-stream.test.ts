import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { SnapshotMeta } from '../../../src/raft/core/types.ts';
import { SimDisk } from '../../../src/raft/disk/sim-disk.ts';
import {
  encodeSnapshotFile,
  snapFileName,
  snapshotFileChunks,
  verifySnapshotFile,
  writeSnapshotStream,
} from '../../../src/raft/wal/snapfile.ts';
import { Wal } from '../../../src/raft/wal/wal.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { hs, prng } from './helpers.ts';

const DIR = '/wal';
const meta = (index: number, term = 2): SnapshotMeta => ({
  index,
  term,
  conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
});

function image(len: number, seed: number): Uint8Array {
  const r = prng(seed);
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Cuts `data` at the given sizes (cycled), as an FSM stream of fresh chunks. */
async function* pieces(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let off = 0;
  for (let k = 0; off < data.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    yield data.slice(off, off + n);
    off += n;
  }
}

async function readAll(
  chunks: AsyncIterable<Uint8Array>,
  max = Number.POSITIVE_INFINITY,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) {
    assert.ok(c.length <= max, `chunk of ${c.length} > ${max}`);
    parts.push(c);
  }
  return new Uint8Array(Buffer.concat(parts));
}

async function rejectsCorrupt(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isSealError(e, 'ErrWalCorrupt'), `expected ErrWalCorrupt, got ${String(e)}`);
    return true;
  });
}

async function flipByte(disk: SimDisk, path: string, at: number): Promise<void> {
  const f = await disk.open(path, 'existing');
  const b = await f.read(at, 1);
  await f.write(at, Uint8Array.of(b[0]! ^ 0x40));
  await f.sync();
  await f.close();
}

describe('snapshot files: streaming', () => {
  test('a streamed file is byte for byte the encoded file, whatever the chunking, and streams back intact', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40_000 }),
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 9_000 }),
        fc.integer({ min: 64, max: 8_192 }),
        async (len, sizes, readChunk, writeBytes) => {
          const disk = new SimDisk();
          await disk.mkdirp(DIR);
          const data = image(len, len + sizes.length);
          const path = `${DIR}/x.snap`;
          const n = await writeSnapshotStream(disk, path, meta(7), pieces(data, sizes), { writeBytes });
          assert.equal(n, len);
          assert.deepEqual(await disk.readFile(path), encodeSnapshotFile({ meta: meta(7), data }));
          assert.deepEqual(
            await readAll(snapshotFileChunks(disk, path, readChunk, meta(7)), readChunk),
            data,
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  test('damage anywhere in the file ends the stream with ErrWalCorrupt before its last chunk', async () => {
    const disk = new SimDisk();
    await disk.mkdirp(DIR);
    const data = image(5_000, 1);
    const whole = encodeSnapshotFile({ meta: meta(9), data });
    const r = prng(3);
    for (let k = 0; k < 40; k++) {
      const path = `${DIR}/c${k}.snap`;
      await writeSnapshotStream(disk, path, meta(9), pieces(data, [700]));
      const at = k === 0 ? whole.length - 1 : Math.floor(r() * whole.length);
      await flipByte(disk, path, at);
      let seen = 0;
      await rejectsCorrupt(
        (async () => {
          for await (const c of snapshotFileChunks(disk, path, 1_000, meta(9))) seen += c.length;
        })(),
      );
      assert.ok(seen < data.length, `damage at ${at}: the whole image was handed out`);
      await rejectsCorrupt(verifySnapshotFile(disk, path, 1_000, meta(9)));
    }
  });

  test('a truncated file, a file of another snapshot and an over-limit stream are refused', async () => {
    const disk = new SimDisk();
    await disk.mkdirp(DIR);
    const data = image(3_000, 2);
    const path = `${DIR}/t.snap`;
    await writeSnapshotStream(disk, path, meta(4), pieces(data, [512]));
    await rejectsCorrupt(verifySnapshotFile(disk, path, 1_000, meta(5)));
    const f = await disk.open(path, 'existing');
    await f.truncate((await f.size()) - 1);
    await f.close();
    await rejectsCorrupt(verifySnapshotFile(disk, path, 1_000, meta(4)));
    await assert.rejects(
      writeSnapshotStream(disk, `${DIR}/big.snap`, meta(4), pieces(data, [512]), { maxBytes: 2_000 }),
      /2000-byte limit/,
    );
  });

  test('the WAL streams its snapshot file; recovery in verify mode checks it without loading it and refuses damage', async () => {
    const disk = new SimDisk();
    const { wal } = await Wal.open(disk, { dir: DIR });
    await wal.save(hs(2, 0), [], { sync: true });
    const data = image(100_000, 5);
    assert.equal(await wal.writeSnapshotStream(meta(3), pieces(data, [4_096, 333])), data.length);
    await wal.save(hs(2, 3), [], { sync: true, snapshot: { meta: meta(3), mode: 'install' } });
    await wal.close();
    const path = `${DIR}/${snapFileName(3, 2)}`;
    const again = await Wal.open(disk, { dir: DIR, snapshotData: 'verify' });
    assert.deepEqual(again.state.snapshot?.meta, meta(3));
    assert.equal(again.state.snapshot?.data.length, 0, 'the image stays in its file');
    assert.deepEqual(await readAll(snapshotFileChunks(disk, again.wal.snapshotPath(meta(3)), 8_192)), data);
    await again.wal.close();
    const loaded = await Wal.open(disk, { dir: DIR });
    assert.deepEqual(loaded.state.snapshot?.data, data, 'the default still loads the image');
    await loaded.wal.close();
    await flipByte(disk, path, 60_000);
    await rejectsCorrupt(Wal.open(disk, { dir: DIR, snapshotData: 'verify' }));
    await rejectsCorrupt(Wal.open(disk, { dir: DIR }));
  });

  test('a failing source leaves the WAL usable and no snapshot file; startup removes its temporary file', async () => {
    const disk = new SimDisk();
    const { wal } = await Wal.open(disk, { dir: DIR });
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10_000);
      throw new Error('state machine gave up');
    }
    await assert.rejects(wal.writeSnapshotStream(meta(1), failing()), /gave up/);
    assert.ok(!(await disk.list(DIR)).includes(snapFileName(1, 2)));
    await wal.save(hs(1, 0), [], { sync: true });
    await wal.close();
    const { wal: w2 } = await Wal.open(disk, { dir: DIR });
    assert.deepEqual(
      (await disk.list(DIR)).filter((n) => n.startsWith('snap-')),
      [],
      'the temporary file is gone',
    );
    await w2.close();
  });

  test('adoptSnapshotFile makes a staged file the snapshot file only if its header names the snapshot', async () => {
    const disk = new SimDisk();
    const { wal } = await Wal.open(disk, { dir: DIR });
    const data = image(2_000, 8);
    const staged = `${DIR}/snap-staged.snap.tmp`;
    await writeSnapshotStream(disk, staged, meta(6), pieces(data, [300]));
    await wal.adoptSnapshotFile(staged, meta(6));
    await wal.save(hs(2, 6), [], { sync: true, snapshot: { meta: meta(6), mode: 'install' } });
    assert.deepEqual(
      (await disk.list(DIR)).filter((n) => n.startsWith('snap-')),
      [snapFileName(6, 2)],
    );
    const other = `${DIR}/snap-other.snap.tmp`;
    await writeSnapshotStream(disk, other, meta(8), pieces(data, [300]));
    await rejectsCorrupt(wal.adoptSnapshotFile(other, meta(9)));
  });

  test('a snapshot superseded by a newer marker while it streamed is dropped, not published', async () => {
    const disk = new SimDisk();
    const { wal } = await Wal.open(disk, { dir: DIR });
    await wal.save(hs(2, 0), [], { sync: true });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(5_000).fill(1);
      await gate;
      yield new Uint8Array(5_000).fill(2);
    }
    const old = wal.writeSnapshotStream(meta(3), slow());
    await wal.writeSnapshotStream(meta(10), pieces(image(1_000, 4), [100]));
    await wal.save(hs(2, 10), [], { sync: true, snapshot: { meta: meta(10), mode: 'install' } });
    release();
    assert.equal(await old, undefined);
    assert.deepEqual(
      (await disk.list(DIR)).filter((n) => n.startsWith('snap-')),
      [snapFileName(10, 2)],
    );
    await wal.save(hs(2, 10), [], { sync: true });
  });
});
