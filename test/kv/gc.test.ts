import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectGarbage } from '../../src/kv/gc.ts';
import { Mvcc } from '../../src/storage/index.ts';
import { countingRanges } from '../storage/counting-engine.ts';
import { cleanupDirs, tmpLmdb } from './fsm-helpers.ts';

const b = (s: string) => new TextEncoder().encode(s);
const ts = (ms: number) => BigInt(ms) << 16n;
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
