import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WriteBatch } from '../../src/storage/engine.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { runEngineConformance } from './engine-conformance.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sealkv-engine-'));
}

runEngineConformance('memory', async () => {
  const engine = createMemoryEngine();
  return { engine, dispose: () => engine.close() };
});

runEngineConformance('lmdb', async () => {
  const dir = tempDir();
  const engine = openLmdbEngine(dir);
  return {
    engine,
    dispose: async () => {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('lmdb: a synced batch survives close and reopen, in every namespace', async () => {
  const dir = tempDir();
  try {
    const first = openLmdbEngine(dir);
    await first.write(
      new WriteBatch()
        .put('mvcc', Uint8Array.of(1), Uint8Array.of(2))
        .put('encryption', Uint8Array.of(3), Uint8Array.of(4)),
      { sync: true },
    );
    await first.close();
    const second = openLmdbEngine(dir);
    assert.deepEqual(second.get('mvcc', Uint8Array.of(1)), Uint8Array.of(2));
    assert.deepEqual(second.get('encryption', Uint8Array.of(3)), Uint8Array.of(4));
    assert.equal(second.get('meta', Uint8Array.of(3)), undefined);
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('memory: a crash keeps exactly what the last synced write covered', async () => {
  const e = createMemoryEngine();
  await e.write(new WriteBatch().put('meta', Uint8Array.of(1), Uint8Array.of(1)), { sync: false });
  await e.write(new WriteBatch().put('meta', Uint8Array.of(2), Uint8Array.of(2)), { sync: true });
  await e.write(new WriteBatch().put('meta', Uint8Array.of(3), Uint8Array.of(3)), { sync: false });
  const after = e.simulateCrash();
  assert.deepEqual(
    [...after.range('meta')].map((r) => r.key[0]),
    [1, 2],
  );
});
