import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type Engine,
  type KeyValue,
  type NamespacedRow,
  type RangeOptions,
  type Snapshot,
  WriteBatch,
  type WriteOptions,
} from '../../src/storage/engine.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { StagedEngine } from '../../src/storage/staged-engine.ts';
import { Err } from '../../src/util/codes.ts';
import { isSealError } from '../../src/util/errors.ts';
import { runEngineConformance } from './engine-conformance.ts';

runEngineConformance('staged over memory', async () => {
  const engine = new StagedEngine(createMemoryEngine());
  return { engine, dispose: () => engine.close() };
});

runEngineConformance('staged over memory, commits gathered for 2 ms', async () => {
  const engine = new StagedEngine(createMemoryEngine(), { commitIntervalMs: 2 });
  return { engine, dispose: () => engine.close() };
});

runEngineConformance('staged over lmdb', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-staged-'));
  const engine = new StagedEngine(openLmdbEngine(dir));
  return {
    engine,
    dispose: async () => {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

/** A memory engine whose commits wait until the test releases them, in order. */
class GatedEngine implements Engine {
  readonly inner = createMemoryEngine();
  readonly queue: { batch: WriteBatch; opts: WriteOptions; settle: (err?: Error) => void }[] = [];
  syncs = 0;

  get(ns: 'mvcc' | 'meta' | 'encryption', key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(ns, key);
  }
  range(ns: 'mvcc' | 'meta' | 'encryption', opts?: RangeOptions): Iterable<KeyValue> {
    return this.inner.range(ns, opts);
  }
  write(batch: WriteBatch, opts: WriteOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, opts, settle: (err) => (err === undefined ? resolve() : reject(err)) });
    });
  }
  /** Commits the oldest `n` queued batches (or fails the next one). */
  async release(n = this.queue.length, fail?: Error): Promise<void> {
    for (let i = 0; i < n; i++) {
      const w = this.queue.shift();
      if (w === undefined) return;
      if (fail !== undefined) {
        w.settle(fail);
        continue;
      }
      await this.inner.write(w.batch, w.opts);
      if (w.opts.sync) this.syncs++;
      w.settle();
    }
    // Let the wrapper's continuations run.
    await new Promise((r) => setImmediate(r));
  }
  snapshot(): Snapshot {
    return this.inner.snapshot();
  }
  replaceAll(rows: AsyncIterable<NamespacedRow>): Promise<void> {
    return this.inner.replaceAll(rows);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const b = (...xs: number[]) => Uint8Array.from(xs);
const keys = (it: Iterable<KeyValue>) => [...it].map((e) => [...e.key]);

describe('StagedEngine', () => {
  test('a write is visible before the wrapped engine commits it, and stays visible after', async () => {
    const gated = new GatedEngine();
    const e = new StagedEngine(gated);
    await e.write(new WriteBatch().put('mvcc', b(1), b(10)).put('meta', b(2), b(20)), { sync: false });
    assert.equal(gated.inner.get('mvcc', b(1)), undefined, 'not committed yet');
    assert.deepEqual(e.get('mvcc', b(1)), b(10));
    assert.deepEqual(keys(e.range('meta')), [[2]]);
    assert.equal(e.pendingLayers, 1);
    await gated.release();
    assert.equal(e.pendingLayers, 0);
    assert.deepEqual(e.get('mvcc', b(1)), b(10));
    assert.deepEqual(gated.inner.get('mvcc', b(1)), b(10));
  });

  test('pending deletes hide committed rows in gets and ranges, both directions', async () => {
    const gated = new GatedEngine();
    const e = new StagedEngine(gated);
    const seed = new WriteBatch();
    for (let k = 1; k <= 5; k++) seed.put('mvcc', b(k), b(k));
    const seeded = e.write(seed, { sync: false });
    await gated.release();
    await seeded;
    await e.write(new WriteBatch().delete('mvcc', b(2)).put('mvcc', b(4), b(44)).put('mvcc', b(6), b(6)), {
      sync: false,
    });
    assert.equal(e.get('mvcc', b(2)), undefined);
    assert.deepEqual(keys(e.range('mvcc')), [[1], [3], [4], [5], [6]]);
    assert.deepEqual(keys(e.range('mvcc', { reverse: true, limit: 3 })), [[6], [5], [4]]);
    assert.deepEqual(keys(e.range('mvcc', { start: b(2), end: b(5), limit: 1 })), [[3]]);
    assert.deepEqual(e.get('mvcc', b(4)), b(44));
  });

  test('a snapshot pins the layers of its moment', async () => {
    const gated = new GatedEngine();
    const e = new StagedEngine(gated);
    await e.write(new WriteBatch().put('mvcc', b(1), b(1)), { sync: false });
    const snap = e.snapshot();
    await e.write(new WriteBatch().put('mvcc', b(1), b(2)).put('mvcc', b(3), b(3)), { sync: false });
    await gated.release();
    assert.deepEqual(snap.get('mvcc', b(1)), b(1));
    assert.deepEqual(keys(snap.range('mvcc')), [[1]]);
    snap.close();
    assert.throws(
      () => snap.get('mvcc', b(1)),
      (err) => isSealError(err, Err.StorageClosed),
    );
    assert.deepEqual(e.get('mvcc', b(1)), b(2));
  });

  test('a synced write resolves only once the wrapped engine made it durable', async () => {
    const gated = new GatedEngine();
    const e = new StagedEngine(gated);
    let done = false;
    const p = e.write(new WriteBatch().put('meta', b(1), b(1)), { sync: true }).then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    await gated.release();
    await p;
    assert.equal(gated.syncs, 1);
  });

  test('a backlog over the layer limit makes write() wait for the oldest commit', async () => {
    const gated = new GatedEngine();
    const e = new StagedEngine(gated, { maxLayers: 2 });
    await e.write(new WriteBatch().put('mvcc', b(1), b(1)), { sync: false });
    await e.write(new WriteBatch().put('mvcc', b(2), b(2)), { sync: false });
    let third = false;
    const p = e.write(new WriteBatch().put('mvcc', b(3), b(3)), { sync: false }).then(() => {
      third = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false, 'three uncommitted layers exceed the limit of two');
    assert.deepEqual(e.get('mvcc', b(3)), b(3), 'yet the batch is already visible');
    await gated.release(1);
    await p;
    assert.equal(third, true);
  });

  test('a failed background commit is reported once and refuses later writes', async () => {
    const gated = new GatedEngine();
    const failures: unknown[] = [];
    const e = new StagedEngine(gated, { onFailure: (err) => failures.push(err) });
    await e.write(new WriteBatch().put('mvcc', b(1), b(1)), { sync: false });
    await e.write(new WriteBatch().put('mvcc', b(2), b(2)), { sync: false });
    await gated.release(2, new Error('EIO'));
    assert.equal(failures.length, 1);
    await assert.rejects(e.write(new WriteBatch().put('mvcc', b(3), b(3)), { sync: false }), (err) =>
      isSealError(err, Err.StorageWriteFailed),
    );
    await assert.rejects(e.drain(), (err) => isSealError(err, Err.StorageWriteFailed));
  });

  test('writes queued while a commit runs go to the wrapped engine as one commit', async () => {
    const gated = new GatedEngine();
    const e = new StagedEngine(gated);
    await e.write(new WriteBatch().put('mvcc', b(1), b(1)), { sync: false });
    await e.write(new WriteBatch().put('mvcc', b(2), b(2)), { sync: false });
    await e.write(new WriteBatch().delete('mvcc', b(1)).put('mvcc', b(3), b(3)), { sync: false });
    assert.equal(gated.queue.length, 1, 'only the first commit is in flight');
    await gated.release(1);
    assert.equal(gated.queue.length, 1, 'the other two were handed over together');
    assert.equal(gated.queue[0]!.batch.size, 3);
    await gated.release(1);
    assert.equal(e.pendingLayers, 0);
    assert.deepEqual(keys(gated.inner.range('mvcc')), [[2], [3]]);
  });

  test('with an interval, writes wait to be committed together unless one needs sync', async () => {
    const gated = new GatedEngine();
    const e = new StagedEngine(gated, { commitIntervalMs: 60_000 });
    // The first write commits at once: no commit ran within the interval yet.
    await e.write(new WriteBatch().put('mvcc', b(1), b(1)), { sync: false });
    await gated.release();
    await e.write(new WriteBatch().put('mvcc', b(2), b(2)), { sync: false });
    await e.write(new WriteBatch().put('mvcc', b(3), b(3)), { sync: false });
    await new Promise((r) => setImmediate(r));
    assert.equal(gated.queue.length, 0, 'held back for the interval');
    assert.equal(e.pendingLayers, 2);
    const synced = e.write(new WriteBatch().put('meta', b(9), b(9)), { sync: true });
    await new Promise((r) => setImmediate(r));
    assert.equal(gated.queue.length, 1, 'a synced write takes everything queued with it');
    assert.equal(gated.queue[0]!.batch.size, 3);
    assert.equal(gated.queue[0]!.opts.sync, true);
    await gated.release();
    await synced;
    assert.equal(e.pendingLayers, 0);
  });

  test('with an interval, queued writes commit once it has passed, and drain() does not wait for it', async () => {
    const gated = new GatedEngine();
    const e = new StagedEngine(gated, { commitIntervalMs: 30 });
    await e.write(new WriteBatch().put('mvcc', b(1), b(1)), { sync: false });
    await gated.release();
    await e.write(new WriteBatch().put('mvcc', b(2), b(2)), { sync: false });
    assert.equal(gated.queue.length, 0);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(gated.queue.length, 1, 'the timer handed the batch over');
    await gated.release();
    await e.write(new WriteBatch().put('mvcc', b(3), b(3)), { sync: false });
    const drained = e.drain();
    await new Promise((r) => setImmediate(r));
    assert.equal(gated.queue.length, 1, 'drain commits at once');
    await gated.release();
    await drained;
    assert.equal(e.pendingLayers, 0);
  });

  test('a failed commit settles the writes queued behind it, so close() returns', {
    timeout: 10_000,
  }, async () => {
    const gated = new GatedEngine();
    const failures: unknown[] = [];
    const e = new StagedEngine(gated, { onFailure: (err) => failures.push(err) });
    await e.write(new WriteBatch().put('mvcc', b(1), b(1)), { sync: false });
    await e.write(new WriteBatch().put('mvcc', b(2), b(2)), { sync: false });
    assert.equal(gated.queue.length, 1, 'the second write waits behind the first commit');
    await gated.release(1, new Error('EIO'));
    assert.equal(failures.length, 1);
    assert.equal(gated.queue.length, 0, 'nothing more goes to the failed engine');
    await e.close();
  });

  test('reads match a directly-written engine under any commit interleaving (property)', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), k: fc.integer({ min: 0, max: 12 }), v: fc.nat(255) }),
      fc.record({ kind: fc.constant('delete' as const), k: fc.integer({ min: 0, max: 12 }) }),
    );
    const step = fc.record({ ops: fc.array(op, { minLength: 1, maxLength: 6 }), release: fc.nat(3) });
    const range = fc.record({
      start: fc.option(fc.integer({ min: 0, max: 13 }), { nil: undefined }),
      end: fc.option(fc.integer({ min: 0, max: 13 }), { nil: undefined }),
      reverse: fc.boolean(),
      limit: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), range, async (steps, r) => {
        const gated = new GatedEngine();
        const staged = new StagedEngine(gated);
        const model = createMemoryEngine();
        const opts: RangeOptions = {
          ...(r.start === undefined ? {} : { start: b(r.start) }),
          ...(r.end === undefined ? {} : { end: b(r.end) }),
          reverse: r.reverse,
          ...(r.limit === undefined ? {} : { limit: r.limit }),
        };
        for (const s of steps) {
          const batch = new WriteBatch();
          for (const o of s.ops) {
            if (o.kind === 'put') batch.put('mvcc', b(o.k), b(o.v));
            else batch.delete('mvcc', b(o.k));
          }
          await staged.write(batch, { sync: false });
          await model.write(batch, { sync: false });
          await gated.release(s.release);
          for (let k = 0; k <= 12; k++) assert.deepEqual(staged.get('mvcc', b(k)), model.get('mvcc', b(k)));
          assert.deepEqual([...staged.range('mvcc', opts)], [...model.range('mvcc', opts)]);
        }
        // One commit is in flight at a time: the next is handed over when it settles.
        while (staged.pendingLayers > 0) {
          await gated.release();
          await new Promise((r) => setImmediate(r));
        }
        assert.equal(staged.pendingLayers, 0);
        assert.deepEqual([...gated.inner.range('mvcc')], [...model.range('mvcc')]);
      }),
      { numRuns: 200 },
    );
  });
});
