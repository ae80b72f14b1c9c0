import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { encodeFrame, FRAME_MAGIC, FrameKind } from '../../../src/raft/transport/frame.ts';
import { backoffDelay, resolveOptions } from '../../../src/raft/transport/options.ts';
import { Transport } from '../../../src/raft/transport/transport.ts';
import { encodeHello } from '../../../src/raft/transport/wire.ts';
import {
  CLUSTER,
  cleanup,
  closeAll,
  closed,
  cluster,
  freePort,
  rawConnect,
  readSeq,
  seqPayload,
  testOptions,
  tracked,
  waitFor,
  within,
} from './helpers.ts';

function hello(from: string, to: string, clusterId = CLUSTER): Uint8Array {
  return encodeFrame(FrameKind.Hello, encodeHello({ from, to, clusterId }));
}

describe('transport messaging', () => {
  afterEach(cleanup);

  test('3 nodes exchange 10k messages each way, in order per connection', async () => {
    const N = 10_000;
    const nodes = await cluster(3, { maxQueueMessages: 4 * N });
    const next = new Map<string, number>();
    const errors: string[] = [];
    for (const { t } of nodes) {
      t.onMessage((from, payload) => {
        const key = `${from}->${t.id}`;
        const want = next.get(key) ?? 0;
        const got = readSeq(payload);
        if (got !== want) errors.push(`${key}: got ${got}, want ${want}`);
        next.set(key, got + 1);
      });
    }
    for (let i = 0; i < N; i++) {
      for (const a of nodes)
        for (const b of nodes) if (a !== b) assert.ok(a.t.send(b.t.id, seqPayload(i, 32)));
      if (i % 1000 === 999) await tick();
    }
    await waitFor('all messages', () => [...next.values()].reduce((x, y) => x + y, 0) === 6 * N, 20_000);
    assert.deepEqual(errors, []);
    assert.equal(next.size, 6);
    for (const a of nodes)
      for (const b of nodes) if (a !== b) assert.equal(a.t.stats(b.t.id)!.dropped, 0, `${a.t.id}->${b.t.id}`);
    await closeAll(nodes);
  });

  test('a peer that is down, then up: unreachable reported, reconnect delivers later messages', async () => {
    const port = await freePort();
    const a = tracked(new Transport(testOptions('a')));
    await a.listen();
    const unreachable: string[] = [];
    a.onUnreachable((p) => unreachable.push(p));
    a.addPeer('b', `127.0.0.1:${port}`);
    await waitFor('dial failures', () => unreachable.length >= 3);
    assert.ok(unreachable.every((p) => p === 'b'));
    assert.equal(a.stats('b')!.connected, false);

    const b = tracked(new Transport(testOptions('b')));
    const got: number[] = [];
    b.onMessage((from, p) => {
      assert.equal(from, 'a');
      got.push(readSeq(p));
    });
    await b.listen('127.0.0.1', port);
    await waitFor('reconnect', () => a.stats('b')!.connected);
    for (let i = 0; i < 100; i++) a.send('b', seqPayload(i));
    await waitFor('delivery after reconnect', () => got.length === 100);
    assert.deepEqual(
      got,
      Array.from({ length: 100 }, (_, i) => i),
    );

    // The peer dies and comes back on the same port: later messages arrive again.
    const reportsBefore = unreachable.length;
    await b.close();
    await waitFor('loss reported', () => !a.stats('b')!.connected && unreachable.length > reportsBefore);
    const b2 = tracked(new Transport(testOptions('b')));
    const got2: number[] = [];
    b2.onMessage((_from, p) => got2.push(readSeq(p)));
    await b2.listen('127.0.0.1', port);
    await waitFor('second reconnect', () => a.stats('b')!.connected);
    a.send('b', seqPayload(7));
    await waitFor('delivery after second reconnect', () => got2.includes(7));
    await Promise.all([a.close(), b2.close()]);
  });

  test('a bad-CRC frame closes that connection only; other peers keep being served', async () => {
    const [n1, n2] = await cluster(2);
    const got: number[] = [];
    n1!.t.onMessage((_from, p) => got.push(readSeq(p)));
    const raw = await rawConnect(n1!.addr);
    const bad = encodeFrame(FrameKind.Message, seqPayload(999));
    bad[bad.length - 1]! ^= 0x10;
    raw.write(hello('intruder', 'n1'));
    raw.write(bad);
    await closed(raw);
    assert.equal(n1!.t.inboundStats().rejected, 1);
    assert.ok(!got.includes(999));
    n2!.t.send('n1', seqPayload(1));
    await waitFor('healthy peer served', () => got.includes(1));
    await closeAll([n1!, n2!]);
  });

  test('garbage bytes (bad magic) and a frame before the hello are refused', async () => {
    const [n1] = await cluster(1);
    const raw = await rawConnect(n1!.addr);
    raw.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await closed(raw);
    const raw2 = await rawConnect(n1!.addr);
    raw2.write(encodeFrame(FrameKind.Message, seqPayload(1)));
    await closed(raw2);
    assert.equal(n1!.t.inboundStats().rejected, 2);
    assert.equal(n1!.t.inboundStats().delivered, 0);
    await closeAll([n1!]);
  });

  test('an oversize frame closes the connection from its header alone', async () => {
    const [n1] = await cluster(1, { maxFrameBytes: 1024 });
    const raw = await rawConnect(n1!.addr);
    const big = encodeFrame(FrameKind.Message, new Uint8Array(4096));
    raw.write(hello('n9', 'n1'));
    raw.write(big.subarray(0, 16)); // header plus a little: the rest never needs to arrive
    await closed(raw);
    assert.equal(n1!.t.inboundStats().rejected, 1);
    // The sender side refuses to queue what the receiver would refuse.
    const [a, b] = await cluster(2, { maxFrameBytes: 1024 });
    assert.equal(a!.t.send('n2', new Uint8Array(2048)), false);
    assert.equal(a!.t.stats('n2')!.dropped, 1);
    await closeAll([n1!, a!, b!]);
  });

  test('before its hello a connection cannot announce a large frame', async () => {
    const [n1] = await cluster(1);
    const raw = await rawConnect(n1!.addr);
    const header = encodeFrame(FrameKind.Hello, new Uint8Array(0));
    new DataView(header.buffer).setUint32(2, 8 * 1024 * 1024); // within maxFrameBytes, above the hello limit
    raw.write(header);
    await closed(raw);
    assert.equal(n1!.t.inboundStats().rejected, 1);
  });

  test('hello with another cluster id, or for another node id, is closed', async () => {
    const [n1] = await cluster(1);
    let delivered = 0;
    n1!.t.onMessage(() => delivered++);
    for (const h of [hello('n2', 'n1', 'other-cluster'), hello('n2', 'n7'), hello('n1', 'n1')]) {
      const raw = await rawConnect(n1!.addr);
      raw.write(h);
      raw.write(encodeFrame(FrameKind.Message, seqPayload(1)));
      await closed(raw);
    }
    assert.equal(delivered, 0);
    assert.equal(n1!.t.inboundStats().rejected, 3);
    // A transport configured for another cluster never gets a message through.
    const stranger = tracked(new Transport(testOptions('n2', { clusterId: 'other' })));
    const reports: string[] = [];
    stranger.onUnreachable((p) => reports.push(p));
    stranger.addPeer('n1', n1!.addr);
    stranger.send('n1', seqPayload(5));
    await waitFor('rejected connection reported', () => reports.length > 0);
    assert.equal(delivered, 0);
    await Promise.all([n1!.t.close(), stranger.close()]);
  });

  test('a connection that never says hello is closed after the hello timeout', async () => {
    const [n1] = await cluster(1, { helloTimeoutMs: 50 });
    const raw = await rawConnect(n1!.addr);
    raw.write(Buffer.from([FRAME_MAGIC]));
    await closed(raw);
    await closeAll([n1!]);
  });
});

describe('transport back-pressure', () => {
  afterEach(cleanup);

  test('a peer that never reads: queue capped, drops counted, memory bounded', async () => {
    const stuck = new Set<Socket>();
    const server = createServer((s) => {
      s.pause(); // accept and never read
      stuck.add(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const cap = 1024 * 1024;
    const a = tracked(new Transport(testOptions('a', { maxQueueBytes: cap, maxQueueMessages: 1_000_000 })));
    a.addPeer('sink', { host: '127.0.0.1', port });
    await waitFor('connected', () => a.stats('sink')!.connected);
    const before = process.memoryUsage().arrayBuffers;
    const msg = new Uint8Array(64 * 1024);
    let accepted = 0;
    const total = 3200; // 200 MiB offered
    for (let i = 0; i < total; i++) {
      if (a.send('sink', msg)) accepted++;
      if (i % 50 === 49) await tick();
    }
    const s = a.stats('sink')!;
    assert.ok(s.dropped > 0, 'drops counted');
    assert.equal(s.dropped + accepted, total);
    assert.ok(s.queuedBytes <= cap, `queue ${s.queuedBytes} within cap`);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 48 * 1024 * 1024, `memory grew by ${grown} bytes while 200 MiB were offered`);
    await a.close();
    for (const x of stuck) x.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('count cap applies too, and removePeer drops the queue', async () => {
    const port = await freePort();
    const a = tracked(new Transport(testOptions('a', { maxQueueMessages: 10 })));
    a.addPeer('b', `127.0.0.1:${port}`);
    let ok = 0;
    for (let i = 0; i < 15; i++) if (a.send('b', seqPayload(i))) ok++;
    assert.equal(ok, 10);
    assert.equal(a.stats('b')!.dropped, 5);
    a.removePeer('b');
    assert.equal(a.stats('b'), undefined);
    assert.equal(a.send('b', seqPayload(1)), false);
    await a.close();
  });
});

describe('transport shutdown', () => {
  afterEach(cleanup);

  test('close() ends every socket and timer', async () => {
    const baseline = handleCounts();
    const nodes = await cluster(3, { backoffBaseMs: 30_000, backoffMaxMs: 60_000 });
    const port = await freePort();
    nodes[0]!.t.addPeer('ghost', `127.0.0.1:${port}`); // its dial fails: a long backoff timer is pending
    await waitFor('ghost dial failed', () => nodes[0]!.t.stats('ghost')!.failures > 0);
    for (const a of nodes) for (const b of nodes) if (a !== b) a.t.send(b.t.id, seqPayload(1));
    await waitFor('all connected', () =>
      nodes.every((a) => nodes.every((b) => a === b || a.t.stats(b.t.id)!.connected)),
    );
    // An inbound connection only the far end could close: close() must end it.
    const raw = await rawConnect(nodes[1]!.addr);
    raw.on('error', () => {});
    raw.write(hello('n9', 'n2'));
    await waitFor('raw connection accepted', () => nodes[1]!.t.inboundStats().open === 3);
    await within('close()', 2000, closeAll(nodes));
    await waitFor('inbound connection ended by close()', () => raw.destroyed, 1000);
    // Handles go away once libuv has closed them; a leaked one would stay for the backoff (≥ 15 s).
    await waitFor(
      'handles released',
      () => {
        const now = handleCounts();
        return now.tcp <= baseline.tcp && now.timers <= baseline.timers;
      },
      1000,
    );
  });
});

function handleCounts(): { tcp: number; timers: number } {
  const r = process.getActiveResourcesInfo();
  return {
    tcp: r.filter((x) => x.startsWith('TCP')).length,
    timers: r.filter((x) => x === 'Timeout').length,
  };
}

test('reconnect backoff: 50 ms doubling to 2 s, jittered into [½, 1] by the injected rand', () => {
  const at = (r: number) => resolveOptions({ id: 'a', clusterId: 'c', rand: () => r });
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 40].map((n) => backoffDelay(at(0.999999), n)),
    [50, 100, 200, 400, 800, 1600, 2000, 2000],
  );
  assert.deepEqual(
    [0, 1, 6].map((n) => backoffDelay(at(0), n)),
    [25, 50, 1000],
  );
});
