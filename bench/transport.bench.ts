import { setImmediate as tick } from 'node:timers/promises';
import { Transport } from '../src/raft/transport/transport.ts';
import { type BenchRow, type BenchSuite, percentile } from './harness.ts';

// Two transports on loopback in one process (so both ends share one core's event loop):
// ping-pong round trips of small frames, then one-way throughput of 100 B messages.

async function pair(): Promise<[Transport, Transport]> {
  const a = new Transport({ id: 'a', clusterId: 'bench', maxQueueMessages: 100_000 });
  const b = new Transport({ id: 'b', clusterId: 'bench', maxQueueMessages: 100_000 });
  const [aa, ba] = await Promise.all([a.listen(), b.listen()]);
  a.addPeer('b', ba);
  b.addPeer('a', aa);
  return [a, b];
}

/** Sequential round trips for `ms`; returns round trips/s and the latency samples (ms). */
async function pingPong(a: Transport, b: Transport, ms: number): Promise<{ rate: number; lat: number[] }> {
  const msg = new Uint8Array(64);
  b.onMessage((from, p) => b.send(from, p));
  const lat: number[] = [];
  let resolveOne: () => void = () => {};
  a.onMessage(() => resolveOne());
  const rtt = async (): Promise<number> => {
    const start = performance.now();
    await new Promise<void>((r) => {
      resolveOne = r;
      a.send('b', msg);
    });
    return performance.now() - start;
  };
  for (let i = 0; i < 500; i++) await rtt(); // warm-up, and waits for both connections
  const t0 = performance.now();
  while (performance.now() - t0 < ms) lat.push(await rtt());
  return { rate: lat.length / ((performance.now() - t0) / 1000), lat };
}

/** Round trips with `inflight` pings outstanding (the shape of the ≈89k/s raw TCP reference). */
async function pipelined(a: Transport, b: Transport, ms: number, inflight: number): Promise<number> {
  const msg = new Uint8Array(64);
  b.onMessage((from, p) => b.send(from, p));
  let done = 0;
  let stop = false;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  let outstanding = inflight;
  a.onMessage(() => {
    done++;
    if (!stop) a.send('b', msg);
    else if (--outstanding === 0) finish();
  });
  const t0 = performance.now();
  for (let i = 0; i < inflight; i++) a.send('b', msg);
  await new Promise<void>((r) => setTimeout(r, ms));
  stop = true;
  const rate = done / ((performance.now() - t0) / 1000);
  await finished;
  return rate;
}

/** One-way stream of 100 B messages with a bounded number in flight; returns messages/s. */
async function oneWay(a: Transport, b: Transport, ms: number): Promise<{ rate: number; dropped: number }> {
  const msg = new Uint8Array(100);
  const window = 20_000;
  let received = 0;
  b.onMessage(() => received++);
  let sent = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    while (sent - received < window) {
      a.send('b', msg);
      sent++;
    }
    await tick();
  }
  const settle = performance.now();
  while (received < sent - (a.stats('b')?.dropped ?? 0) && performance.now() - settle < 5000) await tick();
  const secs = (performance.now() - t0) / 1000;
  return { rate: received / secs, dropped: a.stats('b')?.dropped ?? 0 };
}

const suite: BenchSuite = {
  name: 'transport',
  async run({ quick }) {
    const rows: BenchRow[] = [];
    const ms = quick ? 500 : 3000;
    const [a, b] = await pair();
    try {
      const pp = await pingPong(a, b, ms);
      const sorted = pp.lat.sort((x, y) => x - y);
      rows.push(
        {
          suite: 'transport',
          name: 'ping-pong 64 B, 1 in flight',
          value: pp.rate,
          unit: 'rt/s',
        },
        {
          suite: 'transport',
          name: 'ping-pong 64 B, p50 latency',
          value: percentile(sorted, 50),
          unit: 'ms',
          target: '≈0.17 ms',
        },
        {
          suite: 'transport',
          name: 'ping-pong 64 B, p99 latency',
          value: percentile(sorted, 99),
          unit: 'ms',
        },
      );
      rows.push({
        suite: 'transport',
        name: 'ping-pong 64 B, 32 in flight',
        value: await pipelined(a, b, ms, 32),
        unit: 'rt/s',
        target: 'raw TCP ≈89k/s',
      });
      const ow = await oneWay(a, b, ms);
      rows.push(
        { suite: 'transport', name: 'one-way 100 B messages (batched)', value: ow.rate, unit: 'msg/s' },
        {
          suite: 'transport',
          name: 'one-way 100 B payload throughput',
          value: (ow.rate * 100) / (1024 * 1024),
          unit: 'MiB/s',
        },
        { suite: 'transport', name: 'one-way drops (queue cap)', value: ow.dropped, unit: 'msgs' },
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    return rows;
  },
};

export default suite;
