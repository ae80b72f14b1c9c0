import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EntryType } from '../../../src/raft/core/types.ts';
import { SimDisk } from '../../../src/raft/disk/sim-disk.ts';
import { encodeBatch, RecordWriter } from '../../../src/raft/wal/codec.ts';
import { Wal, type WalCrashPoint, type WalOptions } from '../../../src/raft/wal/wal.ts';
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
  snap,
} from './helpers.ts';

const DIR = '/data/wal';

async function open(disk: SimDisk, opts: Partial<WalOptions> = {}) {
  return Wal.open(disk, { dir: DIR, ...opts });
}

async function segments(disk: SimDisk): Promise<string[]> {
  return (await disk.list(DIR)).filter((n) => n.startsWith('wal-'));
}

function isCorrupt(file: string, offset?: number) {
  return (e: unknown) => {
    assert.ok(isSealError(e, 'ErrWalCorrupt'), `expected ErrWalCorrupt, got ${String(e)}`);
    assert.equal(e.details.file, file);
    if (offset !== undefined) assert.equal(e.details.offset, offset);
    assert.match(e.message, new RegExp(`${file} at offset ${e.details.offset}`));
    return true;
  };
}

describe('WAL round trip', () => {
  test('hard state, entries and a snapshot come back after close and reopen', async () => {
    const disk = new SimDisk();
    const { wal, state } = await open(disk);
    assert.deepEqual(state.hardState, { term: 0, vote: '', commit: 0 });
    assert.deepEqual(state.entries, []);
    assert.equal(state.snapshot, undefined);
    await wal.save(hs(1, 0, 'n1'), ents(1, 3, 1), { sync: true });
    await wal.save(hs(2, 2, 'n2'), [ent(4, 2)], { sync: true });
    await wal.saveSnapshot(snap(2, 1), 'compact');
    await wal.save(undefined, ents(5, 6, 2), { sync: true });
    await wal.close();
    const again = await open(disk);
    assert.deepEqual(again.state.hardState, hs(2, 2, 'n2'));
    assert.deepEqual(show(again.state.entries), show([...ents(3, 3, 1), ent(4, 2), ...ents(5, 6, 2)]));
    assert.deepEqual(again.state.snapshot, snap(2, 1));
    assert.equal(again.state.repaired, undefined);
  });

  test('entries overwriting a suffix supersede the tail, also across reopen and rotation', async () => {
    const disk = new SimDisk();
    let { wal } = await open(disk, { segmentBytes: 200 });
    await wal.save(hs(1, 2), ents(1, 5, 1), { sync: true });
    await wal.save(hs(2, 2), ents(4, 6, 2), { sync: true });
    await wal.close();
    ({ wal } = await open(disk, { segmentBytes: 200 }));
    await wal.save(undefined, ents(3, 3, 3), { sync: true });
    await wal.save(undefined, ents(4, 7, 3, 'x'), { sync: true });
    await wal.save(hs(3, 2), ents(6, 6, 4), { sync: true });
    assert.ok((await segments(disk)).length > 1, 'rotated');
    await wal.close();
    const { state } = await open(disk);
    assert.deepEqual(
      show(state.entries),
      show([...ents(1, 2, 1), ent(3, 3), ...ents(4, 5, 3, 'x'), ent(6, 4)]),
    );
    assert.deepEqual(state.hardState, hs(3, 2));
  });

  test('saves that would break the log are refused and the WAL stays usable', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    await wal.save(hs(1, 3), ents(1, 4, 1), { sync: true });
    await assert.rejects(wal.save(undefined, ents(6, 6, 1), { sync: true }), /gap/);
    await assert.rejects(wal.save(undefined, [ent(5, 1), ent(7, 1)], { sync: true }), /contiguous/);
    await assert.rejects(wal.save(undefined, ents(2, 2, 2), { sync: true }), /commit/);
    await assert.rejects(wal.save(hs(1, 9), [], { sync: true }), /commit/);
    await assert.rejects(
      wal.save(undefined, [], { sync: true, snapshot: { meta: snap(2, 1).meta, mode: 'compact' } }),
      /writeSnapshotFile/,
    );
    await assert.rejects(
      wal.save(undefined, [{ ...ent(5, 1), type: 7 as EntryType }], { sync: true }),
      /entry type/,
    );
    // A record that cannot be encoded leaves nothing behind in the batch it was joining.
    const pending = wal.save(hs(1, 4), [ent(5, 1)], { sync: true });
    await assert.rejects(
      wal.save({ term: 1, vote: 'v'.repeat(70000), commit: 4 }, [ent(6, 1)], { sync: true }),
      (e) => isSealError(e, 'ErrInvalidArgument'),
    );
    await pending;
    await wal.save(undefined, ents(6, 6, 1), { sync: true });
    await wal.close();
    const { state } = await open(disk);
    assert.deepEqual(show(state.entries), show(ents(1, 6, 1)));
    assert.deepEqual(state.hardState, hs(1, 4));
  });

  test('sync:false saves ride with the next synced batch and never form an unsynced batch alone', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    await wal.save(hs(1, 0), ents(1, 2, 1), { sync: true });
    const fsyncs = wal.stats.fsyncs;
    await wal.save(hs(1, 1), [], { sync: false });
    assert.equal(wal.stats.fsyncs, fsyncs, 'no write or fsync for a commit-only save');
    disk.crash(prng(1));
    const { wal: w2, state } = await open(disk);
    assert.deepEqual(state.hardState, hs(1, 0));
    await w2.save(hs(1, 1), [], { sync: false });
    await w2.save(undefined, [ent(3, 1)], { sync: true });
    disk.crash(prng(2));
    const after = await open(disk);
    assert.deepEqual(after.state.hardState, hs(1, 1));
    assert.equal(after.state.entries.length, 3);
  });
});

describe('group commit', () => {
  test('concurrent saves while an fsync is in flight share the next write+fsync', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    const before = wal.stats.fsyncs;
    const saves = [];
    for (let i = 1; i <= 100; i++) saves.push(wal.save(hs(1, i - 1), [ent(i, 1)], { sync: true }));
    await Promise.all(saves);
    const used = wal.stats.fsyncs - before;
    assert.ok(used <= 2, `100 saves used ${used} fsyncs`);
    assert.equal(wal.stats.saves, 100);
    disk.crash(prng(9));
    const { state } = await open(disk);
    assert.equal(state.entries.length, 100);
    assert.deepEqual(state.hardState, hs(1, 99));
  });
});

describe('group commit with a slow fsync', () => {
  test('saves made while an fsync is held form exactly one next batch; a crash meanwhile acks none of them', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    await wal.save(hs(1, 0), ents(1, 1, 1), { sync: true });
    const held: Array<() => void> = [];
    disk.gate = (op) => (op === 'fsync' ? new Promise<void>((r) => held.push(r)) : Promise.resolve());
    const fsyncs0 = wal.stats.fsyncs;
    const acked: number[] = [];
    const saves: Promise<void>[] = [];
    for (let i = 2; i <= 51; i++) {
      saves.push(wal.save(undefined, [ent(i, 1)], { sync: true }).then(() => void acked.push(i)));
      await Promise.resolve();
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(held.length, 1, 'one fsync in flight');
    held.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(acked, [2], 'only the first save rode the first fsync');
    assert.equal(held.length, 1, 'the other 49 saves wait on one shared fsync');
    held.shift()!();
    await Promise.all(saves);
    assert.equal(wal.stats.fsyncs - fsyncs0, 2);
    assert.equal(acked.length, 50);

    // Now crash while the next group's fsync is held: nothing of that group was acknowledged.
    const more = [
      wal.save(undefined, [ent(52, 1)], { sync: true }),
      wal.save(undefined, [ent(53, 1)], { sync: true }),
    ];
    await new Promise((r) => setImmediate(r));
    assert.equal(held.length, 1);
    disk.crash(prng(4));
    held.shift()!();
    for (const p of more) await assert.rejects(p, (e) => isSealError(e, 'ErrWalFailed'));
    disk.gate = undefined;
    const { state } = await open(disk);
    assert.ok(
      [51, 53].includes(state.entries.at(-1)!.index),
      'the unacked group survives whole or not at all',
    );
  });
});

describe('crash at each named point', () => {
  async function scenario(
    point: WalCrashPoint,
    seed: number,
    padBytes: number | undefined,
    tear?: 'zeros' | 'garbage',
  ) {
    const disk = new SimDisk();
    const segmentBytes = point === 'segment.rotate' ? 100 : 1 << 20;
    let { wal } = await open(disk, { segmentBytes, padBytes });
    await wal.save(hs(1, 1, 'n1'), ents(1, 3, 1), { sync: true });
    await wal.saveSnapshot(snap(1, 1), 'compact');
    await wal.close();
    ({ wal } = await open(disk, { segmentBytes, padBytes, hook: killAt(point) }));
    const attempt =
      point === 'snap.afterFile' || point === 'snap.beforeMarker'
        ? wal.saveSnapshot(snap(3, 1), 'compact', hs(2, 3, 'n2'))
        : wal.save(hs(2, 3, 'n2'), ents(3, 5, 2), { sync: true });
    await assert.rejects(attempt, (e) => e instanceof Killed && e.point === point);
    await assert.rejects(wal.save(undefined, [], { sync: true }), (e) => isSealError(e, 'ErrWalFailed'));
    disk.crash(prng(seed), tear === undefined ? {} : { tear });
    const { wal: w2, state } = await open(disk, { segmentBytes, padBytes });
    return { disk, wal: w2, state };
  }

  const before = { hs: hs(1, 1, 'n1'), log: show(ents(2, 3, 1)), snap: 1 };
  const after = { hs: hs(2, 3, 'n2'), log: show([ent(2, 1), ...ents(3, 5, 2)]), snap: 1 };
  const afterSnap = { hs: hs(2, 3, 'n2'), log: [] as string[], snap: 3 };

  const expected: Record<WalCrashPoint, Array<typeof before>> = {
    'wal.beforeWrite': [before],
    'wal.beforeSync': [before, after],
    'wal.afterSync': [after],
    'segment.rotate': [before],
    'snap.afterFile': [before],
    'snap.beforeMarker': [before],
  };

  // Padding 0: every batch appends. 64: the killed batch grows the padding. Default: it lands in zeros.
  for (const [point, padBytes] of (Object.keys(expected) as WalCrashPoint[]).flatMap((p) =>
    [0, 64, undefined].map((pad) => [p, pad] as const),
  )) {
    test(`kill at ${point} (padBytes ${padBytes ?? 'default'}): only synced batches survive, the last one only if whole`, async () => {
      const seen = new Set<number>();
      for (let seed = 1; seed <= 12; seed++) {
        const tear = seed % 3 === 0 ? 'garbage' : undefined;
        const { disk, wal, state } = await scenario(point, seed, padBytes, tear);
        const got = { hs: state.hardState, log: show(state.entries), snap: state.snapshot?.meta.index ?? 0 };
        const i = expected[point].findIndex((e) => JSON.stringify(e) === JSON.stringify(got));
        assert.ok(i >= 0, `${point} seed ${seed}: unexpected recovery ${JSON.stringify(got)}`);
        seen.add(i);
        if (i === 0 && point === 'wal.beforeSync' && state.repaired === undefined) {
          // Nothing of the batch reached the disk: nothing to repair.
        }
        if (point.startsWith('snap.')) {
          const files = (await disk.list(DIR)).filter((n) => n.startsWith('snap-'));
          assert.equal(files.length, 1, 'orphan snapshot files removed at startup');
        }
        // The node keeps working after recovery.
        const last = state.entries.at(-1)?.index ?? state.snapshot?.meta.index ?? 0;
        await wal.save(hs(9, last + 1), [ent(last + 1, 9)], { sync: true });
        await wal.close();
        const again = await open(disk, { padBytes });
        assert.equal(again.state.entries.at(-1)?.index, last + 1);
        assert.equal(again.state.repaired, undefined);
      }
      if (point === 'wal.beforeSync') assert.equal(seen.size, 2, 'both outcomes occur across seeds');
    });
  }

  test('a successful snapshot at the same place is what the snap points would have produced', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    await wal.save(hs(1, 3), ents(1, 3, 1), { sync: true });
    await wal.saveSnapshot(snap(3, 1), 'compact', hs(2, 3, 'n2'));
    disk.crash(prng(5));
    const { state } = await open(disk);
    assert.deepEqual(
      { hs: state.hardState, log: show(state.entries), snap: state.snapshot?.meta.index },
      afterSnap,
    );
  });
});

describe('torn tail vs corruption', () => {
  async function threeBatches() {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    await wal.save(hs(1, 0), ents(1, 3, 1), { sync: true });
    await wal.save(hs(1, 3), ents(4, 6, 1), { sync: true });
    await wal.save(hs(1, 6), ents(7, 9, 1), { sync: true });
    await wal.close();
    const [name] = await segments(disk);
    const bytes = await disk.readFile(`${DIR}/${name}`);
    return { disk, name: name!, bytes, offsets: batchOffsets(bytes, 0) };
  }

  for (const tear of ['zeros', 'garbage'] as const) {
    test(`a torn last batch (${tear}) is dropped, reported and truncated`, async () => {
      for (let seed = 1; seed <= 8; seed++) {
        const disk = new SimDisk();
        const { wal } = await open(disk, { hook: killAt('wal.beforeSync', 2) });
        await wal.save(hs(1, 2), ents(1, 2, 1), { sync: true });
        const [name] = await segments(disk);
        const tornAt = contentEnd(await disk.readFile(`${DIR}/${name}`), 0);
        await assert.rejects(wal.save(hs(1, 5), ents(3, 40, 1), { sync: true }), Killed);
        disk.crash(prng(seed), { tear });
        const { state } = await open(disk);
        assert.deepEqual(show(state.entries), show(ents(1, 2, 1)));
        assert.deepEqual(state.hardState, hs(1, 2));
        assert.equal(state.repaired?.file, name);
        assert.equal(state.repaired?.offset, tornAt);
        assert.equal((await disk.readFile(`${DIR}/${name}`)).length, tornAt, 'truncated at the batch start');
      }
    });
  }

  test('scrambling the last batch, even leaving later records intact, is repaired', async () => {
    const { disk, name, bytes, offsets } = await threeBatches();
    const last = offsets.at(-1)!;
    disk.flipBit(`${DIR}/${name}`, last + 30);
    const { state } = await open(disk);
    assert.deepEqual(show(state.entries), show(ents(1, 6, 1)));
    assert.deepEqual(state.hardState, hs(1, 3));
    assert.deepEqual(state.repaired && { ...state.repaired, reason: '' }, {
      file: name,
      offset: last,
      droppedBytes: bytes.length - last,
      reason: '',
    });
  });

  test('a frame a client embeds in entry data cannot make a torn last batch look like corruption', async () => {
    for (const guess of [0, 1, 0xdeadbeef]) {
      const disk = new SimDisk();
      const { wal } = await open(disk, { salt: () => 0x5a17 });
      await wal.save(hs(1, 1), ents(1, 1, 1), { sync: true });
      const inner = new RecordWriter();
      inner.entry(ent(99, 9));
      const forged = encodeBatch([inner.finish()], guess);
      await wal.save(hs(1, 2), [{ ...ent(2, 1), data: forged }], { sync: true });
      await wal.close();
      const [name] = await segments(disk);
      const offsets = batchOffsets(await disk.readFile(`${DIR}/${name}`), 0);
      disk.flipBit(`${DIR}/${name}`, offsets.at(-1)! + 5);
      const { state } = await open(disk);
      assert.equal(state.repaired?.offset, offsets.at(-1));
      assert.deepEqual(show(state.entries), show(ents(1, 1, 1)));
    }
  });

  test('a bit flip in an earlier batch is refused, naming file and offset', async () => {
    for (const delta of [2, 6, 20, 40]) {
      const { disk, name, offsets } = await threeBatches();
      disk.flipBit(`${DIR}/${name}`, offsets[2]! + delta, 3);
      await assert.rejects(open(disk), isCorrupt(name, offsets[2]));
      // Refusal leaves the files untouched.
      await assert.rejects(open(disk), isCorrupt(name, offsets[2]));
    }
  });

  test('a damaged header batch followed by synced batches is refused, not dropped with its segment', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    await wal.save(hs(1, 1), ents(1, 2, 1), { sync: true });
    await wal.close();
    const [name] = await segments(disk);
    disk.flipBit(`${DIR}/${name}`, 20);
    await assert.rejects(open(disk), isCorrupt(name!, 0));
  });

  test('a bit flip in a closed segment is refused, naming that segment', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk, { segmentBytes: 150 });
    for (let i = 1; i <= 12; i++) await wal.save(hs(1, i), [ent(i, 1)], { sync: true });
    await wal.close();
    const segs = await segments(disk);
    assert.ok(segs.length >= 3);
    const closed = segs[1]!;
    const size = (await disk.readFile(`${DIR}/${closed}`)).length;
    disk.flipBit(`${DIR}/${closed}`, size - 3);
    await assert.rejects(open(disk, { segmentBytes: 150 }), isCorrupt(closed));
  });

  test('a bit flip in the snapshot file is refused, naming the file and offset', async () => {
    for (const [at, expectOffset] of [
      [3, 0],
      [20, 12],
      [200, undefined],
    ] as const) {
      const disk = new SimDisk();
      const { wal } = await open(disk);
      await wal.save(hs(1, 3), ents(1, 3, 1), { sync: true });
      await wal.saveSnapshot(snap(3, 1), 'compact');
      await wal.save(hs(1, 4), ents(4, 4, 1), { sync: true });
      await wal.close();
      const file = (await disk.list(DIR)).find((n) => n.startsWith('snap-'))!;
      disk.flipBit(`${DIR}/${file}`, at);
      await assert.rejects(open(disk), isCorrupt(file, expectOffset));
    }
  });

  test('a missing snapshot file is refused', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    await wal.save(hs(1, 3), ents(1, 3, 1), { sync: true });
    await wal.saveSnapshot(snap(3, 1), 'compact');
    await wal.close();
    const file = (await disk.list(DIR)).find((n) => n.startsWith('snap-'))!;
    await disk.unlink(`${DIR}/${file}`);
    await assert.rejects(open(disk), isCorrupt(file, 0));
  });

  test('hard state commit beyond the recovered last index is refused, never clamped', async () => {
    const disk = new SimDisk();
    const { wal } = await open(disk);
    await wal.save(hs(1, 2), ents(1, 3, 1), { sync: true });
    await wal.save(hs(1, 3), [], { sync: true });
    await wal.close();
    // Forge a later, well-formed batch whose hard state claims commit 7 (a writer bug or lost entries).
    const [name] = await segments(disk);
    const w = new RecordWriter();
    w.hardState(hs(1, 7));
    const f = await disk.open(`${DIR}/${name}`, 'existing');
    const bytes = await disk.readFile(`${DIR}/${name}`);
    const salt = segmentSalt(bytes, 0);
    const forged = encodeBatch([w.finish()], salt);
    const at = contentEnd(bytes, 0);
    await f.write(at, forged);
    await f.write(at + forged.length, encodeBatch([new RecordWriter().finish()], salt));
    await f.sync();
    await assert.rejects(open(disk), (e) => isCorrupt(name!)(e) && /commit 7/.test(String(e)));
  });
});

describe('rotation and purge', () => {
  test('segments rotate at the size limit and those wholly before a snapshot are purged', async () => {
    const disk = new SimDisk();
    const opts = { segmentBytes: 256 };
    let { wal } = await open(disk, opts);
    for (let i = 1; i <= 30; i++) await wal.save(hs(1, i), [ent(i, 1)], { sync: true });
    const before = await segments(disk);
    assert.ok(before.length >= 5, `rotated into ${before.length} segments`);
    assert.equal(wal.stats.rotations, before.length - 1);
    await wal.saveSnapshot(snap(10, 1), 'compact');
    await wal.saveSnapshot(snap(20, 1), 'compact');
    const after = await segments(disk);
    assert.ok(after.length < before.length, 'purged');
    assert.deepEqual(
      (await disk.list(DIR)).filter((n) => n.startsWith('snap-')),
      ['snap-0000000000000014-0000000000000001.snap'],
      'older snapshot files purged',
    );
    const firstKept = Number.parseInt(after[0]!.slice(21, 37), 16);
    assert.ok(firstKept <= 21, 'the first kept segment starts at or before the first needed entry');
    await wal.close();
    ({ wal } = await open(disk, opts));
    await wal.close();
    const { state } = await open(disk, opts);
    assert.deepEqual(show(state.entries), show(ents(21, 30, 1)));
    assert.deepEqual(state.hardState, hs(1, 30));
    assert.equal(state.snapshot?.meta.index, 20);
  });

  test('an installed snapshot resets the log and purges every older segment', async () => {
    const disk = new SimDisk();
    const opts = { segmentBytes: 256 };
    const { wal } = await open(disk, opts);
    for (let i = 1; i <= 20; i++) await wal.save(hs(1, Math.max(0, i - 5)), [ent(i, 1)], { sync: true });
    await wal.saveSnapshot(snap(50, 3), 'install', hs(3, 50, 'n3'));
    assert.equal((await segments(disk)).length, 1);
    await wal.save(hs(3, 51, 'n3'), ents(51, 52, 3), { sync: true });
    await wal.close();
    const { state } = await open(disk, opts);
    assert.deepEqual(show(state.entries), show(ents(51, 52, 3)));
    assert.deepEqual(state.snapshot?.meta, snap(50, 3).meta);
    assert.deepEqual(state.hardState, hs(3, 51, 'n3'));
  });
});

describe('write and fsync errors are fatal', () => {
  for (const [op, code] of [
    ['fsync', 'EIO'],
    ['write', 'ENOSPC'],
  ] as const) {
    test(`${code} on ${op}: the save fails, the WAL refuses further use, fsync is never retried`, async () => {
      const disk = new SimDisk();
      const { wal } = await open(disk);
      await wal.save(hs(1, 1), ents(1, 2, 1), { sync: true });
      let calls = 0;
      disk.fault = (o) => {
        if (o !== op) return undefined;
        calls++;
        return code;
      };
      const failed = wal.save(hs(1, 3), ents(3, 4, 1), { sync: true });
      const queued = wal.save(hs(1, 3), ents(5, 5, 1), { sync: true });
      await assert.rejects(failed, (e) => isSealError(e, 'ErrWalFailed') && e.details.errno === code);
      await assert.rejects(queued);
      disk.fault = undefined;
      await assert.rejects(wal.save(undefined, ents(5, 5, 1), { sync: true }), (e) =>
        isSealError(e, 'ErrWalFailed'),
      );
      assert.equal(calls, 1, 'no retry');
      disk.crash(() => 0.99);
      const { state } = await open(disk);
      assert.deepEqual(show(state.entries), show(ents(1, 2, 1)), 'restart from the synced prefix');
    });
  }
});
