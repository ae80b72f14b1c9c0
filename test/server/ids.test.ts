import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomIdSource } from '../../src/server/ids.ts';

test('pooled ids stay distinct across pool refills', () => {
  const next = randomIdSource(4);
  const seen = new Set<bigint>();
  for (let i = 0; i < 1000; i++) seen.add(next());
  assert.equal(seen.size, 1000);
});

test('ids are 64-bit unsigned and use the high bits', () => {
  const next = randomIdSource(8);
  let high = false;
  for (let i = 0; i < 64; i++) {
    const id = next();
    assert.ok(id >= 0n && id < 1n << 64n);
    if (id >= 1n << 63n) high = true;
  }
  assert.ok(high, 'some ids should have the top bit set');
});
