import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectDirty, collectGarbage, type GcLoopOptions, startGcLoop } from '../../src/kv/gc.ts';
import { DirtyKeys, ReadPins } from '../../src/kv/gc-tracking.ts';
import { Mvcc } from '../../src/storage/index.ts';
import { countingRanges } from '../storage/counting-engine.ts';
import { cleanupDirs, tmpLmdb } from './fsm-helpers.ts';

const b = (s: string) => new TextEncoder().encode(s);
const ts = (ms: number) => BigInt(ms) << 16n;
/** Polls `ok` every 5 ms; fails after 5 s. */
async function within(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 5 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));

test('GC removes versions behind the retention point and keeps what reads see', async () => {
  const engine = tmpLmdb();
  const mvcc = new Mvcc(engine);
  const batch = mvcc.batch();
  batch.put(b('k'), b('v1'), ts(1000));
  batch.put(b('k'), b('v2'), ts(2000));
  batch.put(b('k'), b('v3'), ts(100_000));
  batch.put(b('gone'), b('x'), ts(1000));
  batch.delete(b('gone'), ts(2000));
  await mvcc.commit(batch, { sync: true });
  const versions = () => [...engine.range('mvcc', {})].length;
  assert.equal(versions(), 5);
  const removed = await collectGarbage({
    mvcc,
    lastCommitTs: () => ts(100_000),
    nowMs: () => 100_000,
    retentionMs: 60_000,
  });
  // k keeps v2 (visible at the retention point) and v3; "gone" loses its value and tombstone.
  assert.equal(removed, 3);
  assert.equal(versions(), 2);
  const now = { ts: ts(100_000), nowMs: 100_000n };
  assert.equal(text(mvcc.get(b('k'), now)?.value), 'v3');
  assert.equal(text(mvcc.get(b('k'), { ts: ts(50_000), nowMs: 100_000n })?.value), 'v2');
  assert.equal(mvcc.get(b('gone'), now), undefined);
  assert.equal(
    await collectGarbage({ mvcc, lastCommitTs: () => ts(1000), nowMs: () => 1000, retentionMs: 60_000 }),
    0,
  );
  await engine.close();
  cleanupDirs();
});

test('GC in small slices removes exactly what one sweep removes, slices splitting keys', async () => {
  const build = async () => {
    const engine = tmpLmdb();
    const mvcc = new Mvcc(engine);
    const batch = mvcc.batch();
    for (let k = 0; k < 200; k++) {
      const key = b(`key${String(k).padStart(4, '0')}`);
      for (let v = 1; v <= 1 + (k % 4); v++) batch.put(key, b(`v${v}`), ts(1000 * v));
      if (k % 7 === 0) batch.delete(key, ts(9000));
    }
    await mvcc.commit(batch, { sync: true });
    return { engine, mvcc };
  };
  const run = async (sliceRows?: number) => {
    const { engine, mvcc } = await build();
    const removed = await collectGarbage({
      mvcc,
      lastCommitTs: () => ts(200_000),
      nowMs: () => 200_000,
      retentionMs: 60_000,
      ...(sliceRows === undefined ? {} : { sliceRows }),
    });
    const left = [...engine.range('mvcc', {})].map((r) => Buffer.from(r.key).toString('hex'));
    await engine.close();
    return { removed, left };
  };
  const whole = await run();
  for (const slice of [1, 3, 17]) assert.deepEqual(await run(slice), whole, `slices of ${slice}`);
  assert.ok(whole.removed > 200);
  cleanupDirs();
});

test('a hot key: GC seeks past its retained versions and slices through its garbage', async () => {
  const RETAINED = 3000;
  const OLD = 2000;
  const build = async () => {
    const inner = tmpLmdb();
    const { engine, rows, reset } = countingRanges(inner);
    const mvcc = new Mvcc(engine);
    const batch = mvcc.batch();
    batch.put(b('a'), b('x'), ts(1));
    batch.put(b('a'), b('y'), ts(2));
    for (let i = 1; i <= OLD; i++) batch.put(b('hot'), b(`old${i}`), ts(i));
    for (let i = 1; i <= RETAINED; i++) batch.put(b('hot'), b(`new${i}`), ts(100_000 + i));
    batch.put(b('z'), b('x'), ts(1));
    await mvcc.commit(batch, { sync: true });
    return { inner, mvcc, rows, reset };
  };
  const run = async (sliceRows?: number) => {
    const { inner, mvcc, rows, reset } = await build();
    reset();
    const removed = await collectGarbage({
      mvcc,
      lastCommitTs: () => ts(100_000 + RETAINED),
      nowMs: () => 200_000,
      retentionMs: 60_000,
      ...(sliceRows === undefined ? {} : { sliceRows }),
    });
    const visited = rows();
    const now = { ts: ts(200_000), nowMs: 200_000n };
    assert.equal(text(mvcc.get(b('hot'), now)?.value), `new${RETAINED}`);
    // The version visible at the retention point stays for reads at it.
    assert.equal(text(mvcc.get(b('hot'), { ts: ts(50_000), nowMs: 200_000n })?.value), `old${OLD}`);
    const left = [...inner.range('mvcc', {})].map((r) => Buffer.from(r.key).toString('hex'));
    await inner.close();
    return { removed, left, visited };
  };
  const whole = await run();
  // "a" loses one version, the hot key all its old versions but the boundary one.
  assert.equal(whole.removed, 1 + (OLD - 1));
  assert.equal(whole.left.length, 2 + RETAINED + 1);
  assert.ok(whole.visited < 100 + OLD, `visited ${whole.visited} rows, not the ${RETAINED} retained ones`);
  for (const slice of [1, 50, 999]) {
    const sliced = await run(slice);
    assert.deepEqual(sliced.left, whole.left, `slices of ${slice}`);
    assert.equal(sliced.removed, whole.removed, `slices of ${slice}`);
  }
  cleanupDirs();
});

test('a dirty-key pass collects the written keys only, and keeps a still-written key tracked', async () => {
  const inner = tmpLmdb();
  const { engine, rows, reset } = countingRanges(inner);
  const mvcc = new Mvcc(engine);
  const batch = mvcc.batch();
  for (let i = 0; i < 500; i++) batch.put(b(`cold${i}`), b('v'), ts(1));
  batch.put(b('cold0'), b('v2'), ts(2)); // garbage nobody marked dirty
  batch.put(b('k'), b('k1'), ts(1000));
  batch.put(b('k'), b('k2'), ts(2000));
  batch.put(b('hot'), b('h1'), ts(1000));
  batch.put(b('hot'), b('h2'), ts(2000));
  batch.put(b('hot'), b('h3'), ts(200_000));
  await mvcc.commit(batch, { sync: true });
  const dirty = new DirtyKeys(100);
  dirty.note(b('k'), ts(1000));
  dirty.note(b('hot'), ts(1000));
  reset();
  const removed = await collectDirty(
    { mvcc, lastCommitTs: () => ts(200_000), nowMs: () => 200_000, retentionMs: 60_000 },
    dirty,
  );
  assert.equal(removed, 2, 'k1 and h1');
  assert.ok(rows() < 20, `read ${rows()} rows, not the cold keys`);
  const left = (key: string) =>
    [...inner.range('mvcc', {})].filter((r) => Buffer.from(r.key).toString('latin1').startsWith(`${key}\0`))
      .length;
  assert.equal(left('k'), 1);
  assert.equal(left('hot'), 2);
  assert.equal(left('cold0'), 2, 'untouched by a dirty-key pass');
  const now = { ts: ts(200_000), nowMs: 200_000n };
  assert.equal(text(mvcc.get(b('hot'), now)?.value), 'h3');
  assert.equal(text(mvcc.get(b('hot'), { ts: ts(150_000), nowMs: 200_000n })?.value), 'h2');
  // "hot" has a version newer than the retention point: the next pass visits it again.
  assert.deepEqual(dirty.takeUpTo(ts(300_000), 10), [], 'not before the next pass');
  dirty.beginPass();
  assert.deepEqual(
    dirty.takeUpTo(0n, 10).map((d) => [text(d.key), d.ts]),
    [['hot', ts(200_000)]],
  );
  await inner.close();
  cleanupDirs();
});

test('a key written all the time is trimmed at every pass, not once per retention window', async () => {
  const mvcc = new Mvcc(tmpLmdb());
  const dirty = new DirtyKeys(100);
  let nowMs = 0;
  const write = async (untilMs: number) => {
    const batch = mvcc.batch();
    for (; nowMs < untilMs; nowMs += 10) {
      batch.put(b('hot'), b(`v${nowMs}`), ts(nowMs));
      dirty.note(b('hot'), ts(nowMs));
    }
    await mvcc.commit(batch, { sync: true });
  };
  const pass = () =>
    collectDirty({ mvcc, lastCommitTs: () => ts(nowMs - 10), nowMs: () => nowMs, retentionMs: 5_000 }, dirty);
  const removed: number[] = [];
  for (let second = 1; second <= 12; second++) {
    await write(second * 1000);
    removed.push(await pass());
  }
  // 100 versions a second: once the window is full, each pass removes the second that left it.
  assert.deepEqual(removed.slice(6), [100, 100, 100, 100, 100, 100]);
  assert.equal(text(mvcc.get(b('hot'), { ts: ts(nowMs), nowMs: BigInt(nowMs) })?.value), `v${nowMs - 10}`);
  cleanupDirs();
});

test('a dirty-key pass over a long history commits in slices and matches a full pass', async () => {
  const build = async () => {
    const engine = tmpLmdb();
    const mvcc = new Mvcc(engine);
    const batch = mvcc.batch();
    for (let i = 1; i <= 300; i++) batch.put(b('hot'), b(`v${i}`), ts(i));
    for (let i = 0; i < 20; i++) {
      batch.put(b(`k${i}`), b('a'), ts(1));
      batch.put(b(`k${i}`), b('b'), ts(2));
    }
    await mvcc.commit(batch, { sync: true });
    return { engine, mvcc };
  };
  const opts = (mvcc: Mvcc) => ({
    mvcc,
    lastCommitTs: () => ts(100_000),
    nowMs: () => 100_000,
    retentionMs: 60_000,
  });
  const full = await build();
  const wholeRemoved = await collectGarbage(opts(full.mvcc));
  const wholeLeft = [...full.engine.range('mvcc', {})].length;
  await full.engine.close();
  const targeted = await build();
  const dirty = new DirtyKeys(100);
  dirty.note(b('hot'), ts(1));
  for (let i = 0; i < 20; i++) dirty.note(b(`k${i}`), ts(1));
  let commits = 0;
  const commit = targeted.mvcc.commit.bind(targeted.mvcc);
  targeted.mvcc.commit = (batch, o) => {
    commits++;
    return commit(batch, o);
  };
  const removed = await collectDirty({ ...opts(targeted.mvcc), sliceRows: 50 }, dirty);
  assert.equal(removed, wholeRemoved);
  assert.equal([...targeted.engine.range('mvcc', {})].length, wholeLeft);
  assert.ok(commits >= 6, `${commits} commits of at most 50 versions read`);
  await targeted.engine.close();
  cleanupDirs();
});

test('GC keeps what a pinned read timestamp sees, however short the retention', async () => {
  const engine = tmpLmdb();
  const mvcc = new Mvcc(engine);
  const batch = mvcc.batch();
  batch.put(b('k'), b('old'), ts(1000));
  batch.put(b('k'), b('new'), ts(90_000));
  batch.put(b('k'), b('newest'), ts(95_000));
  await mvcc.commit(batch, { sync: true });
  const pins = new ReadPins();
  const release = pins.pin(ts(2000));
  const o = { mvcc, lastCommitTs: () => ts(100_000), nowMs: () => 100_000, retentionMs: 1000, pins };
  assert.equal(await collectGarbage(o), 0);
  assert.equal(text(mvcc.get(b('k'), { ts: ts(2000), nowMs: 100_000n })?.value), 'old');
  release();
  assert.equal(await collectGarbage(o), 2);
  await engine.close();
  cleanupDirs();
});

/** A store where key k has v1 at 1 s and v2 at 2 s (v1 is garbage once retention passes 2 s). */
async function twoVersionsOfK() {
  const engine = tmpLmdb();
  const mvcc = new Mvcc(engine);
  const batch = mvcc.batch();
  batch.put(b('k'), b('v1'), ts(1000));
  batch.put(b('k'), b('v2'), ts(2000));
  await mvcc.commit(batch, { sync: true });
  return { engine, mvcc };
}

/** startGcLoop over `mvcc` with the last commit at 100 s and a 1 s retention; `o` sets the rest. */
function gcLoop(
  mvcc: Mvcc,
  o: Omit<GcLoopOptions, 'mvcc' | 'lastCommitTs' | 'retentionMs' | 'onError'>,
): () => Promise<void> {
  return startGcLoop({
    mvcc,
    lastCommitTs: () => ts(100_000),
    retentionMs: 1000,
    onError: (e) => assert.fail(String(e)),
    ...o,
  });
}

test('the GC loop runs dirty-key passes, a full pass once its interval passed, and reports each', async () => {
  const { engine, mvcc } = await twoVersionsOfK();
  const dirty = new DirtyKeys(10);
  dirty.note(b('k'), ts(1000));
  let now = 100_000;
  const passes: [string, number][] = [];
  const stop = gcLoop(mvcc, {
    nowMs: () => now,
    intervalMs: 5,
    fullIntervalMs: 60_000,
    dirty,
    onPass: (kind, removed) => passes.push([kind, removed]),
  });
  try {
    while (passes.length < 2) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(passes.slice(0, 2), [
      ['dirty', 1],
      ['dirty', 0],
    ]);
    now += 60_000;
    while (!passes.some(([kind]) => kind === 'full')) await new Promise((r) => setTimeout(r, 5));
  } finally {
    await stop();
  }
  const after = passes.length;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(passes.length, after, 'no pass runs once stopped');
  await engine.close();
  cleanupDirs();
});

test('after the tracker overflowed, the GC loop runs a full pass early, once its shorter interval passed', async () => {
  const { engine, mvcc } = await twoVersionsOfK();
  const dirty = new DirtyKeys(1);
  dirty.note(b('a'), ts(1000));
  dirty.note(b('k'), ts(1000)); // over the bound: tracking stops
  let now = 100_000;
  const passes: string[] = [];
  const stop = gcLoop(mvcc, {
    nowMs: () => now,
    intervalMs: 5,
    fullIntervalMs: 300_000,
    overflowFullIntervalMs: 30_000,
    dirty,
    onPass: (kind) => passes.push(kind),
  });
  try {
    await within(() => passes.length >= 2, 'two passes');
    assert.deepEqual(passes.slice(0, 2), ['dirty', 'dirty'], 'not before the shorter interval');
    now += 30_000;
    await within(() => passes.includes('full'), 'an early full pass');
    assert.equal(dirty.overflowed, false, 'tracking restarts with the full pass');
    const fulls = passes.filter((k) => k === 'full').length;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(passes.filter((k) => k === 'full').length, fulls, 'no overflow, no early full pass');
  } finally {
    await stop();
  }
  assert.equal(text(mvcc.get(b('k'), { ts: ts(1500), nowMs: 100_000n })?.value), undefined, 'v1 collected');
  await engine.close();
  cleanupDirs();
});

test('stopping the GC loop ends a long pass at its next slice and waits for it', async () => {
  const engine = tmpLmdb();
  const mvcc = new Mvcc(engine);
  const batch = mvcc.batch();
  for (let i = 0; i < 2000; i++) batch.put(b(`k${String(i).padStart(5, '0')}`), b('v'), ts(1));
  await mvcc.commit(batch, { sync: true });
  let slices = 0;
  const gcSlice = mvcc.gcSlice.bind(mvcc);
  mvcc.gcSlice = (bt, o) => {
    slices++;
    return gcSlice(bt, o);
  };
  let finished = false;
  const stop = gcLoop(mvcc, {
    nowMs: () => 100_000,
    sliceRows: 10,
    intervalMs: 1,
    fullIntervalMs: 0,
    onPass: () => {
      finished = true;
    },
  });
  while (slices < 3) await new Promise((r) => setImmediate(r));
  await stop();
  assert.ok(finished, 'the pass in flight ended before stop resolved');
  assert.ok(slices < 200, `${slices} slices of the 200 a whole pass takes`);
  const seen = slices;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(slices, seen, 'nothing runs after stop');
  await engine.close();
  cleanupDirs();
});
