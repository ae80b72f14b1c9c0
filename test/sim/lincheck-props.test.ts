import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { checkKvHistory } from '../../sim/lincheck/index.ts';
import { corruptOneRead, type GenOptions, genLinearizable } from './lincheck-gen.ts';

const kinds = fc.constantFrom<GenOptions['kinds']>('register', 'list', 'multi');

// WGL is exponential in concurrency (list states record every order), so overlap stays
// moderate; an illegal history must be searched exhaustively, so it gets less overlap.
const genOpts = (maxSpreadMs: number) =>
  fc.record({
    ops: fc.integer({ min: 1, max: 40 }),
    keys: fc.integer({ min: 1, max: 3 }),
    clients: fc.integer({ min: 1, max: 6 }),
    kinds,
    spreadMs: fc.integer({ min: 0, max: maxSpreadMs }),
    pendingP: fc.constantFrom(0, 0.1),
  });

describe('lincheck properties', () => {
  test('histories executed sequentially with real-time overlap are linearizable', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), genOpts(40), (seed, o) => {
        const r = checkKvHistory(genLinearizable(seed, o));
        assert.equal(r.verdict, 'ok');
      }),
      { numRuns: 200 },
    );
  });

  test('changing one read to a value nobody wrote makes the history non-linearizable', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), genOpts(12), fc.nat(), (seed, o, pick) => {
        const bad = corruptOneRead(genLinearizable(seed, o), pick);
        fc.pre(bad !== undefined);
        const r = checkKvHistory(bad!, { shrink: { maxChecks: 10 } });
        assert.equal(r.verdict, 'illegal');
        const cx = r.partitions.find((p) => p.verdict === 'illegal')!.counterexample!;
        assert.ok(cx.ops.length >= 1 && cx.blocked.length >= 1);
      }),
      { numRuns: 150 },
    );
  });

  // Search effort is asserted in steps, not wall time: timing asserts flaked on the
  // shared CI cores, and steps are what a blow-up would show (the cap is 5M).
  test('a 2000-op register history on one key needs a near-linear search', () => {
    const h = genLinearizable(12345, {
      ops: 2000,
      keys: 1,
      clients: 8,
      kinds: 'register',
      spreadMs: 30,
      pendingP: 0.05,
    });
    const r = checkKvHistory(h);
    assert.equal(r.verdict, 'ok');
    const steps = r.partitions[0]!.steps;
    assert.ok(steps < 200_000, `took ${steps} search steps`);
  });

  test('a 2000-op list-append history on one key needs a near-linear search (appends not yet read stay unordered)', () => {
    const h = genLinearizable(777, {
      ops: 2000,
      keys: 1,
      clients: 8,
      kinds: 'list',
      spreadMs: 30,
      pendingP: 0.05,
    });
    const r = checkKvHistory(h);
    assert.equal(r.verdict, 'ok');
    const steps = r.partitions[0]!.steps;
    assert.ok(steps < 100_000, `took ${steps} search steps`);
  });
});
