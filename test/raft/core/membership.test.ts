import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeConfChange, encodeConfChange } from '../../../src/raft/core/confchange.ts';
import { type ConfChange, ConfChangeType } from '../../../src/raft/core/types.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { enc, Network } from './harness.ts';

const E = 10;
const cc = (type: ConfChangeType, node: string): ConfChange => ({ type, node, context: new Uint8Array() });
const code = (c: string) => (e: unknown) => isSealError(e, c);

describe('membership changes', () => {
  test('conf change entries round-trip through their codec', () => {
    const x = { type: ConfChangeType.PromoteLearner, node: 'n-7', context: enc('addr') };
    assert.deepEqual(decodeConfChange(encodeConfChange(x)), x);
    assert.throws(() => decodeConfChange(new Uint8Array([9, 0, 0, 0, 0, 0, 0])), code('ErrInvalidArgument'));
  });

  test('P37 a second change is refused while the first is pending', () => {
    const net = new Network({ voters: 3, extra: 2 });
    net.elect('1');
    net.core('1').proposeConfChange(cc(ConfChangeType.AddLearner, '4'));
    assert.throws(
      () => net.core('1').proposeConfChange(cc(ConfChangeType.AddLearner, '5')),
      code('ErrConfChangePending'),
    );
    net.stabilize();
    net.core('1').proposeConfChange(cc(ConfChangeType.AddLearner, '5'));
    net.stabilize();
    assert.deepEqual(net.core('2').status().conf, { voters: ['1', '2', '3'], learners: ['4', '5'] });
  });

  test('P38 a new leader refuses changes until its term-start entry is committed and applied', () => {
    const net = new Network({ voters: 3, extra: 1 });
    net.core('1').campaign();
    for (let i = 0; i < 4; i++) {
      for (const id of net.ids()) net.readyOnce(id);
      for (const id of net.ids()) net.deliver(id);
    }
    assert.equal(net.core('1').status().role, 'leader');
    assert.ok(net.core('1').status().applied < net.core('1').status().lastIndex);
    assert.throws(
      () => net.core('1').proposeConfChange(cc(ConfChangeType.AddVoter, '4')),
      code('ErrConfChangePending'),
    );
    net.stabilize();
    net.core('1').proposeConfChange(cc(ConfChangeType.AddVoter, '4'));
  });

  test('P39 a conf entry truncated before it was applied never takes effect', () => {
    const net = new Network({ voters: 3, extra: 1 });
    net.elect('1');
    net.isolate('1');
    net.core('1').proposeConfChange(cc(ConfChangeType.AddVoter, '4'));
    net.stabilize();
    for (let i = 0; i < 4 * E && ['2', '3'].every((id) => net.core(id).status().role !== 'leader'); i++) {
      net.tick('2');
      net.tick('3');
      net.stabilize();
    }
    const other = ['2', '3'].find((id) => net.core(id).status().role === 'leader')!;
    net.core(other).propose(enc('x'));
    net.stabilize();
    net.heal();
    net.tickAll(3);
    for (const id of ['1', '2', '3']) assert.deepEqual(net.core(id).status().conf.voters, ['1', '2', '3']);
  });

  test('P40 a removed leader stops counting itself, finishes replicating, then steps down', () => {
    const net = new Network({ voters: 3, cfg: { maxMsgBytes: 1 } });
    net.elect('1');
    net.cutLink('1', '3');
    const rm = net.core('1').proposeConfChange(cc(ConfChangeType.RemoveNode, '1'));
    const bar = net.core('1').propose(enc('bar'));
    net.readyOnce('1');
    net.deliver('2');
    net.readyOnce('2');
    // The ack of the removal alone commits it under the old config; n1 applies it.
    net.deliver('1', (m) => m.index === rm);
    assert.equal(net.core('1').status().commit, rm);
    net.readyOnce('1');
    assert.deepEqual(net.core('1').status().conf.voters, ['2', '3']);
    net.deliver('1');
    net.stabilize(['1', '2']);
    assert.ok(net.core('1').status().commit < bar, "n2's ack alone does not commit bar");
    assert.equal(net.core('1').status().role, 'leader');
    assert.throws(() => net.core('1').propose(enc('more')), code('ErrProposalDropped'));
    net.heal();
    net.tick('1');
    net.stabilize();
    assert.equal(net.core('3').status().commit, bar);
    assert.equal(net.core('1').status().role, 'follower');
    // The removed node never campaigns; the remaining voters elect a leader.
    net.tickAll(4 * E);
    const lead = net.leader();
    assert.ok(lead === '2' || lead === '3');
    const term = net.core(lead).status().term;
    net.tickAll(4 * E);
    assert.equal(net.leader(), lead);
    assert.equal(net.core(lead).status().term, term);
  });

  test('P41 a lagging learner cannot be promoted until it catches up', () => {
    const net = new Network({ voters: 3, learners: 1, cfg: { promoteSlack: 5 } });
    net.elect('1');
    net.isolate('4');
    for (let i = 0; i < 20; i++) net.core('1').propose(enc(`v${i}`));
    net.stabilize();
    assert.throws(
      () => net.core('1').proposeConfChange(cc(ConfChangeType.PromoteLearner, '4')),
      code('ErrLearnerNotReady'),
    );
    net.heal();
    net.tickAll(2);
    net.core('1').proposeConfChange(cc(ConfChangeType.PromoteLearner, '4'));
    net.stabilize();
    assert.deepEqual(net.core('4').status().conf.voters, ['1', '2', '3', '4']);
  });

  test('P10 a learner promoted by an entry it has not received still votes', () => {
    const net = new Network({ voters: 2, learners: 1 });
    net.elect('1');
    net.cutLink('1', '3');
    net.core('1').proposeConfChange(cc(ConfChangeType.PromoteLearner, '3'));
    net.stabilize();
    assert.deepEqual(net.core('2').status().conf.voters, ['1', '2', '3']);
    assert.deepEqual(net.core('3').status().conf.voters, ['1', '2']);
    net.crash('1');
    net.heal();
    for (let i = 0; i < 6 * E && net.leader() !== '2'; i++) net.tickAll(1);
    assert.equal(net.leader(), '2');
    assert.equal(net.core('3').status().role, 'follower', 'the learner never campaigns');
  });

  test('P42 adding a voter that never starts stalls a one-node group; the learner path does not', () => {
    const voterPath = new Network({ voters: 1, extra: 1 });
    voterPath.crash('2');
    voterPath.elect('1');
    voterPath.core('1').proposeConfChange(cc(ConfChangeType.AddVoter, '2'));
    voterPath.stabilize();
    const idx = voterPath.core('1').propose(enc('stuck'));
    voterPath.tickAll(3);
    assert.ok(voterPath.core('1').status().commit < idx, 'quorum 2 with n2 down: no commit');

    const learnerPath = new Network({ voters: 1, extra: 1 });
    learnerPath.crash('2');
    learnerPath.elect('1');
    learnerPath.core('1').proposeConfChange(cc(ConfChangeType.AddLearner, '2'));
    learnerPath.stabilize();
    const j = learnerPath.core('1').propose(enc('fine'));
    learnerPath.stabilize();
    assert.equal(learnerPath.core('1').status().commit, j);
  });
});

describe('leadership transfer', () => {
  test('P36 refuses self, learners and non-members', () => {
    const net = new Network({ voters: 3, learners: 1 });
    net.elect('1');
    const c = net.core('1');
    assert.throws(() => c.transferLeadership('1'), code('ErrInvalidArgument'));
    assert.throws(() => c.transferLeadership('4'), code('ErrInvalidArgument'));
    assert.throws(() => c.transferLeadership('9'), code('ErrInvalidArgument'));
  });

  test('P36 a slow target: proposals refused until it catches up and wins', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.cutLink('1', '3');
    for (let i = 0; i < 5; i++) net.core('1').propose(enc(`v${i}`));
    net.stabilize();
    net.core('1').transferLeadership('3');
    assert.throws(() => net.core('1').propose(enc('no')), code('ErrLeaderTransferring'));
    net.core('1').transferLeadership('3');
    net.heal();
    net.tick('1');
    net.stabilize();
    assert.equal(net.leader(), '3');
    assert.equal(net.appliedData('3').length, 5);
  });

  test('P36 a lost TimeoutNow aborts after E and proposals resume', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.dropIf = (m) => m.type === 'TimeoutNow';
    net.core('1').transferLeadership('2');
    net.stabilize();
    for (let i = 0; i < E - 1; i++) net.tickAll(1);
    assert.throws(() => net.core('1').propose(enc('no')), code('ErrLeaderTransferring'));
    net.tickAll(1);
    assert.equal(net.core('1').status().leadTransferee, '');
    net.core('1').propose(enc('yes'));
    net.stabilize();
    assert.equal(net.leader(), '1');
  });

  test('P36 a new target replaces the old one', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.cutLink('1', '2');
    net.core('1').propose(enc('x'));
    net.stabilize();
    net.core('1').transferLeadership('2');
    net.core('1').transferLeadership('3');
    assert.equal(net.core('1').status().leadTransferee, '3');
    net.stabilize();
    assert.equal(net.leader(), '3');
  });
});
