import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WriteBatch } from '../../src/storage/engine.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { readU64be, u64be } from '../../src/util/bytes.ts';
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

test('lmdb: a crash injected before the flush step fails the synced write', async () => {
  const dir = tempDir();
  let armed = false;
  const engine = openLmdbEngine(dir, {
    faultHook: (point) => {
      if (armed && point === 'before-flush') throw new Error('crash before flush');
    },
  });
  try {
    const batch = () => new WriteBatch().put('meta', Uint8Array.of(1), Uint8Array.of(1));
    armed = true;
    await engine.write(batch(), { sync: false });
    await assert.rejects(engine.write(batch(), { sync: true }), /crash before flush/);
    await assert.rejects(engine.replaceAll((async function* () {})()), /crash before flush/);
    armed = false;
    await engine.write(batch(), { sync: true });
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lmdb: kill -9 after acknowledged synced writes loses none of them', async () => {
  const dir = tempDir();
  try {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url)), dir],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let acked = 0n;
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const l of lines) acked = BigInt(l);
        if (acked >= 50n && child.exitCode === null) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    assert.ok(acked >= 50n);
    const reopened = openLmdbEngine(dir);
    const applied = readU64be(reopened.get('meta', Uint8Array.of(1))!, 0);
    assert.ok(applied >= acked, `acknowledged ${acked}, recovered ${applied}`);
    for (let i = 1n; i <= acked; i++)
      assert.ok(reopened.get('mvcc', u64be(i)) !== undefined, `batch ${i} lost`);
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
