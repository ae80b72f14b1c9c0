import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PeerAddr, TransportOptions } from '../../../src/raft/transport/options.ts';
import { Transport } from '../../../src/raft/transport/transport.ts';

export const CLUSTER = 'test-cluster';

/** Fast backoff and a seeded jitter so the tests do not wait on production timings. */
export function testOptions(id: string, extra: Partial<TransportOptions> = {}): TransportOptions {
  let seed = 42;
  return {
    id,
    clusterId: CLUSTER,
    backoffBaseMs: 5,
    backoffMaxMs: 50,
    rand: () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    },
    ...extra,
  };
}

const open: Transport[] = [];

/** Registers a transport so `cleanup` closes it even when a test fails half-way. */
export function tracked(t: Transport): Transport {
  open.push(t);
  return t;
}

/** For afterEach: a failed test must not leave sockets that keep the runner alive. */
export async function cleanup(): Promise<void> {
  await Promise.all(open.splice(0).map((t) => t.close()));
}

export interface Node {
  t: Transport;
  addr: PeerAddr;
}

/** n transports on ephemeral loopback ports, every one knowing every other. */
export async function cluster(n: number, extra: Partial<TransportOptions> = {}): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 1; i <= n; i++) {
    const t = tracked(new Transport(testOptions(`n${i}`, extra)));
    nodes.push({ t, addr: await t.listen('127.0.0.1', 0) });
  }
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.addPeer(b.t.id, b.addr);
  return nodes;
}

export async function closeAll(nodes: Node[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.close()));
}

export async function waitFor(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

export function rawConnect(addr: PeerAddr): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: addr.host, port: addr.port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves when the peer closes the raw socket. */
export function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve();
    else s.once('close', () => resolve());
  });
}

export { freePort } from '../../../src/server/launcher.ts';

export function seqPayload(seq: number, size = 16): Uint8Array {
  const b = new Uint8Array(Math.max(4, size));
  new DataView(b.buffer).setUint32(0, seq);
  return b;
}

export function readSeq(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
}

/** Rejects if `p` takes longer than `ms`, so a hang shows up as a failure. */
export async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
