import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { EntryResult, FsmEntry } from '../../src/kv/fsm.ts';
import { encodeHlcLease } from '../../src/kv/hlc-lease.ts';
import type { Request, WriteOp } from '../../src/kv/request.ts';
import { createMemoryEngine, type MemoryEngine } from '../../src/storage/memory-engine.ts';
import { dump, entry, fsmOver, rawEntry, userEntry } from './fsm-helpers.ts';

const KEYS = ['a', 'b', 'c', 'd'];
const keyArb = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<WriteOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(keyArb, fc.string({ maxLength: 3 }), fc.constantFrom(0n, 5n, 500n)).map(
      ([k, v, ttl]): WriteOp => ({
        kind: 'put',
        key: Buffer.from(k),
        value: Buffer.from(v),
        expireAtMs: ttl,
      }),
    ),
  },
  { weight: 3, arbitrary: keyArb.map((k): WriteOp => ({ kind: 'delete', key: Buffer.from(k) })) },
  { weight: 1, arbitrary: fc.constant<WriteOp>({ kind: 'flush' }) },
);
const requestArb: fc.Arbitrary<ReqShape> = fc.record({
  id: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 8n })),
  lag: fc.integer({ min: 0, max: 40 }),
  // Re-submissions name entries where earlier attempts may have gone (any index, even later ones).
  priorAt: fc.array(fc.integer({ min: 1, max: 14 }), { maxLength: 2 }),
  reads: fc.subarray(KEYS, { maxLength: 2 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 3 }),
});
interface ReqShape {
  id: bigint;
  lag: number;
  priorAt: number[];
  reads: string[];
  ops: WriteOp[];
}
type Shape = { kind: 'user'; requests: ReqShape[] } | { kind: 'lease' | 'noop' | 'conf' };
const shapeArb: fc.Arbitrary<Shape> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .array(requestArb, { minLength: 1, maxLength: 3 })
      .map((requests): Shape => ({ kind: 'user', requests })),
  },
  { weight: 1, arbitrary: fc.constantFrom<Shape>({ kind: 'lease' }, { kind: 'noop' }, { kind: 'conf' }) },
);

/** Entry i (1-based) gets commit stamps i*10 + j, so reads may lag into earlier entries' writes. */
function build(shapes: Shape[]): FsmEntry[] {
  return shapes.map((s, n) => {
    const i = n + 1;
    if (s.kind === 'lease') return entry(i, encodeHlcLease(i * 7));
    if (s.kind === 'noop') return rawEntry(i, new Uint8Array(0));
    if (s.kind !== 'user') return rawEntry(i, Uint8Array.of(1, 2, 3), 1);
    const requests: Request[] = s.requests.map((r, j) => {
      const commitTs = BigInt(i * 10 + j);
      const readTs = commitTs > BigInt(r.lag) ? commitTs - BigInt(r.lag) : 0n;
      return {
        requestId: r.id,
        ...(r.priorAt.length === 0 ? {} : { priorAt: r.priorAt.map(BigInt) }),
        commitTs,
        readTs,
        reads: r.reads.map((k) => Buffer.from(k)),
        ops: r.ops,
      };
    });
    return userEntry(i, requests);
  });
}

const show = (r: EntryResult) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
const WINDOW = 4n;

const stepArb = fc.record({
  take: fc.integer({ min: 1, max: 5 }),
  replayBack: fc.integer({ min: 0, max: 4 }),
  after: fc.constantFrom('continue', 'restart', 'crash'),
  lazySync: fc.boolean(),
});

describe('Fsm replay determinism (property)', () => {
  test('applied once vs in chunks with replays, restarts and crashes: same MVCC rows and results', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(shapeArb, { minLength: 1, maxLength: 14 }),
        fc.array(stepArb, { maxLength: 8 }),
        fc.integer({ min: 1, max: 5 }),
        async (shapes, steps, maxBatchEntries) => {
          const log = build(shapes);
          const ref = createMemoryEngine();
          const once = await fsmOver(ref, { dedupWindow: WINDOW }).apply(log);
          assert.equal(once.halt, undefined);
          const want = new Map(once.results.map((r) => [r.index, show(r)]));

          let engine: MemoryEngine = createMemoryEngine();
          let lazy = false;
          let fsm = fsmOver(engine, { dedupWindow: WINDOW, maxBatchEntries });
          const got = new Map<bigint, string>();
          const deliver = async (from: number, to: number) => {
            const rep = await fsm.apply(log.slice(from, to));
            assert.equal(rep.halt, undefined);
            for (const r of rep.results) if (r.kind !== 'skipped') got.set(r.index, show(r));
          };
          let pos = 0;
          for (const s of steps) {
            if (pos >= log.length) break;
            await deliver(Math.max(0, pos - s.replayBack), Math.min(log.length, pos + s.take));
            pos = Math.min(log.length, pos + s.take);
            if (s.after === 'crash') engine = engine.simulateCrash();
            if (s.after !== 'continue') {
              lazy = s.lazySync;
              fsm = fsmOver(engine, {
                dedupWindow: WINDOW,
                maxBatchEntries,
                sync: { syncEveryBatch: !lazy },
              });
              pos = Number(fsm.appliedIndex());
            }
          }
          await deliver(0, log.length);
          assert.deepEqual(dump(engine, ['mvcc']), dump(ref, ['mvcc']));
          assert.equal(fsm.appliedIndex(), BigInt(log.length));
          // Every entry's latest application answered exactly what the single run did.
          assert.deepEqual(new Map([...got].sort((x, y) => (x[0] < y[0] ? -1 : 1))), want);
        },
      ),
      { numRuns: 150 },
    );
  });
});
