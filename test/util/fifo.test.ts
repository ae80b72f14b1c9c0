import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Fifo } from '../../src/util/fifo.ts';

type Op = { push: number } | { take: number } | { clear: true };

describe('Fifo', () => {
  test('front-first order across takes, clear and reuse', () => {
    const q = new Fifo<string>();
    for (const s of ['a', 'b', 'c', 'd']) q.push(s);
    assert.equal(q.length, 4);
    assert.equal(q.at(0), 'a');
    assert.equal(q.at(3), 'd');
    assert.equal(q.at(4), undefined);
    assert.equal(q.at(-1), undefined);
    assert.deepEqual(q.take(1), ['a']);
    assert.deepEqual(q.take(2), ['b', 'c']);
    q.push('e');
    assert.deepEqual(q.take(10), ['d', 'e']);
    assert.equal(q.length, 0);
    assert.deepEqual(q.take(1), []);
    q.push('f');
    q.push('g');
    assert.deepEqual(q.clear(), ['f', 'g']);
    assert.equal(q.length, 0);
  });

  test('compacts a long-lived queue without losing or reordering items', () => {
    const q = new Fifo<number>();
    let next = 0;
    let expect = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) q.push(next++);
      for (const v of q.take(250)) assert.equal(v, expect++);
    }
    assert.equal(q.length, next - expect);
    assert.equal(q.at(0), expect);
  });

  test('behaves like an array drained with splice (property)', () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer() }),
      fc.record({ take: fc.integer({ min: -2, max: 1500 }) }),
      fc.constant({ clear: true as const }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 400 }),
        fc.array(fc.integer(), { maxLength: 3000 }),
        (ops: Op[], bulk) => {
          const q = new Fifo<number>();
          const model: number[] = [];
          for (const v of bulk) {
            q.push(v);
            model.push(v);
          }
          for (const o of ops) {
            if ('push' in o) {
              q.push(o.push);
              model.push(o.push);
            } else if ('take' in o) {
              assert.deepEqual(q.take(o.take), model.splice(0, Math.max(0, o.take)));
            } else assert.deepEqual(q.clear(), model.splice(0));
            assert.equal(q.length, model.length);
            assert.equal(q.at(0), model[0]);
            assert.equal(q.at(model.length - 1), model[model.length - 1]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
