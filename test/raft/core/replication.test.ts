import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Message, makeMessage } from '../../../src/raft/core/messages.ts';
import { Progress } from '../../../src/raft/core/progress.ts';
import { type Entry, EntryType } from '../../../src/raft/core/types.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { enc, Network } from './harness.ts';

const ents = (term: number, lo: number, hi: number): Entry[] => {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push({ term, index: i, type: EntryType.Normal, data: enc(`x${i}`) });
  return out;
};

const app = (prev: number, prevTerm: number, commit: number, entries: Entry[], term = 1): Message =>
  makeMessage({ type: 'App', from: '1', to: '2', term, index: prev, logTerm: prevTerm, commit, entries });

function lastResp(net: Network, id: string): Message {
  const rd = net.readyOnce(id);
  const m = rd?.messages[rd.messages.length - 1];
  assert.ok(m !== undefined);
  return m;
}

describe('replication and flow control', () => {
  test('P12 a stale, shorter append delivered after a longer one truncates nothing', () => {
    const net = new Network({ voters: 3 });
    net.setLog('2', [1, 1, 1, 1], { term: 1, commit: 4 });
    const c = net.core('2');
    c.step(app(4, 1, 4, ents(1, 5, 8)));
    assert.equal(lastResp(net, '2').index, 8);
    c.step(app(4, 1, 4, ents(1, 5, 6)));
    const resp = lastResp(net, '2');
    assert.equal(resp.reject, false);
    assert.equal(resp.index, 6, 'reply prev+len, not lastIndex');
    assert.equal(c.status().lastIndex, 8);
  });

  test('P12 a conflicting entry truncates from the first differing index only', () => {
    const net = new Network({ voters: 3 });
    net.setLog('2', [1, 1, 1, 1, 1], { term: 2, commit: 2 });
    const c = net.core('2');
    c.step(app(2, 1, 2, [...ents(1, 3, 3), ...ents(2, 4, 4)], 2));
    assert.equal(c.status().lastIndex, 4);
    assert.equal(c.raft.log.term(4), 2);
    assert.equal(c.raft.log.term(3), 1);
  });

  test('P13 follower commit never exceeds what the message proved', () => {
    const net = new Network({ voters: 3 });
    net.setLog('2', [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], { term: 2, commit: 5 });
    const c = net.core('2');
    c.step(app(9, 1, 11, [], 2));
    assert.equal(c.status().commit, 9);
    // A heartbeat claiming more than our log holds is clamped, not trusted blindly.
    c.step(makeMessage({ type: 'Heartbeat', from: '1', to: '2', term: 2, commit: 11 }));
    assert.ok(c.status().commit <= 10);
  });

  test('P13 a leader heartbeat carries min(match, commit)', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.cutLink('1', '3');
    net.core('1').propose(enc('a'));
    net.stabilize();
    net.heal();
    net.tick('1');
    const rd = net.core('1').ready();
    const hb3 = rd.messages.find((m) => m.type === 'Heartbeat' && m.to === '3');
    const hb2 = rd.messages.find((m) => m.type === 'Heartbeat' && m.to === '2');
    assert.equal(hb2?.commit, 2);
    assert.equal(hb3?.commit, 1, 'n3 only matched through 1');
    net.core('1').advance(rd);
  });

  test('P14 an append below commit is answered with commit and changes nothing', () => {
    const net = new Network({ voters: 3 });
    net.setLog('2', [1, 1, 1, 1, 1, 1], { term: 1, commit: 6 });
    const c = net.core('2');
    c.step(app(2, 1, 2, ents(1, 3, 3)));
    const r = lastResp(net, '2');
    assert.equal(r.reject, false);
    assert.equal(r.index, 6);
    assert.equal(c.status().lastIndex, 6);
  });

  test('P15 duplicate or reordered rejections cannot rewind next; match never decreases', () => {
    const pr = new Progress(11, 4, 0, false);
    assert.equal(pr.maybeDecrTo(10, 5), true);
    assert.equal(pr.next, 6);
    assert.equal(pr.maybeDecrTo(10, 5), false, 'duplicate of the answered probe');
    assert.equal(pr.maybeDecrTo(9, 2), false, 'does not answer the outstanding probe');
    assert.equal(pr.next, 6);
    pr.maybeUpdate(7);
    pr.becomeReplicate();
    assert.equal(pr.maybeUpdate(3), false);
    assert.equal(pr.match, 7);
    assert.equal(pr.maybeDecrTo(6, 0), false, 'rejection below match is stale');
  });

  test('P16 Figure 7 followers converge in few probes thanks to rejection hints', () => {
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6],
      [1, 1, 1, 4],
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      [1, 1, 1, 4, 4, 4, 4],
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (const f of followers) {
      const net = new Network({ voters: 3 });
      net.setLog('1', leaderLog, { term: 7 });
      net.setLog('2', f, { term: 7 });
      net.setLog('3', leaderLog, { term: 7 });
      let probes = 0;
      const send = net.send.bind(net);
      net.send = (m) => {
        if (m.type === 'App' && m.to === '2') probes++;
        send(m);
      };
      net.elect('1');
      assert.equal(net.leader(), '1');
      const distinct = new Set(f).size;
      assert.ok(probes <= distinct + 2, `follower ${f.join(',')}: ${probes} probes`);
      assert.equal(net.core('2').status().lastIndex, 11);
      assert.equal(net.core('2').raft.log.term(11), 8);
      assert.deepEqual(net.checkCommittedAgreement(), []);
    }
  });

  test('P17 replicate state pipelines at most maxInflight messages and recovers via heartbeat', () => {
    const net = new Network({ voters: 3, cfg: { maxInflightMsgs: 3 } });
    net.elect('1');
    let sentTo3 = 0;
    const send = net.send.bind(net);
    net.send = (m) => {
      if (m.type === 'App' && m.to === '3' && m.entries.length > 0) sentTo3++;
      send(m);
    };
    net.cutLink('1', '3');
    for (let i = 0; i < 10; i++) {
      net.core('1').propose(enc(`p${i}`));
      net.stabilize();
    }
    assert.equal(sentTo3, 3, 'at most 3 outstanding MsgApps');
    const pr3 = net
      .core('1')
      .status()
      .progress.find(([id]) => id === '3')?.[1];
    assert.equal(pr3?.paused, true);
    net.heal();
    net.tick('1');
    net.stabilize();
    assert.equal(net.core('3').status().commit, net.core('1').status().commit);
    assert.equal(net.appliedData('3').length, 10);
  });

  test('P17 a probing follower gets one MsgApp per heartbeat response until it answers', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.core('1').reportUnreachable('3');
    net.dropIf = (m) => m.type === 'App' && m.to === '3';
    let apps = 0;
    const send = net.send.bind(net);
    net.send = (m) => {
      if (m.type === 'App' && m.to === '3') apps++;
      send(m);
    };
    for (let i = 0; i < 5; i++) net.core('1').propose(enc(`p${i}`));
    net.stabilize();
    assert.equal(apps, 1, 'one probe while paused');
    net.tick('1');
    net.stabilize();
    assert.equal(apps, 2, 'the heartbeat response un-paused one more probe');
    net.dropIf = undefined;
    net.tick('1');
    net.stabilize();
    assert.equal(net.appliedData('3').length, 5);
  });

  test('P18 big entries go alone, oversize proposals and an unbounded tail are refused', () => {
    const MiB = 1024 * 1024;
    const net = new Network({
      voters: 3,
      cfg: { maxMsgBytes: MiB, maxProposalBytes: 16 * MiB, maxUncommittedBytes: 4 * MiB },
    });
    net.elect('1');
    net.cutLink('1', '2');
    net.cutLink('1', '3');
    const lead = net.core('1');
    lead.propose(new Uint8Array(3 * MiB));
    assert.throws(
      () => lead.propose(new Uint8Array(80 * MiB)),
      (e) => isSealError(e, 'ErrProposalTooLarge'),
    );
    let dropped = 0;
    for (let i = 0; i < 100; i++) {
      try {
        lead.propose(new Uint8Array(64 * 1024));
      } catch (e) {
        assert.ok(isSealError(e, 'ErrProposalDropped'));
        dropped++;
      }
    }
    assert.ok(dropped > 80, `uncommitted tail bounded (${dropped} dropped)`);
    net.stabilize();
    net.heal();
    const sizes: number[] = [];
    const send = net.send.bind(net);
    net.send = (m) => {
      if (m.type === 'App' && m.to === '2' && m.entries.length > 0) sizes.push(m.entries.length);
      send(m);
    };
    net.tick('1');
    net.stabilize();
    assert.ok(sizes.includes(1));
    assert.equal(net.core('2').status().commit, lead.status().lastIndex);
  });

  test('P24 a Ready that only moves commit does not need a sync', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.core('1').propose(enc('a'));
    net.readyOnce('1');
    net.deliver('2');
    net.readyOnce('2');
    net.deliver('1');
    const rd = net.core('1').ready();
    assert.equal(rd.entries.length, 0);
    assert.equal(rd.hardState?.commit, 2);
    assert.equal(rd.mustSync, false);
    net.core('1').advance(rd);
  });

  test('P44 an appended proposal overwritten after a leader change is never applied', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.isolate('1');
    const idx = net.core('1').propose(enc('lost'));
    net.stabilize();
    for (let i = 0; i < 3 * 10 && net.leader() === '1'; i++) {
      net.tick('2');
      net.tick('3');
      net.stabilize();
    }
    const other = net.ids().find((id) => id !== '1' && net.core(id).status().role === 'leader');
    assert.ok(other !== undefined);
    net.core(other).propose(enc('won'));
    net.stabilize();
    net.heal();
    net.tickAll(2);
    const at = net.node('1').applied.find((e) => e.index === idx);
    assert.ok(at !== undefined);
    assert.notEqual(new TextDecoder().decode(at.data), 'lost');
    assert.ok(!net.appliedData('1').includes('lost'));
    assert.deepEqual(net.checkCommittedAgreement(), []);
  });
});
