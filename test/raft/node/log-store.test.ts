import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Entry, EntryType } from '../../../src/raft/core/types.ts';
import { LogStore } from '../../../src/raft/log-store.ts';

const conf = { voters: ['1', '2', '3'], learners: [] };
const hs = { term: 0, vote: '', commit: 0 };

function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++)
    out.push({ index: i, term, type: EntryType.Normal, data: new Uint8Array([i & 0xff]) });
  return out;
}

describe('LogStore', () => {
  test('indexKeepingBytes bounds the kept tail by payload bytes', () => {
    const big = (i: number): Entry => ({
      index: i,
      term: 1,
      type: EntryType.Normal,
      data: new Uint8Array(100),
    });
    const s = new LogStore({
      hardState: hs,
      bootstrap: conf,
      snapshot: undefined,
      entries: Array.from({ length: 50 }, (_, k) => big(k + 1)),
    });
    // Entries 41..50 hold 1000 bytes; one more would exceed 1000.
    assert.equal(s.indexKeepingBytes(50, 1000), 40);
    assert.equal(s.indexKeepingBytes(30, 250), 28);
    assert.equal(s.indexKeepingBytes(50, 1_000_000), 0, 'everything fits: nothing to drop');
    assert.equal(s.indexKeepingBytes(50, 0), 50);
  });

  test('empty store: first 1, last 0, term(0) = 0, bootstrap conf', () => {
    const s = new LogStore({ hardState: hs, bootstrap: conf, snapshot: undefined, entries: [] });
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.equal(s.term(0), 0);
    assert.equal(s.term(1), undefined);
    assert.deepEqual(s.initialState().confState, conf);
  });

  test('append, truncate a conflicting suffix, byte-capped reads keep at least one entry', () => {
    const s = new LogStore({ hardState: hs, bootstrap: conf, snapshot: undefined, entries: ents(1, 10, 1) });
    s.append(ents(6, 8, 2));
    assert.equal(s.lastIndex(), 8);
    assert.equal(s.term(5), 1);
    assert.equal(s.term(6), 2);
    assert.equal(s.size.entries, 8);
    assert.equal(s.size.bytes, 8);
    assert.equal(s.entries(1, 9, 0).length, 1);
    assert.equal(s.entries(1, 9, Number.POSITIVE_INFINITY).length, 8);
    assert.throws(() => s.append(ents(10, 10, 2)), /gap/);
  });

  test('recovered snapshot sets first index and conf; compaction trims memory but keeps the boundary term', () => {
    const snapConf = { voters: ['1', '2'], learners: ['4'] };
    const snap = { meta: { index: 100, term: 3, conf: snapConf }, data: new Uint8Array([1]) };
    const s = new LogStore({ hardState: hs, bootstrap: conf, snapshot: snap, entries: ents(101, 300, 3) });
    assert.equal(s.firstIndex(), 101);
    assert.equal(s.term(100), 3);
    assert.deepEqual(s.initialState().confState, snapConf);
    const local = { meta: { index: 250, term: 3, conf: snapConf }, data: new Uint8Array([2]) };
    s.setSnapshot(local);
    s.compact(240);
    assert.equal(s.firstIndex(), 241);
    assert.equal(s.term(240), 3);
    assert.equal(s.size.entries, 60);
    // Never past the snapshot.
    s.compact(1000);
    assert.equal(s.firstIndex(), 251);
    assert.equal(s.lastIndex(), 300);
    assert.equal(s.snapshot(), local);
  });

  test('an installed snapshot replaces the whole log', () => {
    const s = new LogStore({ hardState: hs, bootstrap: conf, snapshot: undefined, entries: ents(1, 50, 1) });
    const snap = { meta: { index: 80, term: 4, conf }, data: new Uint8Array() };
    s.installSnapshot(snap);
    assert.equal(s.firstIndex(), 81);
    assert.equal(s.lastIndex(), 80);
    assert.equal(s.term(80), 4);
    assert.equal(s.size.bytes, 0);
    s.append(ents(81, 82, 4));
    assert.equal(s.lastIndex(), 82);
  });
});
