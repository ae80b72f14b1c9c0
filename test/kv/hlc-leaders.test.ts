import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HybridLogicalClock } from '../../src/kv/hlc.ts';
import { decodeHlcLease, encodeHlcLease } from '../../src/kv/hlc-lease.ts';
import { isSealError } from '../../src/util/errors.ts';

// A model of leader changes: a committed log of lease entries (0x02 payloads),
// nodes with skewed clocks that jump both ways, lagging appliers, deposed
// leaders that keep issuing until an entry of a newer term reaches them, and
// restarts that rebuild the clock from the log alone. Stamps are never written
// to the log (they stand for reads and lost proposals), so only the lease keeps
// a new leader above them.

type Op =
  | { kind: 'tick'; node: number; delta: number }
  | { kind: 'apply'; node: number; count: number }
  | { kind: 'renew'; node: number }
  | { kind: 'issue'; node: number }
  | { kind: 'elect'; node: number }
  | { kind: 'restart'; node: number }
  | { kind: 'settle'; node: number };

const NODES = 3;
const node = fc.nat({ max: NODES - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      node,
      delta: fc.integer({ min: -500, max: 900 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('apply' as const),
      node,
      count: fc.integer({ min: 1, max: 3 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('renew' as const), node }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('issue' as const), node }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('elect' as const), node }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('restart' as const), node }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('settle' as const), node }), weight: 3 },
);

interface Node {
  clock: { ms: number };
  hlc: HybridLogicalClock;
  applied: number;
  /** The term this node believes it leads, 0 when it does not. */
  leads: number;
}

interface Entry {
  term: number;
  payload: Uint8Array;
}

function makeHlc(clock: { ms: number }): HybridLogicalClock {
  return new HybridLogicalClock({
    nowMs: () => clock.ms,
    leaseMs: 1000,
    renewWithinMs: 400,
    retryAfterMs: 200,
  });
}

function run(skews: number[], ops: Op[]): { term: number; ts: bigint }[] {
  const log: Entry[] = [];
  let term = 0;
  const nodes: Node[] = skews.map((skew) => {
    const clock = { ms: 1_000_000 + skew };
    return { clock, hlc: makeHlc(clock), applied: 0, leads: 0 };
  });
  const issued: { term: number; ts: bigint }[] = [];

  const applyOne = (n: Node): void => {
    const e = log[n.applied]!;
    // An entry of a newer term tells a deposed leader that it lost.
    if (n.leads !== 0 && e.term > n.leads) {
      n.hlc.stepDown();
      n.leads = 0;
    }
    n.hlc.applyLease(decodeHlcLease(e.payload));
    n.applied++;
  };

  for (const o of ops) {
    const n = nodes[o.node]!;
    switch (o.kind) {
      case 'tick':
        n.clock.ms = Math.max(0, n.clock.ms + o.delta);
        break;
      case 'apply':
        for (let i = 0; i < o.count && n.applied < log.length; i++) applyOne(n);
        break;
      case 'renew': {
        const ceiling = n.hlc.needsLeaseRenewal(n.clock.ms);
        // Only the current term's leader gets entries committed.
        if (ceiling !== undefined && n.leads === term) log.push({ term, payload: encodeHlcLease(ceiling) });
        break;
      }
      case 'issue': {
        if (n.leads === 0) {
          assert.throws(
            () => n.hlc.issue(),
            (e: unknown) => isSealError(e, 'ErrNotLeader'),
          );
          break;
        }
        if (n.hlc.canIssue()) issued.push({ term: n.leads, ts: n.hlc.issue() });
        else
          assert.throws(
            () => n.hlc.issue(),
            (e: unknown) => isSealError(e, 'ErrHlcLeaseExhausted'),
          );
        break;
      }
      case 'elect':
        term++;
        // Raft: the winner applies every committed entry (its term-start entry) first.
        while (n.applied < log.length) applyOne(n);
        n.hlc.becomeLeader();
        n.leads = term;
        break;
      case 'settle': {
        // A quiet moment: the current leader renews if due and catches up its applier.
        const leader = nodes.find((x) => x.leads === term && term !== 0);
        if (leader === undefined) break;
        const ceiling = leader.hlc.needsLeaseRenewal(leader.clock.ms);
        if (ceiling !== undefined) log.push({ term, payload: encodeHlcLease(ceiling) });
        while (leader.applied < log.length) applyOne(leader);
        break;
      }
      case 'restart':
        n.hlc = makeHlc(n.clock);
        n.leads = 0;
        {
          const upTo = n.applied;
          n.applied = 0;
          while (n.applied < upTo) applyOne(n);
        }
        break;
    }
  }
  return issued;
}

test('no leader ever issues a stamp at or below one issued in an earlier term', () => {
  let multiTermRuns = 0;
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: -5000, max: 5000 }), { minLength: NODES, maxLength: NODES }),
      fc.array(op, { minLength: 20, maxLength: 150, size: 'max' }),
      (skews, ops) => {
        const issued = run(skews, ops);
        const seen = new Set<bigint>();
        const byTerm = new Map<number, { min: bigint; max: bigint }>();
        for (const { term, ts } of issued) {
          assert.ok(!seen.has(ts), `stamp ${ts} issued twice`);
          seen.add(ts);
          const r = byTerm.get(term);
          if (r === undefined) byTerm.set(term, { min: ts, max: ts });
          else {
            assert.ok(ts > r.max, `term ${term} went backwards`);
            r.max = ts;
          }
        }
        const terms = [...byTerm.keys()].sort((a, b) => a - b);
        if (terms.length > 1) multiTermRuns++;
        let earlierMax = -1n;
        for (const t of terms) {
          const r = byTerm.get(t)!;
          assert.ok(r.min > earlierMax, `term ${t} issued ${r.min}, an earlier term reached ${earlierMax}`);
          if (r.max > earlierMax) earlierMax = r.max;
        }
      },
    ),
    { numRuns: 300 },
  );
  assert.ok(multiTermRuns > 30, `only ${multiTermRuns} runs issued in several terms`);
});
