import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RaftCore } from '../../../src/raft/core/core.ts';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.ts';
import { messageSize } from '../../../src/raft/core/messages.ts';
import { EntryType } from '../../../src/raft/core/types.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { enc, Network, seededRand } from './harness.ts';

const conf = { voters: ['1', '2', '3'], learners: [] };

describe('the Ready contract and restart', () => {
  test('ready() must be advanced before the next ready()', () => {
    const net = new Network({ voters: 3 });
    const c = net.core('1');
    c.campaign();
    const rd = c.ready();
    assert.throws(
      () => c.ready(),
      (e) => isSealError(e, 'ErrAssertion'),
    );
    c.advance(rd);
    assert.equal(c.hasReady(), false);
  });

  test('P23 a single node applies an entry only in the Ready that also persists it', () => {
    const net = new Network({ voters: 1 });
    net.elect('1');
    const c = net.core('1');
    const idx = c.propose(enc('x'));
    const rd = c.ready();
    assert.deepEqual(
      rd.entries.map((e) => e.index),
      [idx],
    );
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [idx],
    );
    assert.equal(rd.mustSync, true);
    c.advance(rd);
  });

  test('P21 a hard state commit beyond the recovered log refuses to start', () => {
    const st = new MemoryStorage(conf);
    st.append([{ term: 1, index: 1, type: EntryType.Normal, data: enc('a') }]);
    st.hardState = { term: 1, vote: '1', commit: 5 };
    assert.throws(
      () => new RaftCore({ id: '1', storage: st, rand: seededRand(1) }),
      (e) => isSealError(e, 'ErrWalCorrupt'),
    );
  });

  test('P22 commit restarts at max(hard state commit, applied)', () => {
    const st = new MemoryStorage(conf);
    st.append([1, 2, 3].map((i) => ({ term: 1, index: i, type: EntryType.Normal, data: enc(`e${i}`) })));
    st.hardState = { term: 1, vote: '1', commit: 1 };
    const c = new RaftCore({ id: '1', storage: st, rand: seededRand(1), applied: 3 });
    assert.equal(c.status().commit, 3);
    assert.equal(c.status().applied, 3);
    assert.equal(c.hasReady(), false, 'nothing is applied twice');
  });

  test('P25 a restarted follower keeps its durable vote and term', () => {
    const net = new Network({ voters: 3 });
    net.elect('1');
    net.core('1').propose(enc('a'));
    net.stabilize();
    net.crash('2');
    net.restart('2');
    const st = net.core('2').status();
    assert.equal(st.term, 1);
    assert.equal(st.vote, '1');
    assert.equal(st.lastIndex, 2);
    net.tickAll(3);
    assert.equal(net.leader(), '1');
    assert.equal(net.core('2').status().commit, 2);
  });

  test('messageSize grows with entries, context and snapshot payloads', () => {
    const base = messageSize({
      type: 'App',
      from: '1',
      to: '2',
      term: 1,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
      round: 0,
      transfer: false,
      noAck: false,
    });
    const withEnt = messageSize({
      type: 'App',
      from: '1',
      to: '2',
      term: 1,
      logTerm: 0,
      index: 0,
      entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(1000) }],
      commit: 0,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
      round: 0,
      transfer: false,
      noAck: false,
    });
    assert.ok(withEnt >= base + 1000);
  });

  test('invalid configurations are refused', () => {
    const st = new MemoryStorage(conf);
    const bad = (extra: object) => () =>
      new RaftCore({ id: '1', storage: st, rand: seededRand(1), ...extra });
    assert.throws(bad({ leaseReads: true, checkQuorum: false }), (e) => isSealError(e, 'ErrInvalidArgument'));
    assert.throws(bad({ electionTicks: 1, heartbeatTicks: 1 }), (e) => isSealError(e, 'ErrInvalidArgument'));
    assert.throws(bad({ id: '' }), (e) => isSealError(e, 'ErrInvalidArgument'));
  });
});
