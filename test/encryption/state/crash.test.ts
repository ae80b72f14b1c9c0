import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isSealError } from '../../../src/util/errors.ts';
import {
  A,
  A2,
  type AnyFault,
  B,
  boot,
  C,
  enableRaft,
  enableStorage,
  reg,
  rotate,
  TestNode,
} from './helpers.ts';

const POINTS: AnyFault[] = [
  'applier.afterUnwrap',
  'registry.beforeCommit',
  'registry.afterCommit',
  'applier.afterRows',
  'applier.afterKeystore',
  'sidecar.tmpCreated',
  'sidecar.tmpWritten',
  'sidecar.beforeRename',
  'sidecar.afterRename',
  'sidecar.beforeDirSync',
  'sidecar.afterDirSync',
  'applier.afterSidecar',
  'applier.afterCache',
  'applier.afterInstaller',
];

// Index k (1-based) of each flow under test in LOG.
const LOG = [
  boot(1, 2), // 1 bootstrap
  reg(1, A, 1), // 2
  enableStorage(1, C, 1), // 3 enable-storage-envelope
  rotate('storage', 3, A, 2), // 4 rotate-dek (storage)
  enableRaft(2, B, 2), // 5 enable-raft-envelope
  rotate('raft', 4, B, 1), // 6 rotate-dek (raft, cutover active → installer)
  reg(3, B, 1), // 7
  boot(8, 9), // 8 duplicate bootstrap
  enableRaft(4, A, 1), // 9 duplicate raft marker → installer
];
const FLOWS: [string, bigint][] = [
  ['bootstrap', 1n],
  ['enable-storage-envelope', 3n],
  ['rotate-dek storage', 4n],
  ['enable-raft-envelope', 5n],
  ['rotate-dek raft', 6n],
  ['duplicate enable-raft-envelope', 9n],
];

const stopOf = (n: TestNode, e: unknown) =>
  e === undefined ? undefined : `${n.appliedIndex}:${isSealError(e) ? String(e.details.inner) : String(e)}`;

async function reference(log: readonly Uint8Array[]): Promise<{ state: unknown; stop: string | undefined }> {
  const n = new TestNode();
  const e = await n.run(log);
  return { state: n.state(), stop: stopOf(n, e) };
}

describe('crash between side effects, restart, replay (§6.3, §7.9)', () => {
  for (const [name, k] of FLOWS) {
    test(`${name}: a crash at every point converges to the no-crash state`, async () => {
      const ref = await reference(LOG);
      assert.equal(ref.stop, undefined);
      let crashed = 0;
      for (const point of POINTS) {
        for (const lag of [false, true]) {
          const n = new TestNode();
          n.crashAt = (p, index) => p === point && index === k;
          n.restart();
          const e = await n.run(LOG);
          if (e === undefined) continue; // this flow never reaches that point
          crashed++;
          assert.equal(n.appliedIndex, k - 1n, `${point}: applied index must not advance`);
          n.crashAt = undefined;
          // Optionally lose the applied index too: the sidecar and rows are then several entries ahead.
          if (lag) n.appliedIndex = 0n;
          n.restart();
          const again = await n.run(LOG);
          assert.equal(again, undefined, `${point}: replay must not halt (${String(again)})`);
          assert.deepEqual(n.state(), ref.state, `${point} lag=${lag}`);
        }
      }
      assert.ok(crashed >= 8, `only ${crashed} crash points were reached`);
    });
  }
});

describe('entries the sidecar already reflects change nothing (§7.9 step 1)', () => {
  test('replay after the applied index was lost writes neither sidecar nor rows', async () => {
    const n = new TestNode();
    assert.equal(await n.run(LOG), undefined);
    const ref = n.state();
    // Any sidecar or registry write during the replay would now fail loudly.
    n.fs.failDirSync = true;
    n.appliedIndex = 0n;
    n.start();
    // The replayed entries themselves must re-assert the wrap (installers are idempotent).
    n.installed = undefined;
    n.registry.faults = () => {
      throw new Error('registry written during replay');
    };
    assert.equal(await n.run(LOG), undefined);
    assert.deepEqual(n.state(), ref);
  });
});

// ---- property: replaying any entry sequence from any durable point gives the same state ----
const fullArb = fc.constantFrom(A, B, C, A2);
const dekArb = fc.integer({ min: 1, max: 6 });
const epochArb = fc.integer({ min: 0, max: 3 });
const entryArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(dekArb, fullArb, epochArb).map(([d, f, e]) => reg(d, f, e)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.subarray([A, B, C]))
      .map(([s, r, m]) => boot(s, r, m)),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom<'storage' | 'raft'>('storage', 'raft'), dekArb, fullArb, epochArb)
      .map(([p, d, f, e]) => rotate(p, d, f, e)),
  },
  { weight: 2, arbitrary: fc.tuple(dekArb, fullArb, epochArb).map(([d, f, e]) => enableStorage(d, f, e)) },
  { weight: 2, arbitrary: fc.tuple(dekArb, fullArb, epochArb).map(([d, f, e]) => enableRaft(d, f, e)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 3, max: 7 }), fc.uint8Array({ maxLength: 20 }))
      .map(([op, rest]) => Uint8Array.of(op, ...rest)),
  },
);

describe('replay determinism (property)', () => {
  test('replaying from any durable applied index, any number of times, reaches the same state and stop', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entryArb, { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
        async (log, rewinds) => {
          const ref = await reference(log);
          const n = new TestNode();
          await n.run(log);
          for (const r of rewinds) {
            n.appliedIndex = BigInt(r % (Number(n.appliedIndex) + 1));
            n.restart();
            const e = await n.run(log);
            assert.equal(stopOf(n, e), ref.stop);
            assert.deepEqual(n.state(), ref.state);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
