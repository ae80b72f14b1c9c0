import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WriteBatch } from '../../src/storage/engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { engineKey } from '../../src/storage/mvcc/keys.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { concatBytes, utf8 } from '../../src/util/bytes.ts';
import { isSealError } from '../../src/util/errors.ts';
import { FakeSealer } from './fake-sealer.ts';

const k = (s: string) => utf8(s);
const integrity = (e: unknown) => isSealError(e, 'ErrEncryptedReadIntegrity');

async function sealedStore() {
  const engine = createMemoryEngine();
  const sealer = new FakeSealer();
  const mvcc = new Mvcc(engine, { sealer });
  await mvcc.commit(
    mvcc.batch().put(k('a'), k('secret-value'), 10n, { expireAt: 500n }).delete(k('d'), 10n),
    {
      sync: true,
    },
  );
  const stored = (key: string, ts = 10n) => engine.get('mvcc', engineKey(k(key), ts))!;
  const overwrite = (key: string, row: Uint8Array, ts = 10n) =>
    engine.write(new WriteBatch().put('mvcc', engineKey(k(key), ts), row), { sync: false });
  return { engine, sealer, mvcc, stored, overwrite };
}

describe('mvcc value sealing hook', () => {
  test('live values are sealed with state 01; tombstones stay cleartext and empty', async () => {
    const { mvcc, sealer, stored } = await sealedStore();
    const row = stored('a');
    assert.equal(row[0], 0x02);
    assert.equal(row.length, 9 + 34 + 'secret-value'.length);
    assert.ok(!Buffer.from(row).includes('secret-value'), 'no plaintext on disk');
    assert.deepEqual([...stored('d')], [1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(new TextDecoder().decode(mvcc.get(k('a'), { ts: 10n, nowMs: 0n })!.value), 'secret-value');
    assert.equal(sealer.calls.seal, 1);
    assert.equal(mvcc.get(k('d'), { ts: 10n, nowMs: 0n }), undefined);
  });

  test('the seal decision is per value: cleartext written while sealing is off stays readable', async () => {
    const { mvcc, sealer, engine } = await sealedStore();
    sealer.sealing = false;
    const long = new Uint8Array(40).fill(0x01);
    await mvcc.commit(mvcc.batch().put(k('c'), long, 11n).put(k('e'), new Uint8Array(0), 11n), {
      sync: true,
    });
    assert.equal(engine.get('mvcc', engineKey(k('c'), 11n))![0], 0x00);
    const before = sealer.calls.checkCleartext;
    assert.deepEqual(
      mvcc.get(k('c'), { ts: 11n, nowMs: 0n })!.value,
      long,
      'legacy 0x01-leading cleartext reads back',
    );
    assert.equal(sealer.calls.checkCleartext, before + 1, 'bodies >= 34 bytes go through the re-badge guard');
    mvcc.get(k('e'), { ts: 11n, nowMs: 0n });
    assert.equal(sealer.calls.checkCleartext, before + 1, 'short bodies skip it');
    sealer.sealing = true;
    await mvcc.commit(mvcc.batch().put(k('z'), new Uint8Array(0), 12n), { sync: true });
    assert.deepEqual(
      mvcc.get(k('z'), { ts: 12n, nowMs: 0n })!.value,
      new Uint8Array(0),
      'encrypted empty is present',
    );
  });

  test('tampering is an integrity error, never absent or expired', async () => {
    const { mvcc, stored, overwrite } = await sealedStore();
    const row = stored('a');
    const tombstoned = row.slice();
    tombstoned[0] = 0x03;
    await overwrite('a', tombstoned);
    assert.throws(() => mvcc.get(k('a'), { ts: 10n, nowMs: 0n }), integrity, 'tombstone bit flip');
    assert.throws(
      () => mvcc.gc(mvcc.batch(), { retentionTs: 20n, nowMs: 0n }),
      integrity,
      'gc will not drop it',
    );
    const expired = row.slice();
    expired[1] = 1;
    await overwrite('a', expired);
    assert.throws(() => mvcc.get(k('a'), { ts: 10n, nowMs: 600n }), integrity, 'expireAt change');
    await overwrite('b', row);
    assert.throws(() => mvcc.get(k('b'), { ts: 10n, nowMs: 0n }), integrity, 'moved to another key');
    await overwrite('a', row, 9n);
    assert.throws(() => mvcc.get(k('a'), { ts: 9n, nowMs: 0n }), integrity, 'moved to another version');
  });

  test('re-badged cleartext (an envelope relabelled as state 00) is rejected', async () => {
    const { mvcc, stored, overwrite } = await sealedStore();
    const row = stored('a');
    const rebadged = concatBytes(Uint8Array.of(0x00), row.subarray(1));
    await overwrite('a', rebadged);
    assert.throws(() => mvcc.get(k('a'), { ts: 10n, nowMs: 0n }), integrity);
    assert.throws(() => mvcc.scan({ ts: 10n, nowMs: 0n }), integrity);
  });

  test('state 01 without a configured sealer is a hard error', async () => {
    const { engine } = await sealedStore();
    const plain = new Mvcc(engine);
    assert.throws(() => plain.get(k('a'), { ts: 10n, nowMs: 0n }), integrity);
    assert.throws(() => plain.scan({ ts: 10n, nowMs: 900n }), integrity, 'even when the header says expired');
  });

  test('decrypt happens before the TTL decision', async () => {
    const { mvcc, sealer } = await sealedStore();
    const before = sealer.calls.open;
    assert.equal(mvcc.get(k('a'), { ts: 10n, nowMs: 600n }), undefined);
    assert.equal(sealer.calls.open, before + 1);
  });
});
