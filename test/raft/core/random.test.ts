import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../../../src/raft/core/types.ts';
import { enc, Network, seededRand } from './harness.ts';

/**
 * Random schedules of ticks, Ready cycles, reordered / duplicated / dropped deliveries,
 * partitions, crashes and restarts. After every step: one leader per term (I1), committed
 * prefixes agree (I7), every index is applied with the same entry everywhere (I8), commit
 * never decreases within a process life (I10). At the end, with faults stopped, a single
 * leader emerges and everyone converges (I21).
 */
const stats = { terms: 0, commits: 0, reads: 0 };

function runSchedule(seed: number, steps: number, voters: number): void {
  const rnd = seededRand(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const net = new Network({ voters, seed });
  const ids = net.ids();
  const appliedAt = new Map<number, string>();
  const lastCommit = new Map<string, number>();
  let proposals = 0;
  let maxCommit = 0;
  const readIssuedAt = new Map<string, number>();
  const readsSeen = new Map<string, number>();
  let readsAnswered = 0;

  const checkApplied = () => {
    for (const id of ids) {
      for (const e of net.node(id).applied as Entry[]) {
        if (e.index === 0) continue;
        const key = `${e.term}:${new TextDecoder().decode(e.data)}`;
        const prev = appliedAt.get(e.index);
        assert.ok(
          prev === undefined || prev === key,
          `I8 seed=${seed}: index ${e.index} applied as ${prev} and ${key}`,
        );
        appliedAt.set(e.index, key);
      }
    }
  };

  for (let step = 0; step < steps; step++) {
    const r = rnd();
    const id = pick(ids);
    const node = net.node(id);
    if (r < 0.15) {
      if (!node.crashed) net.tick(id);
    } else if (r < 0.45) {
      net.readyOnce(id);
    } else if (r < 0.6) {
      net.deliver(id);
    } else if (r < 0.8) {
      const q = net.queues.get(id) ?? [];
      if (q.length > 0) {
        const k = Math.floor(rnd() * q.length);
        const m = q[k];
        if (m !== undefined && rnd() < 0.9) {
          // Deliver one message out of order; sometimes keep a copy (duplicate).
          const dup = rnd() < 0.1;
          net.deliver(id, (x) => x === m && !dup);
          if (dup && !node.crashed) node.core.step(m);
        } else if (m !== undefined) {
          net.drop(id, (x) => x === m);
        }
      }
    } else if (r < 0.84) {
      if (!node.crashed) {
        const ctx = `r${readIssuedAt.size}`;
        try {
          node.core.readIndex(enc(ctx));
          readIssuedAt.set(ctx, maxCommit);
        } catch {
          // No known leader: the client retries elsewhere.
        }
      }
    } else if (r < 0.9) {
      if (!node.crashed && node.core.status().role === 'leader') {
        try {
          node.core.propose(enc(`p${proposals++}`));
        } catch {
          // Refusals (transfer, size) are fine here.
        }
      }
    } else if (r < 0.92) {
      net.heal();
      if (rnd() < 0.5) net.isolate(pick(ids));
    } else if (r < 0.93) {
      if (!node.crashed && ids.filter((x) => net.node(x).crashed).length < Math.floor((voters - 1) / 2)) {
        net.crash(id);
        lastCommit.delete(id);
      }
    } else if (r < 0.96) {
      if (node.crashed) net.restart(id);
    } else {
      net.heal();
    }
    for (const x of ids) {
      const n = net.node(x);
      if (n.crashed) continue;
      const c = n.core.status().commit;
      assert.ok(c >= (lastCommit.get(x) ?? 0), `I10 seed=${seed}: n${x} commit went back`);
      lastCommit.set(x, c);
    }
    for (const x of ids) {
      const n = net.node(x);
      if (!n.crashed) maxCommit = Math.max(maxCommit, n.core.status().commit);
      const seen = readsSeen.get(x) ?? 0;
      for (const rs of n.readStates.slice(seen)) {
        // I15: a read index covers every commit known when the read was issued.
        const issued = readIssuedAt.get(new TextDecoder().decode(rs.context));
        assert.ok(
          issued !== undefined && rs.index >= issued,
          `I15 seed=${seed}: stale read index ${rs.index}`,
        );
        readsAnswered++;
      }
      readsSeen.set(x, n.readStates.length);
    }
    const v = net.checkCommittedAgreement();
    assert.deepEqual(v, [], `seed=${seed} step=${step}`);
    checkApplied();
  }

  // Quiescence: heal, restart, and let the cluster settle.
  net.heal();
  for (const x of ids) if (net.node(x).crashed) net.restart(x);
  for (const x of ids) net.queues.set(x, []);
  for (let i = 0; i < 60 && !settled(net); i++) net.tickAll(1);
  assert.ok(settled(net), `I21 seed=${seed}: no convergence`);
  stats.terms += net.leaderOf.size;
  stats.reads += readsAnswered;
  stats.commits += net.core(ids[0] ?? '1').status().commit;
  checkApplied();
}

function settled(net: Network): boolean {
  const ids = net.ids();
  const leaders = ids.filter((x) => net.core(x).status().role === 'leader');
  if (leaders.length !== 1) return false;
  const s = ids.map((x) => net.core(x).status());
  return s.every((st) => st.commit === s[0]?.commit && st.applied === st.commit);
}

test('random schedules with reordering, loss, partitions and crashes keep Raft safe (3 voters)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => runSchedule(seed, 2000, 3)),
    { numRuns: 40 },
  );
});

test('random schedules keep Raft safe (5 voters)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => runSchedule(seed, 2000, 5)),
    { numRuns: 20 },
  );
});

test('the random schedules exercised elections and commits', () => {
  console.log(stats);
  assert.ok(stats.terms > 100, `terms with a leader: ${stats.terms}`);
  assert.ok(stats.commits > 500, `commits: ${stats.commits}`);
  assert.ok(stats.reads > 100, `reads answered: ${stats.reads}`);
});
