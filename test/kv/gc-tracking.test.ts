import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DirtyKeys, ReadPins } from '../../src/kv/gc-tracking.ts';

const b = (s: string) => new TextEncoder().encode(s);
const names = (ds: { key: Uint8Array }[]) => ds.map((d) => new TextDecoder().decode(d.key));

test('dirty keys come back oldest first write first, once each, up to a timestamp', () => {
  const d = new DirtyKeys(10);
  d.note(b('a'), 1n);
  d.note(b('b'), 2n);
  d.note(b('a'), 3n); // already dirty since ts 1
  d.note(b('c'), 4n);
  assert.equal(d.size, 3);
  assert.deepEqual(names(d.takeUpTo(2n, 10)), ['a', 'b']);
  assert.deepEqual(names(d.takeUpTo(2n, 10)), []);
  d.note(b('a'), 5n); // dirty again after its visit
  assert.deepEqual(names(d.takeUpTo(10n, 1)), ['c']);
  assert.deepEqual(names(d.takeUpTo(10n, 10)), ['a']);
  assert.equal(d.takeOverflow(), false);
});

test('the tracker keeps its own copy of a key', () => {
  const d = new DirtyKeys(10);
  const key = b('k');
  d.note(key, 1n);
  key[0] = 0x7a;
  assert.deepEqual(names(d.takeUpTo(1n, 10)), ['k']);
});

test('past its bound the tracker forgets everything and reports an overflow once', () => {
  const d = new DirtyKeys(2);
  d.note(b('a'), 1n);
  d.note(b('b'), 2n);
  d.note(b('c'), 3n);
  assert.equal(d.size, 0);
  d.note(b('d'), 4n); // ignored until the overflow is taken
  assert.equal(d.size, 0);
  assert.equal(d.takeOverflow(), true);
  assert.equal(d.takeOverflow(), false);
  d.note(b('e'), 5n);
  assert.deepEqual(names(d.takeUpTo(9n, 10)), ['e']);
});

test('read pins report the oldest pinned timestamp until released', () => {
  const pins = new ReadPins();
  assert.equal(pins.oldest(), undefined);
  const r5 = pins.pin(5n);
  const r3 = pins.pin(3n);
  const r9 = pins.pin(9n);
  assert.equal(pins.oldest(), 3n);
  r3();
  r3();
  assert.equal(pins.oldest(), 5n);
  r5();
  r9();
  assert.equal(pins.oldest(), undefined);
});
