import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSealError } from '../../../src/util/errors.ts';
import { enc, Network } from './harness.ts';

const E = 10;
const ctx = (s: string) => enc(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Counts the heartbeats the network carries from now on. */
function countHeartbeats(net: Network): { sent: number } {
  const count = { sent: 0 };
  const send = net.send.bind(net);
  net.send = (m) => {
    if (m.type === 'Heartbeat') count.sent++;
    send(m);
  };
  return count;
}

describe('reads', () => {
  test('P32 a new leader answers ReadIndex only after its term-start entry commits', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.core('1').propose(enc('a'));
    net.stabilize();
    const oldCommit = net.core('1').status().commit;
    // n2 wins but its appends are held back, so its term-start entry cannot commit.
    net.dropIf = (m) => m.type === 'App' && m.from === '2';
    net.core('1').transferLeadership('2');
    net.stabilize();
    assert.equal(net.leader(), '2');
    net.core('2').readIndex(ctx('r1'));
    net.stabilize();
    assert.deepEqual(net.node('2').readStates, []);
    net.dropIf = undefined;
    net.tick('2');
    net.stabilize();
    const rs = net.node('2').readStates;
    assert.equal(rs.length, 1);
    assert.equal(dec(rs[0]!.context), 'r1');
    assert.ok(rs[0]!.index > oldCommit, 'index covers the new term-start entry');
  });

  test('P33 a partitioned leader never answers ReadIndex; the majority side moves on', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.partition(['1'], ['2', '3']);
    net.core('1').readIndex(ctx('stale'));
    for (let i = 0; i < 2 * E; i++) {
      net.tickAll(1);
      const other = ['2', '3'].find((id) => net.core(id).status().role === 'leader');
      if (other !== undefined && !net.appliedData(other).includes('k=2')) {
        net.core(other).propose(enc('k=2'));
        net.stabilize();
      }
    }
    assert.deepEqual(net.node('1').readStates, []);
    assert.notEqual(net.core('1').status().role, 'leader');
  });

  test('P33 a forwarded ReadIndex is confirmed by a heartbeat round and answered to its sender', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.core('1').propose(enc('a'));
    net.stabilize();
    const heartbeats = countHeartbeats(net);
    net.core('3').readIndex(ctx('f'));
    net.stabilize();
    assert.ok(heartbeats.sent >= 2, 'a round was sent after the request arrived');
    const rs = net.node('3').readStates;
    assert.equal(rs.length, 1);
    assert.equal(rs[0]!.index, net.core('1').status().commit);
    assert.equal(dec(rs[0]!.context), 'f');
  });

  test('P34 with lease reads, a forwarded ReadIndex is answered from a valid lease, else by a round', () => {
    const net = new Network({ voters: 3, cfg: { leaseReads: true } });
    net.elect('1');
    net.core('1').propose(enc('a'));
    net.tick('1');
    net.stabilize();
    assert.ok(net.core('1').leaseValid());
    const heartbeats = countHeartbeats(net);
    net.core('3').readIndex(ctx('leased'));
    net.stabilize();
    assert.equal(heartbeats.sent, 0, 'the lease answered without a round');
    assert.deepEqual(
      net.node('3').readStates.map((rs) => [dec(rs.context), rs.index]),
      [['leased', net.core('1').status().commit]],
    );
    // The lease runs out on the leader's clock (no acked round since): a round again.
    net.node('1').clockMs += 2 * E * 100;
    assert.equal(net.core('1').leaseValid(), false);
    net.core('3').readIndex(ctx('round'));
    net.stabilize();
    assert.ok(heartbeats.sent >= 2, 'an expired lease falls back to a heartbeat round');
    assert.equal(dec(net.node('3').readStates.at(-1)!.context), 'round');
  });

  test('P11 learner acks neither keep a leader alive nor confirm reads', () => {
    const net = new Network({ voters: 2, learners: 1 });
    net.elect('1');
    net.partition(['1', '3'], ['2']);
    net.core('1').readIndex(ctx('x'));
    for (let i = 0; i < 2 * E; i++) {
      net.tick('1');
      net.tick('3');
      net.stabilize();
    }
    assert.deepEqual(net.node('1').readStates, []);
    assert.equal(net.core('1').status().role, 'follower');
  });

  test('P42 a single node elects itself, commits alone and answers ReadIndex at once', () => {
    const net = new Network({ voters: 1, cfg: { leaseReads: true } });
    net.tickAll(2 * E);
    assert.equal(net.leader(), '1');
    const idx = net.core('1').propose(enc('solo'));
    net.stabilize();
    assert.equal(net.core('1').status().commit, idx);
    assert.deepEqual(net.appliedData('1'), ['solo']);
    net.core('1').readIndex(ctx('r'));
    net.stabilize();
    assert.equal(net.node('1').readStates[0]?.index, idx);
    net.tickAll(5 * E);
    assert.equal(net.core('1').status().role, 'leader', 'check-quorum never demotes a lone voter');
    assert.equal(net.core('1').leaseRead(), idx);
  });

  test('P34 the lease starts at the send time of the acked round and expires on its own clock', () => {
    const net = new Network({ voters: 3, cfg: { leaseReads: true } });
    net.elect('1');
    assert.throws(
      () => net.core('1').leaseRead(),
      (e) => isSealError(e, 'ErrLeaseExpired'),
    );
    net.tick('1');
    net.stabilize();
    const sentAt = net.node('1').clockMs;
    assert.equal(net.core('1').leaseRead(), net.core('1').status().commit);
    net.partition(['1'], ['2', '3']);
    // No tick: the leader's clock advances (e.g. a stalled event loop) without heartbeats.
    net.node('1').clockMs = sentAt + 900;
    assert.equal(net.core('1').leaseValid(), true);
    net.node('1').clockMs = sentAt + 960;
    assert.equal(net.core('1').leaseValid(), false, 'E·(1−ρ)/(1+ρ) − margin ≈ 930 ms');
  });

  test('P34 a paused, partitioned leader serves no lease read after a new leader commits', () => {
    const net = new Network({ voters: 3, cfg: { leaseReads: true } });
    net.elect('1');
    net.tick('1');
    net.stabilize();
    assert.ok(net.core('1').leaseValid());
    net.partition(['1'], ['2', '3']);
    // n1 is paused (no ticks, no steps) while real time passes for everyone.
    let elapsed = 0;
    while (!['2', '3'].some((id) => net.core(id).status().role === 'leader')) {
      net.tick('2');
      net.tick('3');
      net.stabilize();
      elapsed += 100;
    }
    const other = ['2', '3'].find((id) => net.core(id).status().role === 'leader')!;
    net.core(other).propose(enc('k=new'));
    net.stabilize();
    net.node('1').clockMs += elapsed;
    assert.equal(net.core('1').status().role, 'leader', 'n1 has not noticed anything yet');
    assert.throws(
      () => net.core('1').leaseRead(),
      (e) => isSealError(e, 'ErrLeaseExpired'),
    );
  });

  test('P35 a lease stops when a transfer starts and needs a fresh round after an abort', () => {
    const net = new Network({ voters: 3, cfg: { leaseReads: true } });
    net.elect('1');
    net.tick('1');
    net.stabilize();
    assert.equal(net.core('1').leaseValid(), true);
    net.dropIf = (m) => m.type === 'TimeoutNow';
    net.core('1').transferLeadership('2');
    assert.equal(net.core('1').leaseValid(), false);
    for (let i = 0; i < E; i++) {
      net.tick('1');
      if (i < E - 1) net.stabilize();
    }
    assert.equal(net.core('1').status().leadTransferee, '');
    assert.equal(net.core('1').leaseValid(), false, 'aborted: the old rounds do not count');
    net.stabilize();
    assert.equal(net.core('1').leaseValid(), true, 'a new quorum round restores the lease');
  });
});
