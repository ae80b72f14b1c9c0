import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SimDisk } from '../../../src/raft/disk/sim-disk.ts';
import { decodeRecords, readFrame } from '../../../src/raft/wal/codec.ts';
import { Wal, type WalOptions } from '../../../src/raft/wal/wal.ts';
import { isSealError } from '../../../src/util/errors.ts';
import {
  batchOffsets,
  contentEnd,
  ent,
  ents,
  hs,
  Killed,
  killAt,
  prng,
  segmentSalt,
  show,
  zerosFrom,
} from './helpers.ts';

// Grow-ahead zero padding: the open segment keeps zeros after its last batch so most fsyncs
// change no file size; recovery reads them as a clean end; closed segments never keep them.

const DIR = '/data/wal';

function open(disk: SimDisk, opts: Partial<WalOptions> = {}) {
  return Wal.open(disk, { dir: DIR, ...opts });
}

/** One synced entry at a time until the first segment's content reaches `segmentBytes`. */
async function fillFirstSegment(
  disk: SimDisk,
  wal: Wal,
  segmentBytes: number,
): Promise<{ i: number; seg: { name: string; seq: number; bytes: Uint8Array } | undefined }> {
  let i = 0;
  let [seg] = await segmentFiles(disk);
  while (contentEnd(seg!.bytes, 0) < segmentBytes) {
    i++;
    await wal.save(hs(1, i), [ent(i, 1)], { sync: true });
    [seg] = await segmentFiles(disk);
  }
  return { i, seg };
}

async function segmentFiles(disk: SimDisk): Promise<Array<{ name: string; seq: number; bytes: Uint8Array }>> {
  const names = (await disk.list(DIR)).filter((n) => n.startsWith('wal-'));
  const out = [];
  for (const name of names) {
    out.push({
      name,
      seq: Number.parseInt(name.slice(4, 20), 16),
      bytes: await disk.readFile(`${DIR}/${name}`),
    });
  }
  return out;
}

/** Whether the segment's last whole batch is its end marker and ends exactly at the file's end. */
function endsAtMarker(bytes: Uint8Array, seq: number): boolean {
  const last = batchOffsets(bytes, seq).at(-1);
  if (last === undefined || last === 0) return false;
  const fr = readFrame(bytes, last, segmentSalt(bytes, seq));
  if (!fr.ok) return false;
  const recs = decodeRecords(fr.payload);
  return recs.length === 1 && recs[0]!.type === 'end' && fr.next === bytes.length;
}

/** Every segment but the last is closed and byte-exact. */
async function assertClosedSegmentsExact(disk: SimDisk): Promise<void> {
  const segs = await segmentFiles(disk);
  for (const s of segs.slice(0, -1)) assert.ok(endsAtMarker(s.bytes, s.seq), `${s.name} ends at its marker`);
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('grow-ahead zero padding', () => {
  test('the file stays ahead of the last batch with zeros; still one write and one fsync per batch', async () => {
    for (const padBytes of [512, 4096, undefined]) {
      const disk = new SimDisk();
      const { wal } = await open(disk, { padBytes });
      const [name] = (await segmentFiles(disk)).map((s) => s.name);
      for (let i = 1; i <= 40; i++) {
        const writes = disk.stats.writes;
        const fsyncs = disk.stats.fsyncs;
        await wal.save(hs(1, i - 1), [ent(i, 1, 'x'.repeat(i * 3))], { sync: true });
        assert.equal(disk.stats.writes - writes, 1, 'one write per batch');
        assert.equal(disk.stats.fsyncs - fsyncs, 1, 'one fsync per batch');
        const bytes = await disk.readFile(`${DIR}/${name}`);
        const end = contentEnd(bytes, 0);
        assert.ok(bytes.length > end, `pad ${padBytes} batch ${i}: file ${bytes.length} ahead of ${end}`);
        assert.ok(zerosFrom(bytes, end), 'only zeros after the last batch');
      }
      const { batches, growingWrites } = wal.stats;
      if (padBytes === undefined) assert.equal(growingWrites, 0, 'the new segment was padded at creation');
      else
        assert.ok(
          growingWrites > 0 && growingWrites < batches / 2,
          `${growingWrites} of ${batches} grew the file`,
        );
    }
  });

  test('padBytes 0 appends as before: every batch grows the file, no zeros', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk, { padBytes: 0 });
    for (let i = 1; i <= 10; i++) await wal.save(hs(1, i - 1), [ent(i, 1)], { sync: true });
    const [seg] = await segmentFiles(disk);
    assert.equal(seg!.bytes.length, contentEnd(seg!.bytes, 0));
    assert.equal(wal.stats.growingWrites, 10);
    assert.equal(wal.stats.paddedBytes, 0);
    await assert.rejects(open(new SimDisk(), { padBytes: -1 }), (e) => isSealError(e, 'ErrInvalidArgument'));
  });

  test('a padded tail recovers clean; the writer continues over the zeros; a second recovery sees everything', async () => {
    for (const how of ['close', 'crash'] as const) {
      const disk = new SimDisk();
      const opts = { padBytes: 4096 };
      const { wal } = await open(disk, opts);
      await wal.save(hs(1, 2), ents(1, 3, 1), { sync: true });
      await wal.save(hs(1, 3), ents(4, 6, 1), { sync: true });
      if (how === 'close') await wal.close();
      else disk.crash(prng(3));
      const [seg] = await segmentFiles(disk);
      const path = `${DIR}/${seg!.name}`;
      const end = contentEnd(seg!.bytes, 0);
      assert.ok(seg!.bytes.length > end && zerosFrom(seg!.bytes, end), 'a zero tail survives');

      const again = await open(disk, opts);
      assert.equal(again.state.repaired, undefined, 'zeros after the last batch are no damage');
      assert.deepEqual(show(again.state.entries), show(ents(1, 6, 1)));
      assert.equal((await disk.readFile(path)).length, seg!.bytes.length, 'recovery leaves the padding');

      const writes = disk.stats.writes;
      await again.wal.save(hs(2, 6, 'n2'), ents(7, 8, 2), { sync: true });
      assert.equal(disk.stats.writes - writes, 1);
      const after = await disk.readFile(path);
      assert.ok(batchOffsets(after, 0).includes(end), 'the next batch starts where the last one ended');
      assert.equal(after.length, seg!.bytes.length, 'it overwrote zeros: no size change');
      assert.equal(again.wal.stats.growingWrites, 0);

      disk.crash(prng(4));
      const third = await open(disk, opts);
      assert.equal(third.state.repaired, undefined);
      assert.deepEqual(show(third.state.entries), show([...ents(1, 6, 1), ...ents(7, 8, 2)]));
      assert.deepEqual(third.state.hardState, hs(2, 6, 'n2'));
    }
  });

  test('a torn batch followed by zeros is still repaired, padding and all; then the writer pads again', async () => {
    // 1 MiB: the torn batch lands inside the padding. 64: the torn write is the one growing it.
    for (const padBytes of [1024 * 1024, 64]) {
      let repairs = 0;
      for (let seed = 1; seed <= 12; seed++) {
        const tear = seed % 2 === 0 ? 'garbage' : 'zeros';
        const disk = new SimDisk();
        const opts = { padBytes };
        const { wal } = await open(disk, { ...opts, hook: killAt('wal.beforeSync', 2) });
        await wal.save(hs(1, 2), ents(1, 2, 1), { sync: true });
        const [seg] = await segmentFiles(disk);
        const path = `${DIR}/${seg!.name}`;
        const tornAt = contentEnd(seg!.bytes, 0);
        const grew = wal.stats.growingWrites;
        await assert.rejects(wal.save(hs(1, 5), ents(3, 40, 1), { sync: true }), Killed);
        assert.equal(wal.stats.growingWrites - grew, padBytes === 64 ? 1 : 0);
        disk.crash(prng(seed), { tear });
        const image = await disk.readFile(path);
        const { wal: w2, state } = await open(disk, opts);
        assert.deepEqual(show(state.entries), show(ents(1, 2, 1)), 'the torn batch is dropped');
        assert.deepEqual(state.hardState, hs(1, 2));
        if (zerosFrom(image, tornAt)) {
          // Not one byte of the batch reached the disk: a clean end.
          assert.equal(state.repaired, undefined);
          assert.equal((await disk.readFile(path)).length, image.length);
        } else {
          repairs++;
          assert.equal(state.repaired?.offset, tornAt);
          assert.equal(state.repaired?.droppedBytes, image.length - tornAt);
          assert.equal((await disk.readFile(path)).length, tornAt, 'truncated at the batch start');
        }
        await w2.save(hs(1, 4), ents(3, 4, 1), { sync: true });
        const bytes = await disk.readFile(path);
        assert.ok(bytes.length > contentEnd(bytes, 0), 'padded again');
        disk.crash(prng(seed + 50));
        const last = await open(disk, opts);
        assert.equal(last.state.repaired, undefined);
        assert.deepEqual(show(last.state.entries), show(ents(1, 4, 1)));
      }
      assert.ok(repairs >= 10, `pad ${padBytes}: ${repairs} of 12 torn batches repaired`);
    }
  });

  test('a bit flip in the last batch of a padded segment is a torn tail; one in an earlier batch is refused', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    for (let i = 1; i <= 3; i++) await wal.save(hs(1, i * 2), ents(i * 2 - 1, i * 2, 1), { sync: true });
    await wal.close();
    const [seg] = await segmentFiles(disk);
    const path = `${DIR}/${seg!.name}`;
    const offsets = batchOffsets(seg!.bytes, 0);
    disk.flipBit(path, offsets[2]! + 2);
    await assert.rejects(
      open(disk),
      (e) => isSealError(e, 'ErrWalCorrupt') && e.details.offset === offsets[2],
    );
    disk.flipBit(path, offsets[2]! + 2);
    disk.flipBit(path, offsets.at(-1)! + 30);
    const { state } = await open(disk);
    assert.equal(state.repaired?.offset, offsets.at(-1));
    assert.equal(state.repaired?.droppedBytes, seg!.bytes.length - offsets.at(-1)!);
    assert.deepEqual(show(state.entries), show(ents(1, 4, 1)));
  });

  test('non-zero bytes anywhere in the padding make a torn tail, not a clean end', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk, { padBytes: 8192 });
    await wal.save(hs(1, 2), ents(1, 2, 1), { sync: true });
    await wal.close();
    const [seg] = await segmentFiles(disk);
    const end = contentEnd(seg!.bytes, 0);
    disk.flipBit(`${DIR}/${seg!.name}`, seg!.bytes.length - 1);
    const { state } = await open(disk);
    assert.equal(state.repaired?.offset, end);
    assert.equal((await disk.readFile(`${DIR}/${seg!.name}`)).length, end);
    assert.deepEqual(show(state.entries), show(ents(1, 2, 1)));
  });
});

describe('rotation with padding', () => {
  test('closed segments end exactly at their end marker; only the open one is padded', async () => {
    for (const padBytes of [100, 1024 * 1024]) {
      const disk = new SimDisk();
      const opts = { segmentBytes: 300, padBytes };
      let { wal } = await open(disk, opts);
      for (let i = 1; i <= 40; i++) await wal.save(hs(1, i), [ent(i, 1)], { sync: true });
      const segs = await segmentFiles(disk);
      assert.ok(segs.length >= 4, `rotated into ${segs.length}`);
      await assertClosedSegmentsExact(disk);
      const open_ = segs.at(-1)!;
      assert.ok(open_.bytes.length > contentEnd(open_.bytes, open_.seq), 'the open segment is padded');
      await wal.close();
      ({ wal } = await open(disk, opts));
      for (let i = 41; i <= 60; i++) await wal.save(hs(1, i), [ent(i, 1)], { sync: true });
      await assertClosedSegmentsExact(disk);
      disk.crash(prng(padBytes));
      const { state } = await open(disk, opts);
      assert.equal(state.repaired, undefined);
      assert.deepEqual(show(state.entries), show(ents(1, 60, 1)));
    }
  });

  test('a crash between cutting the padding and the end marker fsync: recovery closes or reopens the segment, never keeps padding in a closed one', async () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const disk = new SimDisk();
      const opts = { segmentBytes: 300, padBytes: 1024 * 1024, salt: () => 0x5eed };
      const { wal } = await open(disk, opts);
      const { i, seg } = await fillFirstSegment(disk, wal, opts.segmentBytes);
      assert.ok(seg!.bytes.length > contentEnd(seg!.bytes, 0), 'padded before the rotation');
      // The next save rotates first: hold that rotation's fsync and crash under it.
      const held: Array<() => void> = [];
      disk.gate = (op) => (op === 'fsync' ? new Promise<void>((r) => held.push(r)) : Promise.resolve());
      const pending = wal.save(hs(1, i + 1), [ent(i + 1, 1)], { sync: true });
      await tick();
      assert.equal(held.length, 1, 'the rotation fsync is in flight');
      disk.crash(prng(seed));
      held.shift()!();
      await assert.rejects(pending, (e) => isSealError(e, 'ErrWalFailed'));
      disk.gate = undefined;

      const image = (await segmentFiles(disk))[0]!.bytes;
      const end = contentEnd(image, 0);
      const marker = endsAtMarker(image.subarray(0, end), 0);
      const kind = marker
        ? end === image.length
          ? 'closed'
          : 'marker+zeros'
        : zerosFrom(image, end)
          ? image.length > end
            ? 'open, padded'
            : 'open, cut'
          : 'torn marker';
      seen.add(kind);

      const { wal: w2, state } = await open(disk, opts);
      assert.deepEqual(show(state.entries), show(ents(1, i, 1)), `${kind}: the synced log`);
      assert.equal(state.repaired !== undefined, kind === 'torn marker', `${kind}: reported only if torn`);
      const segs = await segmentFiles(disk);
      if (marker) {
        assert.equal(segs.length, 2, 'a closed segment gets its successor');
        assert.ok(endsAtMarker(segs[0]!.bytes, 0), `${kind}: byte-exact after recovery`);
      }
      // The node keeps going across more rotations, and a later recovery accepts every segment.
      for (let k = i + 1; k <= i + 12; k++) await w2.save(hs(1, k), [ent(k, 1)], { sync: true });
      await assertClosedSegmentsExact(disk);
      disk.crash(prng(seed + 1000));
      const last = await open(disk, opts);
      assert.deepEqual(show(last.state.entries), show(ents(1, i + 12, 1)));
    }
    for (const k of ['closed', 'marker+zeros', 'open, padded', 'open, cut']) {
      assert.ok(seen.has(k), `outcome "${k}" occurs across seeds: ${[...seen]}`);
    }
  });

  test('a crash while recovery trims a closed segment’s zero tail is recovered the same way', async () => {
    let trimmed = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const disk = new SimDisk();
      const opts = { segmentBytes: 300, padBytes: 1024 * 1024 };
      const { wal } = await open(disk, opts);
      const { i } = await fillFirstSegment(disk, wal, opts.segmentBytes);
      const held: Array<() => void> = [];
      disk.gate = (op) => (op === 'fsync' ? new Promise<void>((r) => held.push(r)) : Promise.resolve());
      const pending = wal.save(hs(1, i + 1), [ent(i + 1, 1)], { sync: true });
      await tick();
      disk.crash(prng(seed));
      held.shift()!();
      await assert.rejects(pending);
      const image = (await segmentFiles(disk))[0]!.bytes;
      const end = contentEnd(image, 0);
      if (!(endsAtMarker(image.subarray(0, end), 0) && image.length > end)) {
        disk.gate = undefined;
        continue;
      }
      // Marker followed by zeros: recovery's trim fsync is the first one it makes.
      const opening = open(disk, opts).then(
        () => 'opened',
        () => 'failed',
      );
      await tick();
      assert.equal(held.length, 1, 'recovery is in its trim fsync');
      disk.crash(prng(seed + 500));
      held.shift()!();
      assert.equal(await opening, 'failed');
      disk.gate = undefined;
      trimmed++;
      const { state } = await open(disk, opts);
      assert.equal(state.repaired, undefined);
      assert.deepEqual(show(state.entries), show(ents(1, i, 1)));
      await assertClosedSegmentsExact(disk);
      assert.ok(endsAtMarker((await segmentFiles(disk))[0]!.bytes, 0));
    }
    assert.ok(trimmed > 0, 'some seeds left the marker followed by zeros');
  });
});
