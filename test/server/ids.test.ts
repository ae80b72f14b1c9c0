import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionIdSource } from '../../src/server/ids.ts';

test('a session hands out consecutive ids under its prefix, never 0', () => {
  const prefixes = [0, 7];
  const next = sessionIdSource(() => prefixes.shift() ?? 9);
  const ids = Array.from({ length: 1000 }, () => next());
  assert.equal(ids[0], 7n << 32n, 'a zero prefix is drawn again');
  for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1]! + 1n);
  assert.ok(ids.every((id) => id !== 0n && id < 1n << 64n));
});

test('two sources draw independent random prefixes', () => {
  const a = sessionIdSource()();
  const b = sessionIdSource()();
  assert.notEqual(a >> 32n, b >> 32n);
});
