import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../../sim/cli.ts';
import { Ghost, type Violation } from '../../sim/raft/ghost.ts';
import { runSeed } from '../../sim/run.ts';

async function cli(argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runCli(argv, { print: (l) => lines.push(l) });
  return { code, lines };
}

/** Read through a call so a narrowing by an earlier assert does not stick. */
const violationOf = (g: Ghost): Violation | undefined => g.violation;
const conf = (voters: string[], learners: string[] = []) => ({ voters, learners });

describe('membership invariants of the raft ghost', () => {
  test('I14: an applied conf entry must change exactly one member', () => {
    const ok = new Ghost(() => 1);
    ok.confApplied(1, 5, conf(['1', '2', '3']), conf(['1', '2', '3'], ['4']));
    ok.confApplied(1, 7, conf(['1', '2', '3'], ['4']), conf(['1', '2', '3', '4']));
    ok.confApplied(1, 9, conf(['1', '2', '3', '4']), conf(['1', '2', '4']));
    assert.equal(ok.violation, undefined);
    const none = new Ghost(() => 1);
    none.confApplied(2, 5, conf(['1', '2', '3'], ['4']), conf(['1', '2', '3'], ['4']));
    assert.equal(violationOf(none)?.invariant, 'I14');
    assert.match(violationOf(none)?.detail ?? '', /changes 0 members/);
    const two = new Ghost(() => 1);
    two.confApplied(2, 5, conf(['1', '2', '3']), conf(['1', '2', '3', '4'], ['5']));
    assert.match(violationOf(two)?.detail ?? '', /changes 2 members/);
  });

  test('I14: two nodes holding different configs after the same conf entry is caught', () => {
    const g = new Ghost(() => 1);
    g.confApplied(1, 5, conf(['1', '2', '3']), conf(['1', '2', '3'], ['4']));
    g.confApplied(2, 5, conf(['1', '2', '3']), conf(['1', '2', '3'], ['4']));
    assert.equal(violationOf(g), undefined);
    g.confApplied(3, 5, conf(['1', '2', '3', '4']), conf(['1', '2', '3', '4'], ['5']));
    assert.equal(violationOf(g)?.invariant, 'I14');
    assert.match(
      violationOf(g)?.detail ?? '',
      /n3 holds v1,2,3,4\/l5 after 5; another node holds v1,2,3\/l4/,
    );
  });

  test('I9 and I13 count the voters of the config that committed each index', () => {
    const holds = (upTo: number) => (i: number) => i <= upTo;
    // Index 1 committed by {1,2,3}; index 2 by {1,2,4} after 3 was removed and 4 promoted.
    const g = new Ghost(() => 1);
    g.committed(1, 1, 1, 1, ['1', '2', '3']);
    g.committed(1, 2, 1, 1, ['1', '2', '4']);
    g.durableQuorum([holds(2), holds(1), holds(1), holds(2)]);
    assert.equal(violationOf(g), undefined);
    // Index 2 on n1 and n3 only: a majority of the nodes, but n3 is no voter of its config.
    g.durableQuorum([holds(2), holds(1), holds(2), holds(1)]);
    assert.equal(violationOf(g)?.invariant, 'I9');
    assert.match(violationOf(g)?.detail ?? '', /committed 1\/2 durable on 1 of 3 voters/);
    const q = new Ghost(() => 1);
    const node = (id: number, upTo: number) => ({
      id,
      termAt: (i: number) => (i <= upTo ? 1 : undefined),
      snapIndex: 0,
    });
    q.committed(1, 1, 1, 1, ['1', '2', '4']);
    q.commitQuorum([node(1, 1), node(2, 0), node(3, 1), node(4, 0)]);
    assert.equal(violationOf(q)?.invariant, 'I13');
    assert.match(violationOf(q)?.detail ?? '', /1\/1 committed while durable on 1 of 3 voters/);
  });
});

describe('membership changes in the raft simulation', () => {
  test('a membership seed adds, promotes, removes and re-adds nodes and replays identically', async () => {
    const find = async (): Promise<number> => {
      for (let s = 1; s <= 30; s++) {
        const r = await runSeed(s);
        const st = r.stats ?? new Map();
        if ((st.get('conf.remove') ?? 0) > 0 && (st.get('conf.readd-learner') ?? 0) > 0) return s;
      }
      return 0;
    };
    const seed = await find();
    assert.ok(seed > 0, 'some seed of 1..30 removes and re-adds a node');
    const a = await runSeed(seed);
    const b = await runSeed(seed);
    assert.equal(a.verdict, 'ok', a.summary);
    assert.equal(a.traceHash, b.traceHash);
    for (const k of ['conf.add-learner', 'conf.promote', 'conf.remove', 'conf.applied'])
      assert.ok((a.stats?.get(k) ?? 0) > 0, `seed ${seed} has ${k}`);
  });

  test('a leader that lets two conf changes be pending fails I14', async () => {
    const { code, lines } = await cli(['--seeds', '3', '--bug', 'two-pending-conf']);
    assert.equal(code, 1);
    const fails = lines.filter((l) => l.startsWith('FAIL '));
    assert.equal(fails.length, 3, lines.join('\n'));
    for (const l of fails)
      assert.match(l, /^FAIL seed=0x\d{8} ev=\d{7} invariant=I14 detail="n\d leads t\d+ with 2 conf entries/);
  });

  test('a learner that campaigns fails I13', async () => {
    const { code, lines } = await cli(['--seeds', '3', '--bug', 'learner-campaign']);
    assert.equal(code, 1);
    const fails = lines.filter((l) => l.startsWith('FAIL '));
    assert.equal(fails.length, 3, lines.join('\n'));
    for (const l of fails)
      assert.match(
        l,
        /^FAIL seed=0x\d{8} ev=\d{7} invariant=I13 detail="n\d is precandidate t\d+ while a learner/,
      );
  });
});
