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

test('lmdb: a restore flips the active set durably; a second restore flips back; reopen keeps the last', async () => {
  const dir = tempDir();
  const rowsOf = async function* (n: number, tag: number) {
    for (let i = 0; i < n; i++)
      yield { ns: 'mvcc' as const, key: u64be(BigInt(i)), value: Uint8Array.of(tag) };
  };
  try {
    const e = openLmdbEngine(dir);
    await e.write(new WriteBatch().put('mvcc', Uint8Array.of(0xee), Uint8Array.of(1)), { sync: true });
    const before = e.snapshot();
    await e.replaceAll(rowsOf(3000, 7));
    assert.equal(e.get('mvcc', Uint8Array.of(0xee)), undefined, 'the old store is gone');
    assert.deepEqual(e.get('mvcc', u64be(2999n)), Uint8Array.of(7));
    assert.deepEqual(
      before.get('mvcc', Uint8Array.of(0xee)),
      Uint8Array.of(1),
      'a pinned snapshot keeps the old set',
    );
    before.close();
    await e.replaceAll(rowsOf(10, 9));
    assert.equal(e.get('mvcc', u64be(2999n)), undefined);
    assert.deepEqual(
      [...e.range('mvcc')].map((r) => readU64be(r.key, 0)),
      Array.from({ length: 10 }, (_, i) => BigInt(i)),
    );
    await e.replaceAll(rowsOf(5, 3));
    await e.close();
    const again = openLmdbEngine(dir);
    assert.equal([...again.range('mvcc')].length, 5);
    assert.deepEqual(again.get('mvcc', u64be(4n)), Uint8Array.of(3));
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lmdb: a crash at the restore flip reopens on exactly one whole set, old or new', async () => {
  const dir = tempDir();
  let armed = false;
  try {
    const e = openLmdbEngine(dir, {
      faultHook: (point) => {
        if (armed && point === 'before-flush') throw new Error('crash before flush');
      },
    });
    const old = new WriteBatch();
    for (let i = 0; i < 100; i++) old.put('mvcc', u64be(BigInt(i)), Uint8Array.of(1));
    await e.write(old, { sync: true });
    armed = true;
    const rows = async function* () {
      for (let i = 0; i < 200; i++)
        yield { ns: 'mvcc' as const, key: u64be(BigInt(i)), value: Uint8Array.of(2) };
    };
    await assert.rejects(e.replaceAll(rows()), /crash before flush/);
    await e.close();
    const again = openLmdbEngine(dir);
    const tags = new Set([...again.range('mvcc')].map((r) => r.value[0]));
    const count = [...again.range('mvcc')].length;
    assert.equal(tags.size, 1, 'never a mix of the two sets');
    assert.ok(
      (tags.has(1) && count === 100) || (tags.has(2) && count === 200),
      `got ${count} rows of ${[...tags]}`,
    );
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a batch copies Buffer keys and values too (Buffer#slice is a view)', () => {
  const key = Buffer.from('key');
  const value = Buffer.from('value');
  const batch = new WriteBatch().put('mvcc', key, value);
  key.fill(0x7a);
  value.fill(0x7a);
  const op = batch.ops[0]!;
  assert.equal(Buffer.from(op.key).toString(), 'key');
  assert.ok(op.kind === 'put' && Buffer.from(op.value).toString() === 'value');
});
