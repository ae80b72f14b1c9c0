import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  formatLongDouble,
  incrByFloatText,
  parseLongDouble,
} from '../../../src/redis/commands/longdouble.ts';

test('long double sums print like redis-server (x87 rounding, %.17Lf)', () => {
  assert.equal(incrByFloatText('10.5', '0.1'), '10.6');
  assert.equal(incrByFloatText('10.6', '-5e3'), '-4989.39999999999999991');
  assert.equal(incrByFloatText('0', '3.0e3'), '3000');
  assert.equal(incrByFloatText('-1', '1'), '0');
  assert.equal(incrByFloatText('abc', '1'), undefined);
});

test('integers below 2^64 are exact', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n }), (n) => {
      const x = parseLongDouble(n.toString());
      assert.ok(x);
      assert.equal(formatLongDouble(x), n.toString());
    }),
  );
});
