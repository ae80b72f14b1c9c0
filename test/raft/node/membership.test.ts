import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConfState } from '../../../src/raft/core/types.ts';
import { MembershipHistory } from '../../../src/raft/node/membership.ts';

const conf = (...voters: string[]): ConfState => ({ voters, learners: [] });

describe('MembershipHistory', () => {
  test('a snapshot index between conf changes gets the membership in force there', () => {
    const h = new MembershipHistory(10, conf('a', 'b', 'c'));
    h.applied(15, conf('a', 'b', 'c', 'd'));
    h.applied(20, conf('a', 'b', 'd'));
    assert.deepEqual(h.at(10), conf('a', 'b', 'c'));
    assert.deepEqual(h.at(14), conf('a', 'b', 'c'));
    assert.deepEqual(h.at(15), conf('a', 'b', 'c', 'd'));
    assert.deepEqual(h.at(19), conf('a', 'b', 'c', 'd'));
    assert.deepEqual(h.at(99), conf('a', 'b', 'd'));
  });

  test('trimming to a snapshot keeps what it recorded and every later change', () => {
    const h = new MembershipHistory(0, conf('a'));
    h.applied(5, conf('a', 'b'));
    h.applied(9, conf('a', 'b', 'c'));
    h.trimTo(7);
    assert.deepEqual(h.at(7), conf('a', 'b'));
    assert.deepEqual(h.at(9), conf('a', 'b', 'c'));
    // Below the trim point only the snapshot's membership is known.
    assert.deepEqual(h.at(3), conf('a', 'b'));
  });

  test('stays one record long when only snapshots follow each other', () => {
    const h = new MembershipHistory(0, conf('a'));
    for (let i = 1; i <= 1000; i++) h.trimTo(i * 10);
    assert.equal(h.size, 1);
    h.applied(10_005, conf('a', 'b'));
    assert.equal(h.size, 2);
    h.trimTo(10_010);
    assert.equal(h.size, 1);
    assert.deepEqual(h.at(10_010), conf('a', 'b'));
    h.reset(20_000, conf('x'));
    assert.equal(h.size, 1);
    assert.deepEqual(h.at(20_000), conf('x'));
  });
});
