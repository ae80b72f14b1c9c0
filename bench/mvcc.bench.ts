import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { StorageEnvelope } from '../src/encryption/envelope/storage.ts';
import { Keystore } from '../src/encryption/keystore.ts';
import { NonceFactory } from '../src/encryption/nonce.ts';
import { type LmdbEngine, openLmdbEngine } from '../src/storage/lmdb-engine.ts';
import { Mvcc } from '../src/storage/mvcc/mvcc.ts';
import type { BenchRow, BenchSuite } from './harness.ts';

// MVCC on lmdb with and without the storage envelope, measured in the same
// run and interleaved batch by batch, so the ratio shows what encryption
// costs a durable write path and a point read at 100 B values.
const VALUE_SIZE = 100;
const PUT_BATCH = 100;
const GET_BATCH = 1000;
const KEYSPACE = 20_000;
const PIPELINE_BATCHES = 10;
const PIPELINE_DEPTH = 4;

const keyOf = (i: number): Uint8Array => Buffer.from(`user:${String(i % KEYSPACE).padStart(8, '0')}`);

interface Store {
  engine: LmdbEngine;
  mvcc: Mvcc;
  /** The newest commit timestamp written so far. */
  ts: bigint;
  close(): Promise<void>;
}

function openStore(dir: string, sealer: StorageEnvelope | undefined): Store {
  const engine = openLmdbEngine(dir);
  return {
    engine,
    mvcc: new Mvcc(engine, sealer === undefined ? {} : { sealer }),
    ts: 0n,
    close: () => engine.close(),
  };
}

function envelope(envelopeActive: boolean): StorageEnvelope {
  const keystore = new Keystore();
  keystore.set(1, randomBytes(32));
  // The state cache hands out one object until the state changes.
  const state = { activeStorageKeyId: 1, envelopeActive };
  return new StorageEnvelope(keystore, new NonceFactory(0x0102, 1), () => state);
}

/** One durable batch of PUT_BATCH puts; the keys walk the keyspace in order. */
function putBatch(store: Store, value: Uint8Array): () => Promise<void> {
  let next = 0;
  return async () => {
    const ts = ++store.ts;
    const b = store.mvcc.batch();
    for (let i = 0; i < PUT_BATCH; i++) b.put(keyOf(next++), value, ts);
    await store.mvcc.commit(b, { sync: true });
  };
}

/**
 * PIPELINE_BATCHES durable batches with up to PIPELINE_DEPTH commits in
 * flight, as an apply loop does: the next batch is built (and sealed) while
 * earlier ones wait for their fsync.
 */
function pipelinedPuts(store: Store, value: Uint8Array): () => Promise<void> {
  const one = putBatch(store, value);
  return async () => {
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < PIPELINE_BATCHES; i++) {
      if (inFlight.size >= PIPELINE_DEPTH) await Promise.race(inFlight);
      const p: Promise<void> = one().finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  };
}

/** GET_BATCH point reads of pseudo-random keys (the same sequence for every store). */
function getBatch(mvcc: Mvcc, keys: number, at: () => bigint): () => Promise<void> {
  let x = 0x2545f491;
  return async () => {
    const read = { ts: at(), nowMs: 0n };
    for (let i = 0; i < GET_BATCH; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      if (mvcc.get(keyOf(x % keys), read) === undefined) throw new Error('bench key missing');
    }
  };
}

/**
 * Ops/s of each function, run in turn batch by batch (rotating who goes
 * first) for about `ms` in total, so load from other processes on the shared
 * cores and lmdb's fsync jitter hit every side alike.
 */
async function interleaved(fns: (() => Promise<void>)[], ms: number, opsPerCall: number): Promise<number[]> {
  for (const fn of fns) await fn(); // warm-up
  const spent = fns.map(() => 0n);
  const budget = BigInt(ms) * 1_000_000n;
  let rounds = 0;
  while (spent.reduce((a, b) => a + b, 0n) < budget) {
    for (let j = 0; j < fns.length; j++) {
      const i = (j + rounds) % fns.length;
      const t0 = process.hrtime.bigint();
      await fns[i]!();
      spent[i]! += process.hrtime.bigint() - t0;
    }
    rounds++;
  }
  return spent.map((t) => (rounds * opsPerCall) / (Number(t) / 1e9));
}

const suite: BenchSuite = {
  name: 'mvcc',
  async run({ quick, tmpDir }) {
    const putMs = quick ? 1500 : 8000;
    const pipeMs = quick ? 1000 : 5000;
    const getMs = quick ? 1000 : 5000;
    const value = randomBytes(VALUE_SIZE);
    const clear = openStore(join(tmpDir, 'clear'), undefined);
    const sealed = openStore(join(tmpDir, 'sealed'), envelope(true));
    try {
      const [putClear, putSealed] = await interleaved(
        [putBatch(clear, value), putBatch(sealed, value)],
        putMs,
        PUT_BATCH,
      );
      const [pipeClear, pipeSealed] = await interleaved(
        [pipelinedPuts(clear, value), pipelinedPuts(sealed, value)],
        pipeMs,
        PIPELINE_BATCHES * PUT_BATCH,
      );
      const written = Math.min(KEYSPACE, Number(clear.ts) * PUT_BATCH, Number(sealed.ts) * PUT_BATCH);
      // Cleartext rows read by a node that has a cipher configured (before the
      // storage cutover): every value of 34 bytes or more goes through the
      // re-badge guard's trial decryption.
      const guarded = new Mvcc(clear.engine, { sealer: envelope(false) });
      const [getClear, getSealed, getGuarded] = await interleaved(
        [
          getBatch(clear.mvcc, written, () => clear.ts),
          getBatch(sealed.mvcc, written, () => sealed.ts),
          getBatch(guarded, written, () => clear.ts),
        ],
        getMs,
        GET_BATCH,
      );
      const label = `${VALUE_SIZE}B`;
      const rows: BenchRow[] = [
        {
          suite: 'mvcc',
          name: `put cleartext ${label} (sync batches of 100)`,
          value: putClear!,
          unit: 'ops/s',
        },
        {
          suite: 'mvcc',
          name: `put encrypted ${label} (sync batches of 100)`,
          value: putSealed!,
          unit: 'ops/s',
          ratio: putSealed! / putClear!,
          ratioTo: 'cleartext put (interleaved)',
          target: '>= 0.8',
        },
        {
          suite: 'mvcc',
          name: `put cleartext ${label} (sync batches, ${PIPELINE_DEPTH} in flight)`,
          value: pipeClear!,
          unit: 'ops/s',
        },
        {
          suite: 'mvcc',
          name: `put encrypted ${label} (sync batches, ${PIPELINE_DEPTH} in flight)`,
          value: pipeSealed!,
          unit: 'ops/s',
          ratio: pipeSealed! / pipeClear!,
          ratioTo: 'cleartext pipelined put (interleaved)',
          target: '>= 0.8',
        },
        { suite: 'mvcc', name: `get cleartext ${label}`, value: getClear!, unit: 'ops/s' },
        {
          suite: 'mvcc',
          name: `get encrypted ${label}`,
          value: getSealed!,
          unit: 'ops/s',
          ratio: getSealed! / getClear!,
          ratioTo: 'cleartext get (interleaved)',
          target: '>= 0.8',
        },
        {
          suite: 'mvcc',
          name: `get cleartext ${label}, cipher configured`,
          value: getGuarded!,
          unit: 'ops/s',
          ratio: getGuarded! / getClear!,
          ratioTo: 'cleartext get, no cipher (re-badge guard cost)',
        },
      ];
      return rows;
    } finally {
      await clear.close();
      await sealed.close();
    }
  },
};

export default suite;
