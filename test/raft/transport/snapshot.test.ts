import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeFrame, FrameDecoder, FrameKind } from '../../../src/raft/transport/frame.ts';
import { encodeHello, encodeSummary, StreamDigest } from '../../../src/raft/transport/wire.ts';
import { Err } from '../../../src/util/codes.ts';
import { crc32c } from '../../../src/util/crc32c.ts';
import { isSealError } from '../../../src/util/errors.ts';
import {
  CLUSTER,
  cleanup,
  closeAll,
  closed,
  cluster,
  rawConnect,
  readSeq,
  seqPayload,
  waitFor,
} from './helpers.ts';

const MiB = 1024 * 1024;
const isSnapshotError = (e: unknown): boolean => isSealError(e, Err.TransportSnapshot);

/** `count` chunks of `size` bytes whose content depends on the chunk index. */
async function* source(
  count: number,
  size: number,
  onChunk?: (i: number) => void,
): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    const c = new Uint8Array(size);
    c.fill(i & 0xff);
    new DataView(c.buffer).setUint32(0, i);
    onChunk?.(i);
    yield c;
  }
}

async function sourceCrc(count: number, size: number): Promise<number> {
  let crc = 0;
  for await (const c of source(count, size)) crc = crc32c(c, crc);
  return crc;
}

describe('snapshot streaming', () => {
  afterEach(cleanup);

  test('50 MiB snapshot arrives intact while small messages keep flowing', async () => {
    const [a, b] = await cluster(2);
    const meta = new TextEncoder().encode('index=100 term=3');
    let received = 0;
    let crc = 0;
    let gotMeta = '';
    let transferring = false;
    b!.t.onSnapshot(async (from, m, chunks) => {
      assert.equal(from, 'n1');
      gotMeta = new TextDecoder().decode(m);
      for await (const c of chunks) {
        received += c.length;
        crc = crc32c(c, crc);
      }
    });
    const latencies: number[] = [];
    let duringTransfer = 0;
    b!.t.onMessage((_from, p) => {
      latencies.push(performance.now() - sentAt.get(readSeq(p))!);
      if (transferring) duringTransfer++;
    });
    const sentAt = new Map<number, number>();
    let seq = 0;
    transferring = true;
    const started = performance.now();
    const transfer = a!.t.sendSnapshot('n2', meta, source(50, MiB));
    const pinger = setInterval(() => {
      sentAt.set(seq, performance.now());
      a!.t.send('n2', seqPayload(seq++));
    }, 5);
    await transfer;
    const transferMs = performance.now() - started;
    transferring = false;
    clearInterval(pinger);
    assert.equal(received, 50 * MiB);
    assert.equal(crc, await sourceCrc(50, MiB));
    assert.equal(gotMeta, 'index=100 term=3');
    assert.ok(duringTransfer >= 5, `only ${duringTransfer} small messages arrived during the transfer`);
    // Queued behind the snapshot, a message would wait for most of the transfer. Relative to
    // the transfer time, so a loaded machine slowing both does not make this flaky.
    const sorted = latencies.sort((x, y) => x - y);
    const p90 = sorted[Math.floor(sorted.length * 0.9)]!;
    assert.ok(
      p90 < transferMs / 4,
      `small-message p90 latency ${p90.toFixed(1)} ms vs a ${transferMs.toFixed(0)} ms transfer`,
    );
    await closeAll([a!, b!]);
  });

  test('back-pressure: the sender runs at most a bounded distance ahead of a slow handler', async () => {
    const [a, b] = await cluster(2, { snapshotBufferBytes: 256 * 1024 });
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    b!.t.onSnapshot(async (_from, _meta, chunks) => {
      for await (const c of chunks) {
        consumed += c.length;
        await sleep(1);
      }
    });
    const chunk = 64 * 1024;
    await a!.t.sendSnapshot(
      'n2',
      new Uint8Array(0),
      source(480, chunk, () => {
        produced += chunk;
        maxAhead = Math.max(maxAhead, produced - consumed);
      }),
    );
    assert.equal(consumed, 480 * chunk);
    // Read-ahead plus kernel socket buffers, far below the 30 MiB offered.
    assert.ok(maxAhead < 16 * MiB, `sender ran ${maxAhead} bytes ahead of the handler`);
    await closeAll([a!, b!]);
  });

  test('handler throwing mid-stream → sendSnapshot rejects with the reason', async () => {
    const [a, b] = await cluster(2);
    b!.t.onSnapshot(async (_from, _meta, chunks) => {
      let n = 0;
      for await (const _ of chunks) if (++n === 3) throw new Error('disk full while installing');
    });
    await assert.rejects(a!.t.sendSnapshot('n2', new Uint8Array(0), source(40, MiB)), (e: unknown) => {
      return isSnapshotError(e) && /disk full while installing/.test(String(e));
    });
    // The message path is unaffected.
    let got = false;
    b!.t.onMessage(() => {
      got = true;
    });
    a!.t.send('n2', seqPayload(1));
    await waitFor('message after failed snapshot', () => got);
    await closeAll([a!, b!]);
  });

  test('receiver dies mid-stream → sendSnapshot rejects and the handler sees an error', async () => {
    const [a, b] = await cluster(2);
    let handlerError = '';
    let seen = 0;
    b!.t.onSnapshot(async (_from, _meta, chunks) => {
      try {
        for await (const _ of chunks) {
          seen++;
          await sleep(1);
        }
      } catch (e) {
        handlerError = String(e);
        throw e;
      }
    });
    const sending = a!.t.sendSnapshot('n2', new Uint8Array(0), source(200, MiB));
    await waitFor('transfer under way', () => seen > 2);
    await b!.t.close();
    await assert.rejects(sending, isSnapshotError);
    await waitFor('handler failed', () => handlerError !== '');
    assert.match(handlerError, /closed mid-stream/);
    await a!.t.close();
  });

  test('chunk source failing → sendSnapshot rejects and the receiver handler fails', async () => {
    const [a, b] = await cluster(2);
    let handlerFailed = false;
    b!.t.onSnapshot(async (_from, _meta, chunks) => {
      try {
        for await (const _ of chunks) {
        }
      } catch {
        handlerFailed = true;
      }
    });
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1000);
      throw new Error('snapshot file vanished');
    }
    await assert.rejects(a!.t.sendSnapshot('n2', new Uint8Array(0), broken()), isSnapshotError);
    await waitFor('receiver noticed', () => handlerFailed);
    await closeAll([a!, b!]);
  });

  test('no handler, handler returning early, unknown peer → rejected', async () => {
    const [a, b] = await cluster(2);
    await assert.rejects(a!.t.sendSnapshot('n2', new Uint8Array(0), source(2, 1024)), /no handler/);
    b!.t.onSnapshot(async () => {});
    await assert.rejects(
      a!.t.sendSnapshot('n2', new Uint8Array(0), source(2, 1024)),
      /before reading the whole stream/,
    );
    await assert.rejects(a!.t.sendSnapshot('n9', new Uint8Array(0), source(2, 1024)), /unknown peer/);
    await closeAll([a!, b!]);
  });

  test('stream summary mismatch (a chunk lost) → handler iteration fails, sender told', async () => {
    const [b] = await cluster(1);
    let handlerError = '';
    let chunksSeen = 0;
    b!.t.onSnapshot(async (_from, _meta, chunks) => {
      try {
        for await (const _ of chunks) chunksSeen++;
      } catch (e) {
        handlerError = String(e);
        throw e;
      }
    });
    const raw = await rawConnect(b!.addr);
    const hello = encodeHello({ from: 'n2', to: 'n1', clusterId: CLUSTER }, new Uint8Array([1]));
    raw.write(encodeFrame(FrameKind.SnapshotHello, hello));
    const digest = new StreamDigest();
    for (let i = 0; i < 3; i++) {
      const frame = encodeFrame(FrameKind.SnapshotChunk, seqPayload(i, 100));
      digest.add(100, new DataView(frame.buffer).getUint32(6));
      if (i !== 1) raw.write(frame); // chunk 1 "lost"
    }
    raw.write(encodeFrame(FrameKind.SnapshotEnd, encodeSummary(digest.summary())));
    const replies: number[] = [];
    const dec = new FrameDecoder();
    raw.on('data', (d: Buffer) => dec.push(d, (kind) => replies.push(kind)));
    await closed(raw);
    assert.deepEqual(replies, [FrameKind.SnapshotError]);
    await waitFor('handler failed', () => handlerError !== '');
    assert.match(handlerError, /checksum mismatch/);
    assert.ok(chunksSeen <= 2, `handler saw ${chunksSeen} chunks`);
    await closeAll([b!]);
  });

  test('a sender that goes silent mid-stream → receiver times out, handler fails', async () => {
    const [b] = await cluster(1, { snapshotIdleTimeoutMs: 100 });
    let handlerError = '';
    b!.t.onSnapshot(async (_from, _meta, chunks) => {
      try {
        for await (const _ of chunks) {
        }
      } catch (e) {
        handlerError = String(e);
        throw e;
      }
    });
    const raw = await rawConnect(b!.addr);
    const hello = encodeHello({ from: 'n2', to: 'n1', clusterId: CLUSTER }, new Uint8Array(0));
    raw.write(encodeFrame(FrameKind.SnapshotHello, hello));
    raw.write(encodeFrame(FrameKind.SnapshotChunk, seqPayload(0, 100)));
    const replies: number[] = [];
    const dec = new FrameDecoder();
    raw.on('data', (d: Buffer) => dec.push(d, (kind) => replies.push(kind)));
    raw.on('error', () => {});
    await closed(raw);
    assert.match(handlerError, /no data from n2/);
    assert.deepEqual(replies, [FrameKind.SnapshotError]);
  });

  test('a receiver that stops reading → sender times out instead of hanging', async () => {
    const [a, b] = await cluster(2, { snapshotIdleTimeoutMs: 200, snapshotBufferBytes: 64 * 1024 });
    let release: () => void = () => {};
    const stalled = new Promise<void>((r) => {
      release = r;
    });
    b!.t.onSnapshot(async (_from, _meta, chunks) => {
      for await (const _ of chunks) await stalled;
    });
    const t0 = performance.now();
    await assert.rejects(a!.t.sendSnapshot('n2', new Uint8Array(0), source(200, MiB)), /no progress/);
    assert.ok(performance.now() - t0 < 5000);
    release();
  });
});
