import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type Engine, NAMESPACES, WriteBatch } from '../../src/storage/engine.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { decodeSnapshot, restoreSnapshot, snapshotStream } from '../../src/storage/snapshot-stream.ts';
import { concatBytes, utf8 } from '../../src/util/bytes.ts';
import { isSealError } from '../../src/util/errors.ts';
import { FakeSealer } from './fake-sealer.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function lmdb(): Engine {
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-snap-'));
  dirs.push(dir);
  return openLmdbEngine(dir);
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return concatBytes(...parts);
}

/** Re-chunks bytes into pieces of `size`, optionally failing after `failAt` bytes. */
async function* pieces(bytes: Uint8Array, size: number, failAt?: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) {
    if (failAt !== undefined && i >= failAt) throw new Error('connection dropped');
    yield bytes.slice(i, i + size);
  }
}

function dump(e: Engine) {
  return NAMESPACES.map((ns) => [ns, [...e.range(ns)]] as const);
}

async function populated(engine: Engine, sealer: FakeSealer): Promise<Mvcc> {
  const mvcc = new Mvcc(engine, { sealer });
  const b = mvcc.batch();
  for (let i = 0; i < 300; i++)
    b.put(utf8(`user:${i}`), utf8(`secret-${i}`), BigInt(10 + (i % 7)), { expireAt: BigInt(i) });
  b.delete(utf8('user:1'), 99n);
  b.putRaw('meta', utf8('_meta_applied_index'), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 42));
  b.putRaw('encryption', utf8('!encryption|registry-index'), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 7));
  await mvcc.commit(b, { sync: true });
  return mvcc;
}

describe('storage snapshot stream', () => {
  test('stream -> restore gives byte-identical contents in every namespace (lmdb -> lmdb and memory)', async () => {
    const sealer = new FakeSealer();
    const source = lmdb();
    await populated(source, sealer);
    const bytes = await collect(snapshotStream(source, 100));
    assert.ok(!Buffer.from(bytes).includes('secret-'), 'sealed values travel sealed');
    for (const target of [lmdb(), createMemoryEngine()]) {
      await target.write(new WriteBatch().put('meta', utf8('stale'), utf8('x')), { sync: false });
      await restoreSnapshot(target, pieces(bytes, 37));
      assert.deepEqual(dump(target), dump(source));
      const reader = new Mvcc(target, { sealer });
      assert.equal(
        new TextDecoder().decode(reader.get(utf8('user:5'), { ts: 100n, nowMs: 0n })!.value),
        'secret-5',
      );
      await target.close();
    }
    await source.close();
  });

  test('the stream is pinned when created: later writes are not in it', async () => {
    const source = createMemoryEngine();
    const mvcc = await populated(source, new FakeSealer());
    const stream = mvcc.snapshotStream();
    await mvcc.commit(mvcc.batch().putRaw('meta', utf8('later'), utf8('x')), { sync: true });
    const copy = createMemoryEngine();
    await restoreSnapshot(copy, stream);
    assert.equal(copy.get('meta', utf8('later')), undefined);
    assert.deepEqual(copy.get('meta', utf8('_meta_applied_index'))?.[7], 42);
  });

  test('restore is atomic: a dropped, truncated or corrupted stream leaves the old contents', async () => {
    const source = createMemoryEngine();
    await populated(source, new FakeSealer());
    const bytes = await collect(snapshotStream(source));
    const target = lmdb();
    const old = new Mvcc(target);
    await old.commit(
      old.batch().put(utf8('mine'), utf8('keep'), 1n).putRaw('encryption', utf8('reg'), utf8('r')),
      {
        sync: true,
      },
    );
    const before = dump(target);
    await assert.rejects(restoreSnapshot(target, pieces(bytes, 512, bytes.length / 2)), /connection dropped/);
    assert.deepEqual(dump(target), before);
    const corruptions: Uint8Array[] = [bytes.slice(0, bytes.length - 3), bytes.slice(0, 8)];
    for (const at of [9, 200, bytes.length - 20, bytes.length - 1]) {
      const flipped = bytes.slice();
      flipped[at]! ^= 0x40;
      corruptions.push(flipped);
    }
    corruptions.push(concatBytes(bytes, Uint8Array.of(0)));
    corruptions.push(concatBytes(utf8('SKVSNAP2'), bytes.subarray(8)));
    for (const bad of corruptions) {
      await assert.rejects(restoreSnapshot(target, pieces(bad, 4096)), (e) =>
        isSealError(e, 'ErrStorageSnapshotCorrupt'),
      );
      assert.deepEqual(dump(target), before);
    }
    await restoreSnapshot(target, pieces(bytes, 4096));
    assert.deepEqual(dump(target), dump(source));
    await target.close();
  });

  test('the decoder rejects out-of-order keys and unknown namespaces', async () => {
    const rows = (b: Uint8Array) => decodeSnapshot(pieces(b, 3));
    const row = (k: number) => concatBytes(Uint8Array.of(0x52, 0, 0, 0, 1, k, 0, 0, 0, 0));
    const ns = (name: string) => concatBytes(Uint8Array.of(0x4e, name.length), utf8(name));
    for (const body of [
      concatBytes(ns('mvcc'), row(2), row(1)),
      ns('users'),
      concatBytes(ns('meta'), ns('meta')),
      row(1),
    ]) {
      const stream = concatBytes(utf8('SKVSNAP1'), body);
      await assert.rejects(
        (async () => {
          for await (const _ of rows(stream)) {
            /* drain */
          }
        })(),
        (e) => isSealError(e, 'ErrStorageSnapshotCorrupt'),
      );
    }
  });
});

test('streaming a large store lets timers and sockets run in between', async () => {
  const e = createMemoryEngine();
  const value = new Uint8Array(4096).fill(7);
  const b = new WriteBatch();
  for (let i = 0; i < 2048; i++) b.put('mvcc', utf8(`k${String(i).padStart(6, '0')}`), value);
  await e.write(b, { sync: false });
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  try {
    // Consumed with awaits only (no I/O), as a file writer fed from memory would.
    let bytes = 0;
    for await (const c of snapshotStream(e)) bytes += c.length;
    assert.ok(bytes > 8 * 1024 * 1024);
  } finally {
    clearInterval(ticker);
  }
  assert.ok(turns >= 3, `the event loop ran ${turns} timer turns during an 8 MiB stream`);
  await e.close();
});
