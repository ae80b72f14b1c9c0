import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeMessage } from '../../../src/raft/core/messages.ts';
import { type Entry, EntryType } from '../../../src/raft/core/types.ts';
import { coalesceAppends } from '../../../src/raft/node/coalesce.ts';

const ent = (index: number, term = 2): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array(10),
});
const app = (to: string, prev: number, prevTerm: number, idx: number[], commit = 0) =>
  makeMessage({
    type: 'App',
    from: '1',
    to,
    term: 2,
    index: prev,
    logTerm: prevTerm,
    entries: idx.map((i) => ent(i)),
    commit,
  });

describe('coalesceAppends', () => {
  test('merges continuing appends per peer, keeps per-peer order, never mutates its input', () => {
    const a1 = app('2', 4, 1, [5]);
    const msgs = [
      a1,
      app('3', 4, 1, [5]),
      app('2', 5, 2, [6], 5),
      app('3', 5, 2, [6]),
      app('2', 6, 2, [7], 6),
    ];
    const out = coalesceAppends(msgs, 1 << 20);
    assert.equal(out.length, 2);
    assert.deepEqual(
      out[0]!.entries.map((e) => e.index),
      [5, 6, 7],
    );
    assert.equal(out[0]!.commit, 6);
    assert.equal(out[0]!.index, 4);
    assert.deepEqual(
      out[1]!.entries.map((e) => e.index),
      [5, 6],
    );
    assert.equal(a1.entries.length, 1, 'input message untouched');
  });

  test('a commit-only append merged with entries is acked; two commit-only ones are not', () => {
    const commitOnly = (prev: number, commit: number) => ({ ...app('2', prev, 2, [], commit), noAck: true });
    const [withEntries] = coalesceAppends([commitOnly(5, 5), app('2', 5, 2, [6], 5)], 1 << 20);
    assert.deepEqual(
      withEntries!.entries.map((e) => e.index),
      [6],
    );
    assert.equal(withEntries!.noAck, false, 'the entries must be acked');
    const [entriesFirst] = coalesceAppends([app('2', 5, 2, [6], 5), commitOnly(6, 6)], 1 << 20);
    assert.equal(entriesFirst!.noAck, false);
    assert.equal(entriesFirst!.commit, 6);
    const [both] = coalesceAppends([commitOnly(6, 5), commitOnly(6, 6)], 1 << 20);
    assert.equal(both!.noAck, true);
  });

  test('does not merge across another message to the same peer, a gap, a term change or the byte cap', () => {
    const hb = makeMessage({ type: 'Heartbeat', from: '1', to: '2', term: 2 });
    assert.equal(coalesceAppends([app('2', 4, 1, [5]), hb, app('2', 5, 2, [6])], 1 << 20).length, 3);
    assert.equal(coalesceAppends([app('2', 4, 1, [5]), app('2', 6, 2, [7])], 1 << 20).length, 2);
    assert.equal(coalesceAppends([app('2', 4, 1, [5]), app('2', 5, 1, [6])], 1 << 20).length, 2);
    const three = [app('2', 4, 1, [5]), app('2', 5, 2, [6]), app('2', 6, 2, [7])];
    const capped = coalesceAppends(three, 250);
    assert.ok(capped.length >= 2);
    assert.deepEqual(
      capped.flatMap((m) => m.entries.map((e) => e.index)),
      [5, 6, 7],
    );
  });
});
