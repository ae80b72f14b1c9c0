import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { drawRate, NodeClock } from '../../sim/clock.ts';
import { Prng } from '../../sim/prng.ts';
import { EventQueue, Scheduler } from '../../sim/queue.ts';

describe('event queue', () => {
  test('pops in (time, seq) order for any insertion order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const q = new EventQueue<number>();
        times.forEach((t, i) => {
          q.push(t, i);
        });
        const popped: [number, number][] = [];
        for (let e = q.pop(); e !== undefined; e = q.pop()) popped.push([e.timeMs, e.item]);
        const expected = times
          .map((t, i): [number, number] => [t, i])
          .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        assert.deepEqual(popped, expected);
      }),
      { numRuns: 200 },
    );
  });

  test('rejects non-finite times', () => {
    assert.throws(() => new EventQueue<number>().push(Number.NaN, 1), RangeError);
  });
});

describe('scheduler', () => {
  test('runs events in time order, advances time, counts events, bounds by time and count', () => {
    const s = new Scheduler();
    const log: string[] = [];
    s.at(5, 'b', () => log.push(`b@${s.nowMs}`));
    s.at(1, 'a', () => {
      log.push(`a@${s.nowMs}`);
      s.after(1, 'c', () => log.push(`c@${s.nowMs}`));
    });
    s.at(9, 'd', () => log.push('d'));
    s.run(6);
    assert.deepEqual(log, ['a@1', 'c@2', 'b@5']);
    assert.equal(s.eventCount, 3);
    assert.throws(() => s.at(1, 'past', () => {}), RangeError);
    s.run(100, 3);
    assert.equal(log.length, 3);
    s.run(100);
    assert.deepEqual(log, ['a@1', 'c@2', 'b@5', 'd']);
  });
});

describe('node clock', () => {
  test('monotonic reading follows start + rate * elapsed virtual time, and restarts', () => {
    const vt = { nowMs: 100 };
    const c = new NodeClock(vt, 1.001, 5000);
    assert.equal(c.nowMs(), 5000);
    vt.nowMs = 1100;
    assert.equal(c.nowMs(), 5000 + 1.001 * 1000);
    assert.ok(Math.abs(c.virtualDelayMs(1001) - 1000) < 1e-9);
    c.restart(0);
    vt.nowMs = 1200;
    assert.ok(Math.abs(c.nowMs() - 100.1) < 1e-9);
    assert.throws(() => new NodeClock(vt, 0), RangeError);
  });

  test('drawn rates stay within rho', () => {
    const p = new Prng(3);
    for (let i = 0; i < 500; i++) {
      const r = drawRate(p, 500);
      assert.ok(r >= 1 - 500e-6 && r <= 1 + 500e-6);
    }
  });
});
