import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Message, makeMessage } from '../../../src/raft/core/messages.ts';
import type { Snapshot } from '../../../src/raft/core/types.ts';
import { enc, Network } from './harness.ts';

const E = 10;

const snapMsg = (index: number, term: number, msgTerm = 2): Message => {
  const snapshot: Snapshot = {
    meta: { index, term, conf: { voters: ['1', '2', '3'], learners: [] } },
    data: enc('[]'),
  };
  return makeMessage({ type: 'Snap', from: '1', to: '2', term: msgTerm, snapshot });
};

function respond(net: Network, id: string): Message {
  const rd = net.readyOnce(id);
  const m = rd?.messages[rd.messages.length - 1];
  assert.ok(m !== undefined);
  return m;
}

function lagging(): Network {
  const net = new Network({ voters: 3 });
  net.elect('1');
  net.isolate('3');
  for (let i = 0; i < 10; i++) net.core('1').propose(enc(`v${i}`));
  net.stabilize();
  const commit = net.core('1').status().commit;
  assert.equal(commit, 11);
  net.compact('1', 10);
  assert.equal(net.core('1').status().firstIndex, 11);
  return net;
}

describe('snapshots', () => {
  test('P26 a snapshot matching a local entry only fast-forwards commit and keeps the suffix', () => {
    const net = new Network({ voters: 3 });
    net.setLog('2', Array(20).fill(2), { term: 2, commit: 10 });
    net.core('2').step(snapMsg(15, 2));
    const r = respond(net, '2');
    assert.equal(r.index, 15);
    const st = net.core('2').status();
    assert.equal(st.commit, 15);
    assert.equal(st.lastIndex, 20);
    assert.equal(st.firstIndex, 1);
  });

  test('P26 a duplicate snapshot arriving after commit moved is ignored', () => {
    const net = new Network({ voters: 3 });
    net.setLog('2', [1, 1, 1], { term: 2, commit: 2 });
    net.core('2').step(snapMsg(25, 2));
    assert.equal(respond(net, '2').index, 25);
    net.core('2').step(
      makeMessage({
        type: 'App',
        from: '1',
        to: '2',
        term: 2,
        index: 25,
        logTerm: 2,
        commit: 26,
        entries: [],
      }),
    );
    net.core('2').step(
      makeMessage({
        type: 'App',
        from: '1',
        to: '2',
        term: 2,
        index: 25,
        logTerm: 2,
        commit: 26,
        entries: [{ term: 2, index: 26, type: 0, data: enc('x') }],
      }),
    );
    net.readyOnce('2');
    net.core('2').step(snapMsg(25, 2));
    const r = respond(net, '2');
    assert.equal(r.index, 26, 'answered with commit, nothing restored');
    assert.equal(net.core('2').status().lastIndex, 26);
  });

  test('P27 a snapshot whose index holds another term discards the whole log', () => {
    const net = new Network({ voters: 3 });
    net.setLog('2', [1, 1, 1, 1, 1, 1, 1, 1], { term: 2, commit: 3 });
    net.core('2').step(snapMsg(5, 2));
    respond(net, '2');
    assert.equal(net.core('2').status().lastIndex, 5);
    net.core('2').step(
      makeMessage({
        type: 'App',
        from: '1',
        to: '2',
        term: 2,
        index: 5,
        logTerm: 2,
        commit: 6,
        entries: [{ term: 2, index: 6, type: 0, data: enc('y') }],
      }),
    );
    const r = respond(net, '2');
    assert.equal(r.reject, false);
    assert.equal(r.index, 6);
  });

  test('P30 compaction past a slow follower turns into a snapshot, then replication resumes (P28)', () => {
    const net = lagging();
    net.heal();
    net.tick('1');
    for (let i = 0; i < 10; i++) {
      for (const id of ['1', '2', '3']) net.readyOnce(id);
      for (const id of ['1', '2', '3']) net.deliver(id, (m) => m.type !== 'Snap');
    }
    const pr = () =>
      net
        .core('1')
        .status()
        .progress.find(([id]) => id === '3')?.[1];
    assert.equal(pr()?.state, 'snapshot');
    // A proposal while the snapshot is in flight: no MsgApp to n3 until it lands.
    net.core('1').propose(enc('during'));
    net.readyOnce('1');
    assert.ok(!net.queues.get('3')!.some((m) => m.type === 'App'));
    net.stabilize();
    assert.equal(pr()?.state, 'replicate');
    assert.equal(net.core('3').status().commit, 12);
    assert.deepEqual(net.appliedData('3'), net.appliedData('1'));
  });

  test('P29 a lost snapshot is retried after the timeout', () => {
    const net = lagging();
    net.heal();
    net.dropIf = (m) => m.type === 'Snap';
    let snaps = 0;
    const send = net.send.bind(net);
    net.send = (m) => {
      if (m.type === 'Snap') snaps++;
      send(m);
    };
    net.tickAll(1);
    assert.equal(snaps, 1);
    net.tickAll(2 * E - 2);
    assert.equal(snaps, 1, 'no resend while the snapshot may still be in flight');
    net.dropIf = undefined;
    net.tickAll(3);
    assert.equal(snaps, 2);
    assert.equal(net.core('3').status().commit, 11);
  });

  test('P29 a failure report sends the follower back to probing', () => {
    const net = lagging();
    net.heal();
    net.dropIf = (m) => m.type === 'Snap';
    net.tickAll(1);
    net.core('1').reportSnapshot('3', false);
    const pr = net
      .core('1')
      .status()
      .progress.find(([id]) => id === '3')?.[1];
    assert.equal(pr?.state, 'probe');
    net.dropIf = undefined;
    net.tickAll(2);
    assert.equal(net.core('3').status().commit, 11);
  });

  test('P31 membership survives snapshot, compaction and restart', () => {
    const net = new Network({ voters: 3, extra: 1 });
    net.elect('1');
    net.core('1').propose(enc('a'));
    net.stabilize();
    net.core('1').proposeConfChange({ type: 0, node: '4', context: new Uint8Array() });
    net.stabilize();
    for (const id of ['1', '2', '3']) {
      const applied = net.core(id).status().applied;
      net.compact(id, applied);
      net.restart(id);
      assert.deepEqual(net.core(id).status().conf.voters, ['1', '2', '3', '4']);
    }
  });
});
