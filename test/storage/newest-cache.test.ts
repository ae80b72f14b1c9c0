/**
 * The newest-version cache must never change an answer: a cached Mvcc and an
 * uncached one over the same engine agree on every read, through writes,
 * tombstones, GC, TTL, eviction and whole-store restores.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Engine } from '../../src/storage/engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { NewestVersionCache } from '../../src/storage/mvcc/newest-cache.ts';
import { StagedEngine } from '../../src/storage/staged-engine.ts';
import { utf8 } from '../../src/util/bytes.ts';
import { FakeSealer } from './fake-sealer.ts';

const KEYS = [[], [0], [0, 1], [1], [1, 0], [0xff], [7, 7, 7]].map((k) => Uint8Array.from(k));
const key = fc.constantFrom(...KEYS);
const small = fc.integer({ min: 0, max: 12 });

const command = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('put' as const),
      key,
      value: fc.uint8Array({ maxLength: 300 }),
      dts: small,
      ttl: fc.option(fc.integer({ min: 1, max: 20 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('del' as const), key, dts: small }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('gc' as const), dRet: small, dNow: small }) },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('read' as const),
      key,
      dts: fc.integer({ min: 0, max: 30 }),
      dNow: small,
      again: fc.nat({ max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restore' as const), keepHalf: fc.boolean() }) },
);

test('a cached and an uncached Mvcc over one engine give the same answers', async () => {
  let hits = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.constantFrom(0, 1500, 1 << 20),
      fc.array(command, { minLength: 1, maxLength: 60 }),
      async (sealed, budget, commands) => {
        const engine = new StagedEngine(createMemoryEngine());
        const sealer = sealed ? new FakeSealer() : undefined;
        const base = sealer === undefined ? {} : { sealer };
        const cached = new Mvcc(engine, { ...base, newestCacheBytes: budget === 0 ? 400 : budget });
        const plain = new Mvcc(engine, { ...base, newestCacheBytes: 0 });
        assert.equal(plain.cacheStats(), undefined);
        let floorTs = 0n;
        let floorNow = 0n;
        for (const c of commands) {
          if (c.t === 'put') {
            const expireAt = c.ttl === null ? 0n : floorNow + BigInt(c.ttl);
            const ts = floorTs + 1n + BigInt(c.dts);
            await cached.commit(cached.batch().put(c.key, c.value, ts, { expireAt }), { sync: false });
          } else if (c.t === 'del') {
            await cached.commit(cached.batch().delete(c.key, floorTs + 1n + BigInt(c.dts)), { sync: false });
          } else if (c.t === 'gc') {
            const retentionTs = floorTs + BigInt(c.dRet);
            const nowMs = floorNow + BigInt(c.dNow);
            const batch = plain.batch();
            plain.gc(batch, { retentionTs, nowMs });
            await plain.commit(batch, { sync: false });
            floorTs = retentionTs;
            floorNow = nowMs;
          } else if (c.t === 'read') {
            const at = { ts: floorTs + BigInt(c.dts), nowMs: floorNow + BigInt(c.dNow) };
            for (let i = 0; i <= c.again; i++) {
              const want = plain.get(c.key, at);
              const got = cached.get(c.key, at);
              assert.deepEqual(got?.value, want?.value);
              assert.equal(got?.commitTs, want?.commitTs);
              assert.equal(got?.expireAt, want?.expireAt);
            }
          } else {
            // Restore an older or trimmed image: cached entries from before must all go.
            const other = new Mvcc(createMemoryEngine(), { ...base, newestCacheBytes: 0 });
            if (c.keepHalf) {
              await other.commit(other.batch().put(KEYS[0]!, utf8('restored'), floorTs + 1n), {
                sync: false,
              });
            }
            await cached.restore(other.snapshotStream());
          }
        }
        hits += cached.cacheStats()!.hits;
        await engine.close();
      },
    ),
    { numRuns: 200 },
  );
  // The comparison is only meaningful if reads really were served from the cache.
  assert.ok(hits > 100, `only ${hits} cache hits`);
});

test('a read older than the cached newest version still sees the older version', async () => {
  const engine = createMemoryEngine();
  const mvcc = new Mvcc(engine);
  const k = utf8('k');
  await mvcc.commit(mvcc.batch().put(k, utf8('old'), 10n), { sync: false });
  await mvcc.commit(mvcc.batch().put(k, utf8('new'), 20n), { sync: false });
  assert.deepEqual(mvcc.get(k, { ts: 25n, nowMs: 0n })?.value, utf8('new'));
  assert.deepEqual(mvcc.get(k, { ts: 15n, nowMs: 0n })?.value, utf8('old'));
  assert.equal(mvcc.get(k, { ts: 5n, nowMs: 0n }), undefined);
  assert.deepEqual(mvcc.get(k, { ts: 25n, nowMs: 0n })?.value, utf8('new'));
  assert.equal(mvcc.cacheStats()!.hits, 3);
});

test('a write drops the entry before any read can see the new version', async () => {
  const mvcc = new Mvcc(new StagedEngine(createMemoryEngine()));
  const k = utf8('hot');
  await mvcc.commit(mvcc.batch().put(k, utf8('a'), 1n), { sync: false });
  assert.deepEqual(mvcc.get(k, { ts: 9n, nowMs: 0n })?.value, utf8('a'));
  // Not awaited: the staged engine makes the write visible when write() is called.
  const pending = mvcc.commit(mvcc.batch().delete(k, 2n), { sync: false });
  assert.equal(mvcc.get(k, { ts: 9n, nowMs: 0n }), undefined);
  await pending;
});

test('the cache holds nothing while the store is being replaced, and stays within its budget', () => {
  const cache = new NewestVersionCache(16_384);
  const v = { commitTs: 1n, absent: false, value: new Uint8Array(100), expireAt: 0n };
  cache.replacing(true);
  cache.set('a', v);
  assert.equal(cache.size, 0);
  cache.replacing(false);
  for (let i = 0; i < 100; i++) cache.set(`k${i}`, v);
  assert.ok(cache.bytes <= 16_384, `${cache.bytes} bytes`);
  assert.ok(cache.size > 10);
  // The newest inserts survive eviction.
  assert.notEqual(cache.get('k99'), undefined);
  assert.equal(cache.get('k0'), undefined);
});

test('an engine that cannot report when writes become visible gets no cache', () => {
  const inner = createMemoryEngine();
  const blind: Engine = {
    get: (ns, k) => inner.get(ns, k),
    range: (ns, o) => inner.range(ns, o),
    write: (b, o) => inner.write(b, o),
    snapshot: () => inner.snapshot(),
    replaceAll: (rows) => inner.replaceAll(rows),
    close: () => inner.close(),
  };
  assert.equal(new Mvcc(blind).cacheStats(), undefined);
});
