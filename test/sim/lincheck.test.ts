import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dropUnobservedPending } from '../../sim/lincheck/grounded.ts';
import {
  checkKvHistory,
  formatCounterexample,
  type KvInput,
  registerModel,
} from '../../sim/lincheck/index.ts';
import { append, cas, get, multi, put, read, rec } from './lincheck-helpers.ts';

const verdict = (h: Parameters<typeof checkKvHistory>[0]) => checkKvHistory(h).verdict;

describe('lincheck: registers', () => {
  test('sequential put then get is linearizable', () => {
    assert.equal(verdict([rec(1, 0, 10, put('k', '1'), 'ok'), rec(2, 20, 30, get('k'), '1')]), 'ok');
    assert.equal(verdict([rec(1, 0, 10, get('k'), null)]), 'ok');
  });

  test('stale read after a newer write completed is illegal, with a counterexample', () => {
    const h = [
      rec(1, 0, 10, put('k', '1'), 'ok'),
      rec(1, 20, 30, put('k', '2'), 'ok'),
      rec(2, 40, 50, get('k'), '1'),
    ];
    const unshrunk = checkKvHistory(h, { shrink: { maxChecks: 0 } });
    assert.equal(unshrunk.verdict, 'illegal');
    const cx = unshrunk.partitions[0]!.counterexample!;
    assert.equal(cx.key, 'k');
    assert.deepEqual(
      cx.prefix.map((o) => o.input.f),
      ['put', 'put'],
    );
    assert.equal(cx.stateAtEnd, '2');
    assert.deepEqual(
      cx.blocked.map((o) => o.input.f),
      ['get'],
    );
    const text = formatCounterexample(unshrunk.modelOf('k'), cx);
    assert.match(text, /key=k/);
    assert.match(text, /c1 \|-+put k 1-+\| +\|-+put k 2-+\|/);
    assert.match(text, /c2 +\|-+get k → 1-+\|/);
    // Shrinking keeps the writes the stale read depends on (a read of a value nobody wrote
    // would be illegal but useless), so this history is already minimal.
    const shrunk = checkKvHistory(h).partitions[0]!.counterexample!;
    assert.deepEqual(
      shrunk.ops.map((o) => o.input.f),
      ['put', 'put', 'get'],
    );
    assert.equal(shrunk.stateAtEnd, '2');
  });

  test('lost write: a completed put is not seen by a later read', () => {
    assert.equal(verdict([rec(1, 0, 10, put('k', '1'), 'ok'), rec(2, 20, 30, get('k'), null)]), 'illegal');
  });

  test('read-your-writes violation on one client', () => {
    assert.equal(
      verdict([
        rec(1, 2, 10, put('k', '5'), 'ok'),
        rec(1, 10.5, 20, get('k'), '4'),
        rec(2, 0, 1, put('k', '4'), 'ok'),
      ]),
      'illegal',
    );
  });

  test('concurrent overlapping ops may linearize in either order', () => {
    const h = [
      rec(1, 0, 100, put('k', '1'), 'ok'),
      rec(2, 10, 20, get('k'), '1'),
      rec(3, 5, 15, get('k'), null),
    ];
    assert.equal(verdict(h), 'ok');
    // ...but once a read returned the new value, a later read may not see the old one.
    assert.equal(verdict([...h, rec(3, 30, 40, get('k'), null)]), 'illegal');
  });

  test('ops that touch at the same instant count as concurrent', () => {
    assert.equal(verdict([rec(1, 0, 10, put('k', '1'), 'ok'), rec(2, 10, 20, get('k'), null)]), 'ok');
  });

  test('a pending write may or may not have happened, but not both', () => {
    const base = [rec(1, 0, 10, put('k', '1'), 'ok'), rec(2, 20, 25, put('k', '2'), undefined, 'unknown')];
    assert.equal(verdict([...base, rec(3, 30, 40, get('k'), '2')]), 'ok');
    assert.equal(verdict([...base, rec(3, 30, 40, get('k'), '1')]), 'ok');
    assert.equal(verdict([...base, rec(3, 30, 40, get('k'), '2'), rec(3, 50, 60, get('k'), '1')]), 'illegal');
    assert.equal(verdict([...base, rec(3, 30, 40, get('k'), '1'), rec(3, 500, 600, get('k'), '2')]), 'ok');
  });

  test('an op that definitely failed is removed; pending reads are dropped', () => {
    const h = [rec(1, 0, 10, put('k', '3'), undefined, 'failed'), rec(2, 20, 30, get('k'), '3')];
    assert.equal(verdict(h), 'illegal');
    const r = checkKvHistory([
      rec(1, 0, 10, get('k'), undefined, 'unknown'),
      rec(2, 0, 5, put('k', '1'), 'ok'),
    ]);
    assert.equal(r.verdict, 'ok');
    assert.equal(r.partitions[0]!.counterexample, undefined);
  });

  test('cas succeeds only on a match; a pending cas may take effect', () => {
    const h = [rec(1, 0, 10, put('k', 'a'), 'ok'), rec(1, 20, 30, cas('k', 'a', 'b'), true)];
    assert.equal(verdict([...h, rec(2, 40, 50, get('k'), 'b')]), 'ok');
    assert.equal(verdict([...h, rec(2, 40, 50, cas('k', 'b', 'c'), false)]), 'illegal');
    assert.equal(verdict([...h, rec(2, 40, 50, cas('k', 'x', 'c'), true)]), 'illegal');
    const pend = [
      rec(1, 0, 10, put('k', 'a'), 'ok'),
      rec(2, 20, 30, cas('k', 'a', 'z'), undefined, 'unknown'),
    ];
    assert.equal(verdict([...pend, rec(3, 40, 50, get('k'), 'z')]), 'ok');
    assert.equal(verdict([...pend, rec(3, 40, 50, get('k'), 'a')]), 'ok');
  });

  test('keys are checked independently', () => {
    const r = checkKvHistory([
      rec(1, 0, 10, put('a', '1'), 'ok'),
      rec(2, 0, 10, put('b', '1'), 'ok'),
      rec(3, 20, 30, get('b'), null),
    ]);
    assert.equal(r.verdict, 'illegal');
    assert.deepEqual(
      r.partitions.map((p) => `${p.key}:${p.verdict}`),
      ['a:ok', 'b:illegal'],
    );
  });
});

describe('lincheck: list-append and multi', () => {
  test('list reads must show appends in one order, containing all completed ones', () => {
    const seq = [rec(1, 0, 10, append('l', 'x'), 'ok'), rec(1, 20, 30, append('l', 'y'), 'ok')];
    assert.equal(verdict([...seq, rec(2, 40, 50, read('l'), ['x', 'y'])]), 'ok');
    assert.equal(verdict([...seq, rec(2, 40, 50, read('l'), ['y', 'x'])]), 'illegal');
    assert.equal(verdict([...seq, rec(2, 40, 50, read('l'), ['x'])]), 'illegal');
    const conc = [rec(1, 0, 10, append('l', 'x'), 'ok'), rec(2, 0, 10, append('l', 'y'), 'ok')];
    assert.equal(verdict([...conc, rec(3, 20, 30, read('l'), ['y', 'x'])]), 'ok');
    assert.equal(
      verdict([...conc, rec(3, 20, 30, read('l'), ['y', 'x']), rec(4, 20, 30, read('l'), ['x', 'y'])]),
      'illegal',
    );
  });

  test('multi is atomic across keys: no torn reads', () => {
    const w = rec(1, 0, 100, multi(put('a', '1'), put('b', '1')), ['ok', 'ok']);
    assert.equal(verdict([w, rec(2, 10, 20, multi(get('a'), get('b')), ['1', '1'])]), 'ok');
    assert.equal(verdict([w, rec(2, 10, 20, multi(get('a'), get('b')), [null, null])]), 'ok');
    const torn = checkKvHistory([w, rec(2, 10, 20, multi(get('a'), get('b')), ['1', null])]);
    assert.equal(torn.verdict, 'illegal');
    assert.equal(torn.partitions[0]!.key, '*');
  });

  test('a pending multi is dropped only when none of its writes could have been observed', () => {
    const pending = (id: number, input: KvInput) => ({
      id,
      client: id,
      key: '*',
      input,
      call: 0,
      ret: Number.POSITIVE_INFINITY,
      output: undefined,
    });
    const seen = { id: 9, client: 9, key: '*', input: get('a'), call: 5, ret: 6, output: '2' };
    const kept = dropUnobservedPending([
      pending(1, multi(get('b'), put('a', '1'))),
      pending(2, multi(get('a'), put('b', '3'), put('a', '2'))),
      seen,
    ]);
    assert.deepEqual(
      kept.map((o) => o.id),
      [2, 9],
    );
    const h = [
      rec(1, 0, 10, put('a', '0'), 'ok'),
      rec(2, 5, 0, multi(get('a'), put('a', '1'), put('b', '1')), undefined, 'unknown'),
      rec(3, 20, 30, multi(get('a'), get('b')), ['1', '1']),
    ];
    assert.equal(verdict(h), 'ok');
    assert.equal(verdict([...h, rec(4, 40, 50, get('b'), null)]), 'illegal');
  });

  test('single-key ops join the whole-map check when multi is present', () => {
    const h = [
      rec(1, 0, 10, multi(put('a', '1'), append('l', 'x')), ['ok', 'ok']),
      rec(2, 20, 30, get('a'), '1'),
      rec(3, 20, 30, read('l'), []),
    ];
    assert.equal(verdict(h), 'illegal');
    assert.equal(verdict(h.slice(0, 2)), 'ok');
  });
});

describe('lincheck: caps and counterexamples', () => {
  test('hitting a cap gives unknown, never ok', () => {
    const h = [
      rec(1, 0, 10, put('k', '1'), 'ok'),
      rec(2, 0, 10, get('k'), '1'),
      rec(3, 0, 10, get('k'), null),
    ];
    const bySteps = checkKvHistory(h, { caps: { maxOps: 100, maxSteps: 2 } });
    assert.equal(bySteps.verdict, 'unknown');
    assert.match(bySteps.partitions[0]!.reason!, /steps/);
    const byOps = checkKvHistory(h, { caps: { maxOps: 2, maxSteps: 1000 } });
    assert.equal(byOps.verdict, 'unknown');
  });

  test('an injected clock caps a long search at unknown', () => {
    // Seven concurrent appends inside MULTI (the whole-map model keeps every order) and a
    // read no order can produce: the search must try them all.
    const h = Array.from({ length: 7 }, (_, i) => rec(i + 1, 0, 100, multi(append('l', `x${i}`)), ['ok']));
    h.push(rec(9, 200, 210, multi(read('l')), [['nope']]));
    let nowMs = 0;
    const clockMs = () => (nowMs += 1);
    const capped = checkKvHistory(h, { caps: { maxOps: 100, maxSteps: 1e9, clockMs, maxMs: 3 } });
    assert.equal(capped.verdict, 'unknown');
    assert.match(capped.partitions[0]!.reason!, /time/);
    assert.equal(checkKvHistory(h, { shrink: { maxChecks: 0 } }).verdict, 'illegal');
  });

  test('shrinking drops ops that do not matter, keeping the violation', () => {
    const h = [];
    for (let i = 0; i < 20; i++) {
      h.push(rec(1, i * 10, i * 10 + 5, put('k', `v${i}`), 'ok'));
      h.push(rec(2, i * 10 + 6, i * 10 + 9, get('k'), `v${i}`));
    }
    h.push(rec(3, 300, 310, get('k'), 'v3'));
    const r = checkKvHistory(h);
    assert.equal(r.verdict, 'illegal');
    const cx = r.partitions[0]!.counterexample!;
    assert.ok(cx.ops.length <= 3, `shrunk to ${cx.ops.length} ops`);
    assert.ok(cx.ops.some((o) => o.client === 3));
    assert.equal(checkKvHistory([]).verdict, 'ok');
    assert.equal(registerModel.describeState(null), 'nil');
  });

  test('timelines mark pending ops as open-ended', () => {
    const r = checkKvHistory([
      rec(1, 0, 10, put('k', '1'), 'ok'),
      rec(2, 5, 6, put('k', '9'), undefined, 'unknown'),
      rec(3, 20, 30, get('k'), '1'),
      rec(3, 40, 50, get('k'), '2'),
    ]);
    assert.equal(r.verdict, 'illegal');
    const t = r.partitions[0]!.counterexample!.timelines;
    assert.match(t, /#\d+ c3 \[40, 50\] get k → 2/);
  });
});
