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

test('a key to revisit is due at the next pass, ahead of the others and whatever its age', () => {
  const d = new DirtyKeys(10);
  d.note(b('a'), 1n);
  d.revisit(b('h'), 50n);
  d.note(b('h'), 60n); // written again: already to be revisited
  assert.equal(d.size, 2);
  assert.deepEqual(names(d.takeUpTo(100n, 10)), ['a'], 'not due before the pass starts');
  d.beginPass();
  d.revisit(b('x'), 70n); // left by this pass: due at the next one
  assert.deepEqual(names(d.takeUpTo(0n, 10)), ['h']);
  assert.deepEqual(names(d.takeUpTo(0n, 10)), []);
  d.note(b('y'), 80n);
  d.revisit(b('y'), 80n); // visited after all: no longer tracked as a first write
  assert.deepEqual(names(d.takeUpTo(100n, 10)), []);
  d.beginPass();
  assert.deepEqual(names(d.takeUpTo(0n, 10)).sort(), ['x', 'y']);
});

test('keys to revisit count against the bound', () => {
  const d = new DirtyKeys(2);
  d.revisit(b('a'), 1n);
  d.note(b('b'), 2n);
  d.revisit(b('c'), 3n);
  assert.equal(d.size, 0);
  assert.equal(d.takeOverflow(), true);
  d.beginPass();
  assert.deepEqual(names(d.takeUpTo(9n, 10)), []);
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
