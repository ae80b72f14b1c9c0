import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enc, Network } from './harness.ts';

test('three nodes elect a leader and replicate a proposal', () => {
  const net = new Network({ voters: 3 });
  net.elect('1');
  assert.equal(net.leader(), '1');
  const idx = net.core('1').propose(enc('a'));
  net.stabilize();
  for (const id of ['1', '2', '3']) {
    assert.equal(net.core(id).status().commit, idx);
    assert.deepEqual(net.appliedData(id), ['a']);
  }
  assert.deepEqual(net.checkCommittedAgreement(), []);
});

test('ticking elects exactly one leader', () => {
  const net = new Network({ voters: 5, seed: 3 });
  net.tickAll(40);
  const leaders = net.ids().filter((id) => net.core(id).status().role === 'leader');
  assert.equal(leaders.length, 1);
  assert.deepEqual(net.checkCommittedAgreement(), []);
});
