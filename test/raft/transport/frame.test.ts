import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  encodeFrame,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  FrameDecoder,
  FrameKind,
} from '../../../src/raft/transport/frame.ts';
import { decodeHello, decodeSummary, encodeHello, encodeSummary } from '../../../src/raft/transport/wire.ts';
import { concatBytes } from '../../../src/util/bytes.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

type Decoded = { kind: number; payload: Uint8Array };

function decodeAll(stream: Uint8Array, cuts: number[], max?: number): Decoded[] {
  const dec = new FrameDecoder(max);
  const out: Decoded[] = [];
  let prev = 0;
  for (const cut of [...cuts, stream.length]) {
    dec.push(stream.subarray(prev, cut), (kind, payload) => out.push({ kind, payload }));
    prev = cut;
  }
  dec.end();
  return out;
}

const isFrameError = (e: unknown): boolean => isSealError(e, Err.TransportFrame);

const framesArb = fc.array(
  fc.record({
    kind: fc.constantFrom(FrameKind.Message, FrameKind.Hello, FrameKind.SnapshotChunk),
    payload: fc.uint8Array({ maxLength: 300 }),
  }),
  { minLength: 1, maxLength: 12 },
);

describe('frame codec', () => {
  test('header layout: magic, kind, BE32 length, BE32 crc', () => {
    const f = encodeFrame(FrameKind.Message, new Uint8Array([1, 2, 3]));
    assert.equal(f.length, FRAME_HEADER_BYTES + 3);
    assert.equal(f[0], FRAME_MAGIC);
    assert.equal(f[1], FrameKind.Message);
    assert.deepEqual([...f.subarray(2, 6)], [0, 0, 0, 3]);
    assert.deepEqual([...f.subarray(10)], [1, 2, 3]);
  });

  test('empty payloads and many frames in one chunk', () => {
    const frames = [
      encodeFrame(FrameKind.Message, new Uint8Array(0)),
      encodeFrame(FrameKind.Hello, utf('x')),
    ];
    const got = decodeAll(concatBytes(...frames, ...frames), []);
    assert.equal(got.length, 4);
    assert.equal(got[0]!.payload.length, 0);
    assert.equal(got[1]!.kind, FrameKind.Hello);
  });

  test('round trip under random chunking (property)', () => {
    fc.assert(
      fc.property(framesArb, fc.array(fc.nat(), { maxLength: 20 }), (frames, rawCuts) => {
        const stream = concatBytes(...frames.map((f) => encodeFrame(f.kind, f.payload)));
        const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const got = decodeAll(stream, cuts);
        assert.equal(got.length, frames.length);
        got.forEach((g, i) => {
          assert.equal(g.kind, frames[i]!.kind);
          assert.deepEqual(g.payload, frames[i]!.payload);
        });
      }),
      { numRuns: 300 },
    );
  });

  test('any single bit flip is detected (property)', () => {
    fc.assert(
      fc.property(
        framesArb,
        fc.nat(),
        fc.nat(7),
        fc.array(fc.nat(), { maxLength: 5 }),
        (frames, pos, bit, rawCuts) => {
          const stream = concatBytes(...frames.map((f) => encodeFrame(f.kind, f.payload)));
          const i = pos % stream.length;
          stream[i]! ^= 1 << bit;
          const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          assert.throws(() => decodeAll(stream, cuts), isFrameError);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('bad magic fails on the first byte', () => {
    const dec = new FrameDecoder();
    assert.throws(() => dec.push(new Uint8Array([0x47]), () => {}), isFrameError);
    // Once failed it stays failed: the stream position is lost.
    assert.throws(() => dec.push(encodeFrame(FrameKind.Message, new Uint8Array(1)), () => {}), isFrameError);
  });

  test('oversize frame is refused from its header alone', () => {
    const dec = new FrameDecoder(1024);
    const f = encodeFrame(FrameKind.Message, new Uint8Array(2048));
    assert.throws(
      () => dec.push(f.subarray(0, FRAME_HEADER_BYTES), () => assert.fail('no frame expected')),
      (e: unknown) => isFrameError(e) && /larger than/.test(String(e)),
    );
  });

  test('unknown kind is refused; truncated stream is reported by end()', () => {
    const f = encodeFrame(FrameKind.Message, new Uint8Array(4));
    const bad = f.slice();
    bad[1] = 99;
    assert.throws(() => new FrameDecoder().push(bad, () => {}), isFrameError);
    const dec = new FrameDecoder();
    dec.push(f.subarray(0, 12), () => assert.fail('frame is incomplete'));
    assert.equal(dec.idle, false);
    assert.throws(() => dec.end(), isFrameError);
  });

  test('a throwing sink does not poison the decoder', () => {
    const dec = new FrameDecoder();
    const f = encodeFrame(FrameKind.Message, new Uint8Array(1));
    assert.throws(() =>
      dec.push(f, () => {
        throw new Error('handler bug');
      }),
    );
    let n = 0;
    dec.push(f, () => n++);
    assert.equal(n, 1);
  });
});

describe('control payloads', () => {
  test('hello round trip keeps the tail (snapshot meta)', () => {
    const meta = new Uint8Array([9, 8, 7]);
    const { hello, rest } = decodeHello(encodeHello({ from: 'n1', to: 'nö2', clusterId: 'c' }, meta));
    assert.deepEqual(hello, { from: 'n1', to: 'nö2', clusterId: 'c' });
    assert.deepEqual(rest, meta);
  });

  test('truncated hello is a frame error', () => {
    const h = encodeHello({ from: 'n1', to: 'n2', clusterId: 'cluster' });
    assert.throws(() => decodeHello(h.subarray(0, h.length - 3)), isFrameError);
  });

  test('summary round trip', () => {
    const s = { bytes: 50 * 1024 * 1024 * 1024, chunks: 7, digest: 0xdeadbeef };
    assert.deepEqual(decodeSummary(encodeSummary(s)), s);
    assert.throws(() => decodeSummary(new Uint8Array(3)), isFrameError);
  });
});

function utf(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
