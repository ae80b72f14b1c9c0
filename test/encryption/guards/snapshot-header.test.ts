import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeSnapshotHeader,
  encodeSnapshotHeaderV1,
  encodeSnapshotHeaderV2,
  SnapshotHeaderWriter,
  splitSnapshotHeader,
} from '../../../src/encryption/snapshot-header.ts';
import { concatBytes, u16be, utf8 } from '../../../src/util/bytes.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

const body = utf8('snapshot body bytes');

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return concatBytes(...parts);
}

describe('snapshot header writer (scenario 13)', () => {
  test('before Phase 2: a 16-byte EKVTHLC1 header with the ceiling', () => {
    const h = new SnapshotHeaderWriter().encode(1_700_000_000_123n, 0n);
    assert.equal(h.length, 16);
    assert.equal(
      Buffer.from(h).toString('hex'),
      `${Buffer.from('EKVTHLC1').toString('hex')}0000018bcfe5687b`,
    );
  });

  test('after Phase 2: a 26-byte EKVTHLC2 header, len 16, ceiling and cutover C', () => {
    const h = new SnapshotHeaderWriter().encode(5n, 777n);
    assert.equal(h.length, 26);
    assert.equal(Buffer.from(h.subarray(0, 8)).toString(), 'EKVTHLC2');
    assert.equal(Buffer.from(h).toString('hex').slice(16), `0010${'0'.repeat(15)}5${'0'.repeat(13)}309`);
  });

  test('the latch keeps v2 with the last non-zero cutover and logs once', () => {
    const logs: string[] = [];
    const w = new SnapshotHeaderWriter((m) => logs.push(m));
    assert.equal(w.encode(1n, 0n).length, 16);
    w.encode(2n, 40n);
    const again = decodeSnapshotHeader(w.encode(3n, 0n));
    assert.deepEqual(again, { version: 2, ceilingMs: 3n, raftCutover: 40n, length: 26 });
    w.encode(4n, 0n);
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /ErrEnvelopeCutoverDivergence/);
    assert.equal(decodeSnapshotHeader(w.encode(5n, 41n)).raftCutover, 41n);
    assert.equal(decodeSnapshotHeader(w.encode(6n, 0n)).raftCutover, 41n);
  });
});

describe('snapshot header reader (scenario 59)', () => {
  test('EKVTHLC9 → ErrSnapshotHeaderUnknownMagic', () => {
    assert.throws(
      () => decodeSnapshotHeader(concatBytes(utf8('EKVTHLC9'), new Uint8Array(20))),
      (e) => isSealError(e, Err.SnapshotHeaderUnknownMagic) && /EKVTHLC9/.test(e.message),
    );
  });

  for (const len of [8, 15, 1025, 0xffff]) {
    test(`v2 with len ${len} → ErrSnapshotHeaderInvalidLength`, () => {
      const bytes = concatBytes(utf8('EKVTHLC2'), u16be(len), new Uint8Array(2000));
      assert.throws(
        () => decodeSnapshotHeader(bytes),
        (e) => isSealError(e, Err.SnapshotHeaderInvalidLength),
      );
    });
  }

  test('v2 with len 1024: the first 16 bytes are used, the rest skipped', () => {
    const fields = encodeSnapshotHeaderV2(9n, 11n).subarray(10);
    const bytes = concatBytes(utf8('EKVTHLC2'), u16be(1024), fields, new Uint8Array(1008).fill(0xee), body);
    const h = decodeSnapshotHeader(bytes);
    assert.deepEqual(h, { version: 2, ceilingMs: 9n, raftCutover: 11n, length: 1034 });
    assert.deepEqual(bytes.subarray(h.length), body);
  });

  test('v2 declaring more bytes than exist → ErrSnapshotHeaderInvalidLength', () => {
    const bytes = concatBytes(utf8('EKVTHLC2'), u16be(16), new Uint8Array(10));
    assert.throws(
      () => decodeSnapshotHeader(bytes),
      (e) => isSealError(e, Err.SnapshotHeaderInvalidLength),
    );
  });

  test('v1 → ceiling, cutover 0', () => {
    assert.deepEqual(decodeSnapshotHeader(concatBytes(encodeSnapshotHeaderV1(42n), body)), {
      version: 1,
      ceilingMs: 42n,
      raftCutover: 0n,
      length: 16,
    });
  });

  test('headerless: fewer than 8 bytes or another prefix consumes nothing', () => {
    for (const b of [new Uint8Array(0), utf8('EKVTHLC'), utf8('SKSNAP01....'), utf8('EKVTHLX2abcdefgh')]) {
      assert.deepEqual(decodeSnapshotHeader(b), { version: 0, ceilingMs: 0n, raftCutover: 0n, length: 0 });
    }
  });

  test('headerless body restores through the split reader byte for byte', async () => {
    const raw = utf8('legacy snapshot without a header');
    const { header, body: rest } = await splitSnapshotHeader(chunked(raw, 3));
    assert.equal(header.version, 0);
    assert.deepEqual(await collect(rest), raw);
  });

  test('property: header ‖ body split at any chunk size gives the header fields and the exact body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 40 }),
        async (ceiling, cutover, payload, size) => {
          const w = new SnapshotHeaderWriter();
          const header = w.encode(ceiling, cutover);
          const { header: h, body: rest } = await splitSnapshotHeader(
            chunked(concatBytes(header, payload), size),
          );
          assert.equal(h.ceilingMs, ceiling);
          assert.equal(h.raftCutover, cutover);
          assert.equal(h.version, cutover === 0n ? 1 : 2);
          assert.deepEqual(await collect(rest), payload);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('the split reader reports bad headers with the same codes', async () => {
    await assert.rejects(
      splitSnapshotHeader(chunked(concatBytes(utf8('EKVTHLC2'), u16be(8), body), 5)),
      (e) => isSealError(e, Err.SnapshotHeaderInvalidLength),
    );
    await assert.rejects(splitSnapshotHeader(chunked(concatBytes(utf8('EKVTHLCZ'), body), 2)), (e) =>
      isSealError(e, Err.SnapshotHeaderUnknownMagic),
    );
  });
});
