/**
 * One behavioural suite every Engine must pass. engine.test.ts runs it against
 * the in-memory engine and the lmdb engine.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Engine,
  MAX_KEY_SIZE,
  type Namespace,
  type NamespacedRow,
  WriteBatch,
} from '../../src/storage/engine.ts';
import { isSealError } from '../../src/util/errors.ts';

export interface EngineHarness {
  engine: Engine;
  dispose(): Promise<void>;
}

const b = (...xs: number[]) => Uint8Array.from(xs);
const keysOf = (it: Iterable<{ key: Uint8Array }>) => [...it].map((e) => [...e.key]);

async function put(e: Engine, ns: Namespace, rows: [Uint8Array, Uint8Array][], sync = false) {
  const batch = new WriteBatch();
  for (const [k, v] of rows) batch.put(ns, k, v);
  await e.write(batch, { sync });
}

async function* rowsOf(rows: NamespacedRow[], failAfter?: number): AsyncGenerator<NamespacedRow> {
  let n = 0;
  for (const r of rows) {
    if (failAfter !== undefined && n++ === failAfter) throw new Error('source failed midway');
    yield r;
  }
}

export function runEngineConformance(name: string, make: () => Promise<EngineHarness>): void {
  const withEngine = (title: string, body: (e: Engine) => Promise<void>) =>
    test(title, async () => {
      const h = await make();
      try {
        await body(h.engine);
      } finally {
        await h.dispose();
      }
    });

  describe(`engine conformance: ${name}`, () => {
    withEngine('get, overwrite, delete, empty values', async (e) => {
      assert.equal(e.get('mvcc', b(1)), undefined);
      await put(e, 'mvcc', [[b(1), b(10)]]);
      assert.deepEqual(e.get('mvcc', b(1)), b(10));
      await put(e, 'mvcc', [[b(1), b()]], true);
      assert.deepEqual(e.get('mvcc', b(1)), b(), 'an empty value is present, not absent');
      await e.write(new WriteBatch().delete('mvcc', b(1)).delete('mvcc', b(99)), { sync: false });
      assert.equal(e.get('mvcc', b(1)), undefined);
    });

    withEngine('a batch is atomic and ordered across namespaces; namespaces are disjoint', async (e) => {
      const batch = new WriteBatch()
        .put('mvcc', b(1), b(1))
        .put('meta', b(1), b(2))
        .put('encryption', b(1), b(3))
        .put('mvcc', b(2), b(4))
        .delete('mvcc', b(2))
        .put('meta', b(1), b(5));
      await e.write(batch, { sync: true });
      assert.deepEqual(e.get('mvcc', b(1)), b(1));
      assert.deepEqual(e.get('meta', b(1)), b(5));
      assert.deepEqual(e.get('encryption', b(1)), b(3));
      assert.equal(e.get('mvcc', b(2)), undefined);
      assert.deepEqual(keysOf(e.range('mvcc')), [[1]]);
    });

    withEngine('ranges are [start, end), unsigned, forward and reverse, with limits', async (e) => {
      const keys = [b(0x01), b(0x01, 0x00), b(0x01, 0x00, 0x00), b(0x02), b(0x7f), b(0x80), b(0xff, 0xff)];
      await put(
        e,
        'mvcc',
        [...keys].reverse().map((k) => [k, k]),
      );
      assert.deepEqual(
        keysOf(e.range('mvcc')),
        keys.map((k) => [...k]),
      );
      assert.deepEqual(keysOf(e.range('mvcc', { start: b(0x01, 0x00), end: b(0x7f) })), [
        [1, 0],
        [1, 0, 0],
        [2],
      ]);
      assert.deepEqual(keysOf(e.range('mvcc', { start: b(0x01, 0x00), end: b(0x7f), reverse: true })), [
        [2],
        [1, 0, 0],
        [1, 0],
      ]);
      assert.deepEqual(keysOf(e.range('mvcc', { start: b(0x03), end: b(0x7f, 0x01), reverse: true })), [
        [0x7f],
      ]);
      assert.deepEqual(keysOf(e.range('mvcc', { reverse: true, limit: 2 })), [[0xff, 0xff], [0x80]]);
      assert.deepEqual(keysOf(e.range('mvcc', { start: b(0x80), limit: 1 })), [[0x80]]);
      assert.deepEqual(keysOf(e.range('mvcc', { limit: 0 })), []);
      assert.deepEqual(keysOf(e.range('mvcc', { start: b(0x03), end: b(0x03) })), []);
      assert.deepEqual(keysOf(e.range('meta')), []);
      const seen: number[][] = [];
      for (const entry of e.range('mvcc')) {
        seen.push([...entry.key]);
        if (seen.length === 2) break;
      }
      assert.equal(seen.length, 2, 'ranges are lazy and can be abandoned');
    });

    withEngine('keys and values are copied in and out', async (e) => {
      const k = b(5);
      const v = b(6, 6);
      const batch = new WriteBatch().put('mvcc', k, v);
      k[0] = 9;
      v[0] = 9;
      await e.write(batch, { sync: false });
      const got = e.get('mvcc', b(5));
      assert.deepEqual(got, b(6, 6));
      got![0] = 1;
      assert.deepEqual(e.get('mvcc', b(5)), b(6, 6));
      const [first] = [...e.range('mvcc')];
      assert.ok(first !== undefined);
      first.value[0] = 1;
      assert.deepEqual(e.get('mvcc', b(5)), b(6, 6));
    });

    withEngine('invalid keys are rejected before anything is written', async (e) => {
      const batch = new WriteBatch().put('mvcc', b(1), b(1));
      assert.throws(
        () => batch.put('mvcc', b(), b(1)),
        (err) => isSealError(err, 'ErrInvalidArgument'),
      );
      assert.throws(
        () => batch.put('mvcc', new Uint8Array(MAX_KEY_SIZE + 1), b(1)),
        (err) => isSealError(err, 'ErrInvalidArgument'),
      );
      batch.put('mvcc', new Uint8Array(MAX_KEY_SIZE).fill(7), b(2));
      await e.write(batch, { sync: false });
      assert.deepEqual(e.get('mvcc', new Uint8Array(MAX_KEY_SIZE).fill(7)), b(2));
      assert.throws(
        () => e.get('mvcc', b()),
        (err) => isSealError(err, 'ErrInvalidArgument'),
      );
    });

    withEngine('a pinned snapshot never sees later writes (async writes, many commits)', async (e) => {
      await put(e, 'mvcc', [
        [b(1), b(1)],
        [b(2), b(2)],
      ]);
      await put(e, 'encryption', [[b(1), b(1)]], true);
      const snap = e.snapshot();
      for (let i = 0; i < 40; i++) {
        const batch = new WriteBatch()
          .put('mvcc', b(1), b(100 + i))
          .delete('mvcc', b(2))
          .put('mvcc', b(3, i), b(i));
        batch.put('encryption', b(1), b(i)).put('meta', b(9), b(i));
        for (let j = 0; j < 50; j++) batch.put('mvcc', b(4, i, j), new Uint8Array(64).fill(i));
        await e.write(batch, { sync: i % 2 === 0 });
      }
      assert.deepEqual(snap.get('mvcc', b(1)), b(1));
      assert.deepEqual(snap.get('mvcc', b(2)), b(2));
      assert.deepEqual(snap.get('encryption', b(1)), b(1));
      assert.equal(snap.get('meta', b(9)), undefined);
      assert.deepEqual(keysOf(snap.range('mvcc')), [[1], [2]]);
      assert.deepEqual(keysOf(snap.range('mvcc', { reverse: true })), [[2], [1]]);
      assert.deepEqual(e.get('mvcc', b(1)), b(139));
      assert.equal(e.get('mvcc', b(2)), undefined);
      const later = e.snapshot();
      assert.deepEqual(later.get('mvcc', b(1)), b(139));
      snap.close();
      snap.close();
      assert.throws(
        () => snap.get('mvcc', b(1)),
        (err) => isSealError(err, 'ErrStorageClosed'),
      );
      assert.deepEqual(later.get('meta', b(9)), b(39));
      later.close();
    });

    withEngine('replaceAll swaps every namespace atomically', async (e) => {
      await put(e, 'mvcc', [
        [b(1), b(1)],
        [b(2), b(2)],
      ]);
      await put(e, 'meta', [[b(7), b(7)]]);
      const pinned = e.snapshot();
      const fresh: NamespacedRow[] = [
        { ns: 'mvcc', key: b(3), value: b(3) },
        { ns: 'encryption', key: b(4), value: b(4) },
      ];
      await e.replaceAll(rowsOf(fresh));
      assert.deepEqual(keysOf(e.range('mvcc')), [[3]]);
      assert.deepEqual(keysOf(e.range('meta')), []);
      assert.deepEqual(keysOf(e.range('encryption')), [[4]]);
      assert.deepEqual(keysOf(pinned.range('mvcc')), [[1], [2]], 'a snapshot pinned before keeps its view');
      pinned.close();
    });

    withEngine('replaceAll keeps the old contents when the source fails midway', async (e) => {
      await put(e, 'mvcc', [[b(1), b(1)]]);
      await put(e, 'encryption', [[b(2), b(2)]]);
      const many: NamespacedRow[] = [];
      for (let i = 0; i < 3000; i++)
        many.push({ ns: 'mvcc', key: b(9, i >> 8, i & 0xff), value: b(i & 0xff) });
      await assert.rejects(e.replaceAll(rowsOf(many, 2500)), /source failed midway/);
      assert.deepEqual(keysOf(e.range('mvcc')), [[1]]);
      assert.deepEqual(keysOf(e.range('encryption')), [[2]]);
      // A later successful restore is not polluted by the failed one's rows.
      await e.replaceAll(rowsOf([{ ns: 'meta', key: b(5), value: b(5) }]));
      assert.deepEqual(keysOf(e.range('mvcc')), []);
      assert.deepEqual(keysOf(e.range('meta')), [[5]]);
    });

    withEngine('a closed engine refuses work', async (e) => {
      await e.close();
      await e.close();
      assert.throws(
        () => e.get('mvcc', b(1)),
        (err) => isSealError(err, 'ErrStorageClosed'),
      );
      await assert.rejects(e.write(new WriteBatch(), { sync: true }), (err) =>
        isSealError(err, 'ErrStorageClosed'),
      );
      assert.throws(
        () => e.snapshot(),
        (err) => isSealError(err, 'ErrStorageClosed'),
      );
    });
  });
}
