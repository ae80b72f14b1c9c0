import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../../sim/cli.ts';
import { Ghost, type Violation } from '../../sim/raft/ghost.ts';
import { EntryType } from '../../src/raft/core/types.ts';
import { oneNode } from './raft-one-node.ts';

// Each ghost invariant added for snapshots, leaders, reads and acks must be able to fail:
// either a hidden --bug mode makes the real run fail naming it, or the check is fed a state
// that breaks it.

/** Read through a call: an earlier `=== undefined` assertion narrows the property itself. */
function violationOf(g: Ghost): Violation | undefined {
  return g.violation;
}

async function failLines(argv: string[]): Promise<string[]> {
  const lines: string[] = [];
  const code = await runCli(argv, { print: (l) => lines.push(l) });
  assert.equal(code, 1);
  return lines.filter((l) => l.startsWith('FAIL '));
}

describe('invariants that need a tampered state', () => {
  test('I4: a leader whose log loses an entry it held is caught', async () => {
    const { sched, ghost, node, run } = oneNode();
    await run(3000);
    assert.equal(node.roleLetter(), 'L');
    for (let reqId = 1; reqId <= 5; reqId++) {
      node.receive(101, { t: 'req', reqId, cmd: { f: 'put', key: 'k0', value: `v${reqId}` } });
      await run(sched.nowMs + 20);
    }
    assert.equal(ghost.violation, undefined);
    const last = node.storage.lastIndex();
    // Same index, same term, another entry object: the leader rewrote its own log.
    const term = node.storage.term(last)!;
    node.storage.append([{ index: last, term, type: EntryType.Normal, data: new Uint8Array([1]) }]);
    node.check();
    assert.equal(violationOf(ghost)?.invariant, 'I4');
    assert.match(
      violationOf(ghost)?.detail ?? '',
      new RegExp(`n1 leading t${term} replaced ${term}/${last}`),
    );
  });

  test('I6: a new leader must hold what earlier terms committed, not what later ones did', async () => {
    // The ghost already saw index 1 committed with term 5: in term 0 (binding on a leader of
    // term 1: I6), or in term 3 (not binding: a stale leader of a lower term may lack it, so
    // only I7 fires, once the node's own commit covers index 1 with another term).
    for (const [committedIn, want] of [
      [0, 'I6'],
      [3, undefined],
    ] as const) {
      const { ghost, node, run } = oneNode();
      ghost.committed(9, 1, 5, committedIn);
      await run(3000);
      assert.equal(node.roleLetter(), 'L');
      assert.equal(violationOf(ghost)?.invariant, want === undefined ? 'I7' : want);
    }
  });

  test('I13: a winner without a voter majority of grants is caught; learners do not count', () => {
    const g = new Ghost(() => 1);
    g.vote(2, 4, '1');
    g.winner(4, 1, ['1', '2', '3']);
    assert.equal(g.violation, undefined);
    g.vote(9, 5, '1');
    g.winner(5, 1, ['1', '2', '3']);
    assert.equal(violationOf(g)?.invariant, 'I13');
    assert.match(violationOf(g)?.detail ?? '', /n1 leads t5 with grants from 1 of 3 voters/);
  });

  test('I13: an index committed while durable on a voter minority is caught', () => {
    const g = new Ghost(() => 1);
    const holds = (upTo: number) => ({
      id: 0,
      termAt: (i: number) => (i <= upTo ? 1 : undefined),
      snapIndex: 0,
    });
    g.committed(1, 1, 1);
    g.committed(1, 2, 1);
    g.commitQuorum([holds(2), holds(2), holds(0)]);
    assert.equal(g.violation, undefined);
    g.committed(1, 3, 1);
    g.commitQuorum([holds(3), holds(2), { ...holds(0), snapIndex: 2 }]);
    assert.equal(violationOf(g)?.invariant, 'I13');
    assert.match(violationOf(g)?.detail ?? '', /1\/3 committed while durable on 1 of 3 voters/);
  });

  test('I17: an ack for an op no node applied, or whose entry is not committed, is caught', () => {
    const g = new Ghost(() => 1);
    g.ack(1, '101:1', 5);
    assert.equal(violationOf(g)?.invariant, 'I17');
    const g2 = new Ghost(() => 1);
    g2.applied(1, 1, 11, 22, '101:1', 2);
    g2.ack(1, '101:1', 1);
    g2.checkAcks();
    assert.equal(violationOf(g2)?.invariant, 'I17');
    assert.match(violationOf(g2)?.detail ?? '', /acked 101:1 at 2\/1, not committed there/);
  });
});

describe('hidden bug modes fail naming the invariant', () => {
  test('I18: a snapshot labelled with the wrong index', async () => {
    const fails = await failLines(['--seeds', '2', '--bug', 'snapshot-off-by-one']);
    assert.equal(fails.length, 2);
    for (const l of fails) {
      assert.match(l, /^FAIL seed=0x\d{8} ev=\d{7} invariant=I18 detail="n\d created snapshot at \d+ /);
    }
  });

  test('I17: acknowledging a write once it is appended, before it commits', async () => {
    const fails = await failLines(['--seeds', '2', '--bug', 'ack-on-append']);
    assert.equal(fails.length, 2);
    for (const l of fails)
      assert.match(l, /invariant=I17 detail="n\d acked \d+:\d+, which it has not applied/);
  });

  test('I15: lease reads with clocks beyond the assumed drift serve stale data', async () => {
    // Seed 392: a leader whose clock runs slower than the assumed drift still believes its
    // lease after another node won and committed, and serves a read it should not. (The
    // seed was chosen by search: any change to the messages sent reshuffles the runs.)
    const fails = await failLines(['--seed', '392', '--bug', 'clock-beyond-rho']);
    assert.match(
      fails[0] ?? '',
      /^FAIL seed=0x00000188 ev=\d{7} invariant=I15 detail="n\d lease read at \d+ < max commit/,
    );
  });

  test('MULTI/EXEC: reading outside the log breaks atomicity, caught under the whole-map model', async () => {
    // Seeds 1 and 2 run MULTI/EXEC batches; the bug answers their reads as of propose time.
    const fails = await failLines(['--seeds', '2', '--bug', 'multi-reads-at-propose']);
    assert.equal(fails.length, 2);
    for (const l of fails) assert.match(l, /invariant=LIN detail="key=\* not linearizable/);
  });

  test('I19: applying the entry an apply halt stops at', async () => {
    // Seeds 3 and 6 arm apply halts.
    const fails = await failLines(['--seeds', '4', '--start', '3', '--bug', 'apply-through-halt']);
    assert.equal(fails.length, 2);
    for (const l of fails) assert.match(l, /invariant=I19 detail="n\d halted at (\d+) with applied \1"$/);
  });

  test('I16: a new leader answering reads before its term-start entry commits', async () => {
    // Some of these seeds send a read to a leader right after it wins, before its no-op
    // commits; others serve a read at a commit index already overtaken (I15).
    const fails = await failLines(['--seeds', '20', '--bug', 'read-before-term-commit']);
    assert.ok(
      fails.every((l) => / invariant=I1[56] /.test(l)),
      fails.join('\n'),
    );
    const i16 = fails.filter((l) => l.includes(' invariant=I16 '));
    assert.ok(i16.length >= 1, fails.join('\n'));
    for (const l of i16)
      assert.match(l, /detail="n\d answered a read at \d+ as leader t\d+; commit \d+ is t\d+"$/);
  });
});
