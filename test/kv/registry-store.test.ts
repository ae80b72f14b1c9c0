import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EncryptionApplier } from '../../src/encryption/applier/index.ts';
import { registryKey } from '../../src/encryption/registry/codec.ts';
import { REGISTRY_INDEX_KEY, SIDECAR_INDEX_KEY } from '../../src/encryption/registry/store.ts';
import { encodeRegistration } from '../../src/encryption/wire/fsm.ts';
import { LmdbRegistryStore } from '../../src/kv/registry-store.ts';
import { WriteBatch } from '../../src/storage/engine.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { toHex, u64be, utf8 } from '../../src/util/bytes.ts';
import { Err } from '../../src/util/codes.ts';
import { isSealError } from '../../src/util/errors.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sealkv-registry-'));
  dirs.push(d);
  return d;
}

const row = (fill: number) => new Uint8Array(12).fill(fill);

describe('LmdbRegistryStore (encryption.md §5)', () => {
  test('rows and the registry index commit together and survive reopening the store', async () => {
    const dir = tmp();
    const engine = openLmdbEngine(dir);
    const store = new LmdbRegistryStore(engine);
    assert.equal(store.persistent, true);
    assert.equal(store.registryIndex(), 0n);
    assert.equal(store.sidecarIndex(), 0n);
    assert.equal(store.get(registryKey(1, 0xaaaa)), undefined);
    await store.commitRows(
      [
        { key: registryKey(1, 0xaaaa), value: row(1) },
        { key: registryKey(2, 0xbbbb), value: row(2) },
      ],
      7n,
    );
    await engine.close();
    const reopened = new LmdbRegistryStore(openLmdbEngine(dir));
    assert.deepEqual(reopened.get(registryKey(1, 0xaaaa)), row(1));
    assert.deepEqual(reopened.get(registryKey(2, 0xbbbb)), row(2));
    assert.equal(reopened.registryIndex(), 7n);
  });

  test('rows live in the raw namespace: invisible to MVCC scans, carried by snapshot → restore', async () => {
    const source = openLmdbEngine(tmp());
    const store = new LmdbRegistryStore(source);
    await store.commitRows([{ key: registryKey(3, 0x0102), value: row(3) }], 12n);
    await source.write(new WriteBatch().put('encryption', SIDECAR_INDEX_KEY, u64be(11n)), { sync: true });
    const mvcc = new Mvcc(source);
    const userBatch = mvcc.batch().put(utf8('user'), utf8('v'), 5n);
    await mvcc.commit(userBatch, { sync: true });
    assert.deepEqual(
      mvcc.scan({ ts: 10n, nowMs: 0n }).map((v) => toHex(v.key)),
      [toHex(utf8('user'))],
    );

    const target = openLmdbEngine(tmp());
    await new Mvcc(target).restore(mvcc.snapshotStream(100));
    const copy = new LmdbRegistryStore(target);
    assert.deepEqual(copy.get(registryKey(3, 0x0102)), row(3));
    assert.equal(copy.registryIndex(), 12n);
    assert.equal(copy.sidecarIndex(), 11n);
    assert.deepEqual([...target.range('encryption')], [...source.range('encryption')]);
    await source.close();
    await target.close();
  });

  test('a crash before the commit leaves neither rows nor index (all or nothing)', async () => {
    const engine = createMemoryEngine();
    const store = new LmdbRegistryStore(engine, {
      faults: (p) => {
        if (p === 'registry.beforeCommit') throw new Error('crash');
      },
    });
    await assert.rejects(store.commitRows([{ key: registryKey(1, 1), value: row(1) }], 3n));
    const disk = new LmdbRegistryStore(engine.simulateCrash());
    assert.equal(disk.get(registryKey(1, 1)), undefined);
    assert.equal(disk.registryIndex(), 0n);
  });

  test('the commit is synced: the memory engine keeps it across a simulated crash', async () => {
    const engine = createMemoryEngine();
    await new LmdbRegistryStore(engine).commitRows([{ key: registryKey(1, 1), value: row(9) }], 4n);
    const disk = new LmdbRegistryStore(engine.simulateCrash());
    assert.deepEqual(disk.get(registryKey(1, 1)), row(9));
    assert.equal(disk.registryIndex(), 4n);
  });

  test('a malformed index value is corruption, never 0', async () => {
    const engine = createMemoryEngine();
    await engine.write(new WriteBatch().put('encryption', REGISTRY_INDEX_KEY, Uint8Array.of(1, 2)), {
      sync: true,
    });
    assert.throws(
      () => new LmdbRegistryStore(engine).registryIndex(),
      (e: unknown) => isSealError(e, Err.RegistryValueMalformed),
    );
  });

  test('the applier accepts it, and refuses a store marked non-persistent', async () => {
    const engine = openLmdbEngine(tmp());
    const registry = new LmdbRegistryStore(engine);
    const applier = new EncryptionApplier({ registry });
    const out = await applier.applyEntry(
      5n,
      encodeRegistration({ dekId: 1, fullNodeId: 0x1234_0000_0000_abcdn, localEpoch: 2 }),
    );
    assert.equal(out.effect, 'applied');
    assert.equal(registry.registryIndex(), 5n);
    assert.ok(registry.get(registryKey(1, 0xabcd)) !== undefined);
    assert.throws(
      () => new EncryptionApplier({ registry: new LmdbRegistryStore(engine, { persistent: false }) }),
      (e: unknown) => isSealError(e, Err.UnsupportedStoreForWriterRegistry),
    );
    await engine.close();
  });
});
