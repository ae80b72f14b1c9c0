/**
 * Random put/delete/TTL/GC/read/scan sequences against a plain model (key →
 * versions by timestamp). Writes always land above the GC horizon and reads
 * happen at or above it (as HLC timestamps and wall time guarantee), where GC
 * must not change any answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NAMESPACES } from '../../src/storage/engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { type GcCursor, Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { compareBytes, toHex } from '../../src/util/bytes.ts';
import { FakeSealer } from './fake-sealer.ts';

interface Version {
  tombstone: boolean;
  value: Uint8Array;
  expireAt: bigint;
}

const KEYS = [[], [0], [0, 0], [0, 1], [1], [1, 0], [0xff]].map((k) => Uint8Array.from(k));
const key = fc.constantFrom(...KEYS);
const small = fc.integer({ min: 0, max: 15 });

const command = fc.oneof(
  fc.record({
    t: fc.constant('put' as const),
    key,
    value: fc.uint8Array({ maxLength: 40 }),
    dts: small,
    ttl: fc.option(fc.integer({ min: 1, max: 30 })),
    seal: fc.boolean(),
  }),
  fc.record({ t: fc.constant('del' as const), key, dts: small }),
  // slice: collect in slices of this many rows, committing between them (null: one sweep).
  fc.record({
    t: fc.constant('gc' as const),
    dRet: small,
    dNow: small,
    slice: fc.option(fc.integer({ min: 1, max: 4 })),
  }),
  fc.record({ t: fc.constant('read' as const), key, dts: fc.integer({ min: 0, max: 40 }), dNow: small }),
  fc.record({
    t: fc.constant('scan' as const),
    start: fc.option(key),
    end: fc.option(key),
    reverse: fc.boolean(),
    limit: fc.option(fc.integer({ min: 0, max: 5 })),
    dts: fc.integer({ min: 0, max: 40 }),
    dNow: small,
  }),
  fc.record({
    t: fc.constant('raw' as const),
    ns: fc.constantFrom('meta' as const, 'encryption' as const),
    key,
    dts: small,
  }),
);

class Model {
  readonly rows = new Map<string, { key: Uint8Array; versions: Map<bigint, Version> }>();

  write(key: Uint8Array, ts: bigint, v: Version): void {
    const id = toHex(key);
    const row = this.rows.get(id) ?? { key, versions: new Map() };
    row.versions.set(ts, v);
    this.rows.set(id, row);
  }

  read(key: Uint8Array, ts: bigint, nowMs: bigint): Uint8Array | undefined {
    const row = this.rows.get(toHex(key));
    if (row === undefined) return undefined;
    let best: bigint | undefined;
    for (const t of row.versions.keys()) if (t <= ts && (best === undefined || t > best)) best = t;
    if (best === undefined) return undefined;
    const v = row.versions.get(best)!;
    if (v.tombstone || (v.expireAt !== 0n && v.expireAt <= nowMs)) return undefined;
    return v.value;
  }

  sortedKeys(): Uint8Array[] {
    return [...this.rows.values()].map((r) => r.key).sort(compareBytes);
  }
}

test('mvcc visibility matches a simple model under random writes, TTLs and GC', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('none', 'sealed', 'mixed'),
      fc.array(command, { minLength: 1, maxLength: 40 }),
      async (mode, commands) => {
        const engine = createMemoryEngine();
        const sealer = mode === 'none' ? undefined : new FakeSealer();
        const mvcc = new Mvcc(engine, sealer === undefined ? {} : { sealer });
        const model = new Model();
        let floorTs = 0n;
        let floorNow = 0n;
        for (const c of commands) {
          if (c.t === 'put') {
            if (sealer !== undefined) sealer.sealing = mode === 'sealed' || c.seal;
            const expireAt = c.ttl === null ? 0n : floorNow + BigInt(c.ttl);
            const ts = floorTs + 1n + BigInt(c.dts);
            await mvcc.commit(mvcc.batch().put(c.key, c.value, ts, { expireAt }), { sync: false });
            model.write(c.key, ts, { tombstone: false, value: c.value, expireAt });
          } else if (c.t === 'del') {
            const ts = floorTs + 1n + BigInt(c.dts);
            await mvcc.commit(mvcc.batch().delete(c.key, ts), { sync: true });
            model.write(c.key, ts, { tombstone: true, value: new Uint8Array(0), expireAt: 0n });
          } else if (c.t === 'gc') {
            const retentionTs = floorTs + BigInt(c.dRet);
            const nowMs = floorNow + BigInt(c.dNow);
            if (c.slice === null) {
              const batch = mvcc.batch();
              mvcc.gc(batch, { retentionTs, nowMs });
              await mvcc.commit(batch, { sync: true });
            } else {
              let resume: GcCursor | undefined;
              do {
                const batch = mvcc.batch();
                const slice = mvcc.gcSlice(batch, {
                  retentionTs,
                  nowMs,
                  maxRows: c.slice,
                  ...(resume === undefined ? {} : { resume }),
                });
                await mvcc.commit(batch, { sync: false });
                resume = slice.next;
              } while (resume !== undefined);
            }
            floorTs = retentionTs;
            floorNow = nowMs;
          } else if (c.t === 'read') {
            const ts = floorTs + BigInt(c.dts);
            const nowMs = floorNow + BigInt(c.dNow);
            assert.deepEqual(mvcc.get(c.key, { ts, nowMs })?.value, model.read(c.key, ts, nowMs));
          } else if (c.t === 'scan') {
            const ts = floorTs + BigInt(c.dts);
            const nowMs = floorNow + BigInt(c.dNow);
            let expected = model
              .sortedKeys()
              .filter(
                (k) =>
                  (c.start === null || compareBytes(k, c.start) >= 0) &&
                  (c.end === null || compareBytes(k, c.end) < 0),
              )
              .map((k) => ({ key: k, value: model.read(k, ts, nowMs) }))
              .filter((e) => e.value !== undefined);
            if (c.reverse) expected.reverse();
            if (c.limit !== null) expected = expected.slice(0, c.limit);
            const got = mvcc.scan({
              ts,
              nowMs,
              reverse: c.reverse,
              ...(c.start === null ? {} : { start: c.start }),
              ...(c.end === null ? {} : { end: c.end }),
              ...(c.limit === null ? {} : { limit: c.limit }),
            });
            assert.deepEqual(
              got.map((e) => ({ key: e.key, value: e.value })),
              expected,
            );
          } else {
            await mvcc.commit(mvcc.batch().putRaw(c.ns, Uint8Array.of(9, ...c.key), Uint8Array.of(c.dts)), {
              sync: false,
            });
          }
        }
        // Every surviving row, raw namespaces included, survives a snapshot round trip byte for byte.
        const copy = createMemoryEngine();
        await new Mvcc(copy).restore(mvcc.snapshotStream(64));
        for (const ns of NAMESPACES) assert.deepEqual([...copy.range(ns)], [...engine.range(ns)]);
      },
    ),
    { numRuns: 150 },
  );
});
