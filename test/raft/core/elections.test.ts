import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeMessage } from '../../../src/raft/core/messages.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { enc, Network } from './harness.ts';

const E = 10;

describe('elections and terms', () => {
  test('P1 Figure 8: an earlier-term entry on a majority is not committed until a current-term entry is', () => {
    const net = new Network({ voters: 5, cfg: { maxMsgBytes: 1 } });
    net.setLog('1', [1, 2], { term: 3, commit: 1 });
    net.setLog('2', [1, 2], { term: 3, commit: 1 });
    net.setLog('3', [1], { term: 3, commit: 1 });
    net.setLog('4', [1], { term: 3, commit: 1 });
    net.setLog('5', [1, 3], { term: 3, commit: 1 });
    net.cutLink('1', '2');
    net.cutLink('1', '5');
    // The first probe (prev=2/2 [4/3]) is rejected by n3 and n4; after backtracking, keep
    // the t4 entry from reaching them so that only the t2 entry spreads.
    const probed = new Set<string>();
    net.dropIf = (m) => {
      if (m.type !== 'App' || !m.entries.some((e) => e.term === 4)) return false;
      if (!probed.has(m.to)) {
        probed.add(m.to);
        return false;
      }
      return true;
    };
    net.elect('1');
    const st = net.core('1').status();
    assert.equal(st.role, 'leader');
    assert.equal(st.term, 4);
    const match = Object.fromEntries(st.progress.map(([id, p]) => [id, p.match]));
    assert.equal(match['3'], 2);
    assert.equal(match['4'], 2);
    assert.equal(st.commit, 1, 'the t2 entry sits on n1, n3, n4 but must not commit');
    net.dropIf = undefined;
    net.tick('1');
    net.stabilize();
    assert.equal(net.core('1').status().commit, 3, 'commits once the t4 entry reaches a majority');
    assert.deepEqual(net.checkCommittedAgreement(), []);
  });

  test('P2 a vote grant and the candidate self-vote ride in a Ready whose hard state must sync first', () => {
    const net = new Network({ voters: 3, cfg: { preVote: false } });
    net.core('1').campaign();
    const rd1 = net.core('1').ready();
    assert.equal(rd1.hardState?.vote, '1');
    assert.equal(rd1.hardState?.term, 1);
    assert.equal(rd1.mustSync, true);
    assert.ok(rd1.messages.some((m) => m.type === 'Vote'));
    net.core('1').advance(rd1);
    net.core('2').step(rd1.messages.find((m) => m.to === '2')!);
    const rd2 = net.core('2').ready();
    const grant = rd2.messages.find((m) => m.type === 'VoteResp');
    assert.ok(grant && !grant.reject);
    assert.deepEqual(rd2.hardState, { term: 1, vote: '1', commit: 0 });
    assert.equal(rd2.mustSync, true);
    // Crash before the write: the grant never left, and the restarted n2 is free to vote.
    net.restart('2');
    assert.equal(net.core('2').status().vote, '');
    // Persisted then restarted: a second candidate in the same term is refused.
    net.core('2').step(rd1.messages.find((m) => m.to === '2')!);
    net.readyOnce('2');
    net.restart('2');
    net.core('2').step(makeMessage({ type: 'Vote', from: '3', to: '2', term: 1, index: 5, logTerm: 1 }));
    const rd3 = net.core('2').ready();
    assert.deepEqual(
      rd3.messages.map((m) => [m.type, m.reject]),
      [['VoteResp', true]],
    );
  });

  test('P3 a candidate that steps down in the same term keeps its vote', () => {
    const net = new Network({ voters: 3, cfg: { preVote: false } });
    const c = net.core('1');
    c.campaign();
    assert.equal(c.status().role, 'candidate');
    c.step(makeMessage({ type: 'Heartbeat', from: '2', to: '1', term: 1 }));
    assert.equal(c.status().role, 'follower');
    assert.equal(c.status().vote, '1');
    net.readyOnce('1');
    c.step(makeMessage({ type: 'Vote', from: '3', to: '1', term: 1, index: 9, logTerm: 1 }));
    const rd = c.ready();
    assert.deepEqual(
      rd.messages.map((m) => [m.type, m.to, m.reject]),
      [['VoteResp', '3', true]],
    );
  });

  test('P4 election timeouts are redrawn so elections settle quickly across seeds', () => {
    let slow = 0;
    for (let seed = 1; seed <= 25; seed++) {
      const net = new Network({ voters: 3, seed });
      net.tickAll(3 * E);
      const first = net.leader();
      assert.ok(first !== undefined, `seed ${seed}: no first leader`);
      net.crash(first);
      let ticks = 0;
      while (ticks < 8 * E && (net.leader() === undefined || net.leader() === first)) {
        net.tickAll(1);
        ticks++;
      }
      if (net.leader() === undefined || net.leader() === first) slow++;
      assert.deepEqual(net.checkCommittedAgreement(), []);
    }
    assert.equal(slow, 0);
  });

  test('P5 an isolated node rejoining with pre-vote neither bumps terms nor unseats the leader', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    const term = net.core('1').status().term;
    net.isolate('3');
    for (let i = 0; i < 20 * E; i++) net.tickAll(1);
    assert.equal(net.core('3').status().term, term);
    net.heal();
    net.tickAll(3 * E);
    assert.equal(net.leader(), '1');
    for (const id of ['1', '2', '3']) assert.equal(net.core(id).status().term, term);
  });

  test('P6 a low-term pre-candidate learns the term and the cluster recovers', () => {
    const net = new Network({ voters: 3, seed: 7 });
    net.elect('1');
    net.isolate('3');
    // Raise the term of n1/n2 by transferring leadership back and forth.
    let leader = '1';
    for (let i = 0; i < 4; i++) {
      const to = leader === '1' ? '2' : '1';
      net.core(leader).transferLeadership(to);
      net.stabilize();
      assert.equal(net.leader(), to);
      leader = to;
    }
    assert.ok(net.core(leader).status().term >= 5);
    assert.equal(net.core('3').status().term, 1);
    net.crash(leader);
    net.heal();
    let ticks = 0;
    while (net.leader() === undefined && ticks < 6 * 2 * E) {
      net.tickAll(1);
      ticks++;
    }
    assert.ok(net.leader() !== undefined, 'a leader within 6·2E');
  });

  test('P7 a stale leader is told by an AppResp carrying the newer term', () => {
    const net = new Network({ voters: 3, cfg: { checkQuorum: false } });
    net.elect('1');
    net.isolate('1');
    let newLeader: string | undefined;
    for (let i = 0; i < 4 * E && newLeader === undefined; i++) {
      net.tick('2');
      net.tick('3');
      net.stabilize();
      newLeader = ['2', '3'].find((id) => net.core(id).status().role === 'leader');
    }
    assert.ok(newLeader !== undefined);
    const other = newLeader === '2' ? '3' : '2';
    assert.equal(net.core('1').status().role, 'leader');
    net.heal();
    net.cutLink('1', other);
    net.cutLink(other, '1');
    net.tick('1');
    net.stabilize();
    const st = net.core('1').status();
    assert.equal(st.role, 'follower');
    assert.equal(st.term, net.core(newLeader).status().term);
  });

  test('P8 check-quorum demotes a leader cut off from the voters within 2E', () => {
    const net = new Network({ voters: 3, cfg: { leaseReads: true } });
    net.elect('1');
    net.partition(['1'], ['2', '3']);
    for (let i = 0; i < 2 * E; i++) {
      net.tick('1');
      net.stabilize();
    }
    assert.equal(net.core('1').status().role, 'follower');
    assert.throws(
      () => net.core('1').propose(enc('x')),
      (e) => isSealError(e, 'ErrNotLeader'),
    );
    assert.throws(
      () => net.core('1').leaseRead(),
      (e) => isSealError(e, 'ErrNotLeader'),
    );
  });

  test('P9 followers inside the leader lease ignore a campaign; terms stay put', () => {
    for (const preVote of [true, false]) {
      const net = new Network({ voters: 3, cfg: { preVote } });
      net.elect('1');
      const term = net.core('1').status().term;
      net.core('2').campaign();
      for (const id of ['1', '2', '3']) net.readyOnce(id);
      net.deliver('1');
      net.deliver('3');
      assert.equal(net.core('1').status().term, term);
      assert.equal(net.core('3').status().term, term);
      assert.equal(net.core('1').status().role, 'leader');
    }
  });

  test('P9 a transfer campaign bypasses the lease', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.core('1').transferLeadership('3');
    net.stabilize();
    assert.equal(net.leader(), '3');
  });

  test('P15 stale-term vote grants reaching a newer candidate are not counted', () => {
    const net = new Network({ voters: 5, cfg: { preVote: false } });
    net.setLog('1', [], { term: 2 });
    const c = net.core('1');
    c.campaign();
    assert.equal(c.status().term, 3);
    for (const from of ['2', '3', '4']) c.step(makeMessage({ type: 'VoteResp', from, to: '1', term: 2 }));
    assert.equal(c.status().role, 'candidate');
    for (const from of ['2', '3']) c.step(makeMessage({ type: 'VoteResp', from, to: '1', term: 3 }));
    assert.equal(c.status().role, 'leader');
  });
});
