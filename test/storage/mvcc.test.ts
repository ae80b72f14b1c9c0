import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WriteBatch } from '../../src/storage/engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { engineKey } from '../../src/storage/mvcc/keys.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { utf8 } from '../../src/util/bytes.ts';
import { isSealError } from '../../src/util/errors.ts';
import { countingRanges } from './counting-engine.ts';

const k = (s: string) => utf8(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const at = (ts: bigint, nowMs = 0n) => ({ ts, nowMs });

async function setup() {
  const engine = createMemoryEngine();
  const mvcc = new Mvcc(engine);
  return { engine, mvcc };
}

describe('mvcc reads and writes', () => {
  test('get at ts sees the newest version <= ts; tombstones read as absent', async () => {
    const { mvcc } = await setup();
    await mvcc.commit(mvcc.batch().put(k('a'), k('v1'), 10n).put(k('a'), k('v2'), 20n), { sync: true });
    await mvcc.commit(mvcc.batch().delete(k('a'), 30n).put(k('a'), k('v4'), 40n), { sync: false });
    assert.equal(mvcc.get(k('a'), at(9n)), undefined);
    assert.equal(text(mvcc.get(k('a'), at(10n))?.value), 'v1');
    assert.equal(text(mvcc.get(k('a'), at(29n))?.value), 'v2');
    assert.equal(mvcc.get(k('a'), at(20n))?.commitTs, 20n);
    assert.equal(mvcc.get(k('a'), at(35n)), undefined);
    assert.equal(text(mvcc.get(k('a'), at(1000n))?.value), 'v4');
    assert.equal(mvcc.get(k('b'), at(1000n)), undefined);
  });

  test('TTL: a version with 0 < expireAt <= nowMs is absent; empty values are present', async () => {
    const { mvcc } = await setup();
    await mvcc.commit(
      mvcc.batch().put(k('t'), k('x'), 5n, { expireAt: 1000n }).put(k('e'), new Uint8Array(0), 5n),
      {
        sync: true,
      },
    );
    assert.equal(mvcc.get(k('t'), at(5n, 999n))?.expireAt, 1000n);
    assert.equal(mvcc.get(k('t'), at(5n, 1000n)), undefined);
    assert.deepEqual(mvcc.get(k('e'), at(5n, 1n << 60n))?.value, new Uint8Array(0));
  });

  test('scans give one entry per visible key, forward and reverse, with limits; prefix keys stay apart', async () => {
    const { mvcc } = await setup();
    const keys = [k('a'), Uint8Array.of(0x61, 0), Uint8Array.of(0x61, 0, 0), k('ab'), k('b'), k('c')];
    const b = mvcc.batch();
    for (const [i, key] of keys.entries())
      b.put(key, Uint8Array.of(i), 10n).put(key, Uint8Array.of(i + 100), 20n);
    b.delete(k('ab'), 15n).put(k('c'), k('gone'), 12n, { expireAt: 50n });
    await mvcc.commit(b, { sync: true });
    const fwd = mvcc.scan({ ts: 15n, nowMs: 60n });
    assert.deepEqual(
      fwd.map((e) => [[...e.key], e.value[0]]),
      [
        [[0x61], 0],
        [[0x61, 0], 1],
        [[0x61, 0, 0], 2],
        [[0x62], 4],
      ],
    );
    const rev = mvcc.scan({ ts: 25n, nowMs: 0n, reverse: true, limit: 4 });
    assert.deepEqual(
      rev.map((e) => [...e.key]),
      [[0x63], [0x62], [0x61, 0x62], [0x61, 0, 0]],
    );
    assert.deepEqual(
      rev.map((e) => e.value[0]),
      [105, 104, 103, 102],
    );
    const bounded = mvcc.scan({ ts: 25n, nowMs: 0n, start: Uint8Array.of(0x61, 0), end: k('ab') });
    assert.deepEqual(
      bounded.map((e) => [...e.key]),
      [
        [0x61, 0],
        [0x61, 0, 0],
      ],
    );
    const revBounded = mvcc.scan({ ts: 15n, nowMs: 0n, start: k('a'), end: k('b'), reverse: true, limit: 2 });
    assert.deepEqual(
      revBounded.map((e) => [...e.key]),
      [
        [0x61, 0, 0],
        [0x61, 0],
      ],
    );
    assert.deepEqual(mvcc.scan({ ts: 15n, nowMs: 0n, limit: 0 }), []);
  });

  test('raw namespaces: separate from MVCC, written in the same atomic batch', async () => {
    const { mvcc, engine } = await setup();
    const idx = k('_meta_applied_index');
    const reg = k('!encryption|registry-index');
    await mvcc.commit(
      mvcc.batch().put(idx, k('user'), 1n).putRaw('meta', idx, k('42')).putRaw('encryption', reg, k('7')),
      {
        sync: true,
      },
    );
    assert.equal(text(mvcc.getRaw('meta', idx)), '42');
    assert.equal(
      text(mvcc.get(idx, at(5n))?.value),
      'user',
      'a user key with the same bytes is a different row',
    );
    assert.deepEqual(
      mvcc.scan({ ts: 5n, nowMs: 0n }).map((e) => text(e.key)),
      ['_meta_applied_index'],
    );
    assert.deepEqual(
      mvcc.scanRaw('encryption').map((e) => text(e.key)),
      ['!encryption|registry-index'],
    );
    await mvcc.commit(mvcc.batch().deleteRaw('meta', idx), { sync: false });
    assert.equal(mvcc.getRaw('meta', idx), undefined);
    assert.throws(
      () => mvcc.getRaw('mvcc' as 'meta', idx),
      (e) => isSealError(e, 'ErrInvalidArgument'),
    );
    assert.equal(engine.get('encryption', reg)?.[0], 0x37);
  });

  test('reads through a pinned snapshot ignore later commits', async () => {
    const { mvcc } = await setup();
    await mvcc.commit(mvcc.batch().put(k('a'), k('old'), 1n), { sync: true });
    const snap = mvcc.snapshot();
    await mvcc.commit(mvcc.batch().put(k('a'), k('new'), 1n).put(k('b'), k('x'), 1n), { sync: true });
    assert.equal(text(mvcc.get(k('a'), { ts: 9n, nowMs: 0n, view: snap })?.value), 'old');
    assert.equal(mvcc.scan({ ts: 9n, nowMs: 0n, view: snap }).length, 1);
    snap.close();
  });
});

describe('mvcc gc', () => {
  test('keeps the newest version visible at the retention ts and everything newer', async () => {
    const { mvcc, engine } = await setup();
    const b = mvcc.batch();
    b.put(k('a'), k('1'), 10n).put(k('a'), k('2'), 20n).put(k('a'), k('3'), 30n);
    b.put(k('d'), k('1'), 10n).delete(k('d'), 20n);
    b.put(k('x'), k('1'), 10n, { expireAt: 100n }).put(k('x'), k('0'), 5n);
    b.put(k('n'), k('1'), 40n).putRaw('meta', k('m'), k('keep'));
    await mvcc.commit(b, { sync: true });
    const gc = mvcc.batch();
    assert.equal(mvcc.gc(gc, { retentionTs: 25n, nowMs: 100n }), 5);
    await mvcc.commit(gc, { sync: true });
    const versions = [...engine.range('mvcc')].length;
    assert.equal(versions, 3, 'a@20, a@30, n@40 remain');
    assert.equal(text(mvcc.get(k('a'), at(25n))?.value), '2');
    assert.equal(mvcc.get(k('d'), at(25n)), undefined);
    assert.equal(mvcc.get(k('x'), at(25n, 100n)), undefined);
    assert.equal(text(mvcc.getRaw('meta', k('m'))), 'keep');
    assert.equal(mvcc.gc(mvcc.batch(), { retentionTs: 25n, nowMs: 100n }), 0, 'gc is idempotent');
  });
});

describe('mvcc malformed rows fail closed', () => {
  test('short header, tombstone with a body, reserved state, bad engine key', async () => {
    const { mvcc, engine } = await setup();
    const rows: [string, Uint8Array, Uint8Array, string][] = [
      ['short', engineKey(k('s'), 1n), Uint8Array.of(0, 0, 0), 'ErrMvccRowMalformed'],
      ['tomb', engineKey(k('t'), 1n), Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 9), 'ErrMvccRowMalformed'],
      [
        'reserved',
        engineKey(k('r'), 1n),
        Uint8Array.of(4, 0, 0, 0, 0, 0, 0, 0, 0),
        'ErrEncryptedValueReservedState',
      ],
      [
        'bits',
        engineKey(k('q'), 1n),
        Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0, 0),
        'ErrEncryptedValueReservedState',
      ],
      ['no sealer', engineKey(k('u'), 1n), new Uint8Array(50).fill(2, 0, 1), 'ErrEncryptedReadIntegrity'],
    ];
    for (const [name, key, row, code] of rows) {
      await engine.write(new WriteBatch().put('mvcc', key, row), { sync: false });
      const user = k(
        name === 'short'
          ? 's'
          : name === 'tomb'
            ? 't'
            : name === 'reserved'
              ? 'r'
              : name === 'bits'
                ? 'q'
                : 'u',
      );
      assert.throws(
        () => mvcc.get(user, at(5n)),
        (e) => isSealError(e, code),
        name,
      );
      assert.throws(
        () => mvcc.scan({ ts: 5n, nowMs: 0n, start: user }),
        (e) => isSealError(e, code),
        name,
      );
      await engine.write(new WriteBatch().delete('mvcc', key), { sync: false });
    }
    await engine.write(new WriteBatch().put('mvcc', Uint8Array.of(0x61, 0, 7), new Uint8Array(9)), {
      sync: false,
    });
    assert.throws(
      () => mvcc.scan({ ts: 5n, nowMs: 0n }),
      (e) => isSealError(e, 'ErrMvccRowMalformed'),
    );
    assert.throws(
      () => mvcc.gc(mvcc.batch(), { retentionTs: 5n, nowMs: 0n }),
      (e) => isSealError(e, 'ErrMvccRowMalformed'),
    );
  });

  test('gc refuses to decide on a malformed boundary version', async () => {
    const { mvcc, engine } = await setup();
    await engine.write(
      new WriteBatch().put('mvcc', engineKey(k('z'), 1n), Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 1)),
      {
        sync: false,
      },
    );
    assert.throws(
      () => mvcc.gc(mvcc.batch(), { retentionTs: 5n, nowMs: 0n }),
      (e) => isSealError(e, 'ErrMvccRowMalformed'),
    );
  });
});

describe('mvcc scans over a key with a long history', () => {
  test('read its visible version directly and go on past it, both directions', async () => {
    const { engine, rows, reset } = countingRanges(createMemoryEngine());
    const mvcc = new Mvcc(engine);
    const batch = mvcc.batch();
    batch.put(utf8('a'), utf8('a1'), 10n);
    for (let ts = 1n; ts <= 1000n; ts++) batch.put(utf8('hot'), utf8(`v${ts}`), ts);
    batch.delete(utf8('hot'), 2000n);
    batch.put(utf8('z'), utf8('z1'), 10n);
    await mvcc.commit(batch, { sync: true });
    const scan = (ts: bigint, reverse: boolean, limit?: number) => {
      reset();
      const found = mvcc.scan({ ts, nowMs: 0n, reverse, ...(limit === undefined ? {} : { limit }) });
      return found.map((r) => `${new TextDecoder().decode(r.key)}=${new TextDecoder().decode(r.value)}`);
    };
    for (const reverse of [false, true]) {
      const order = (xs: string[]) => (reverse ? [...xs].reverse() : xs);
      assert.deepEqual(scan(500n, reverse), order(['a=a1', 'hot=v500', 'z=z1']));
      assert.ok(rows() < 40, `visited ${rows()} rows`);
      assert.deepEqual(scan(1000n, reverse), order(['a=a1', 'hot=v1000', 'z=z1']));
      assert.deepEqual(scan(5n, reverse), order(['hot=v5']), 'a and z are newer than ts 5');
      assert.deepEqual(scan(2500n, reverse), order(['a=a1', 'z=z1']), 'deleted at 2000');
      assert.deepEqual(scan(700n, reverse, 2), order(['a=a1', 'hot=v700', 'z=z1']).slice(0, 2));
    }
  });
});
