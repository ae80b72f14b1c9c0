import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashLabel, Prng, splitmix32, streamFor } from '../../sim/prng.ts';

describe('prng', () => {
  test('xoshiro128** matches the reference algorithm from state {1,2,3,4}', () => {
    const p = Prng.fromState(1, 2, 3, 4);
    const out = Array.from({ length: 6 }, () => p.uint32());
    assert.deepEqual(out, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  test('pinned known answers for seeding (splitmix32, FNV-1a labels, seeded streams)', () => {
    assert.deepEqual(splitmix32(0), [1684164658, -1640531527]);
    assert.equal(hashLabel(''), 0x811c9dc5);
    assert.equal(hashLabel('a'), 0xe40c292c);
    const p = new Prng(0);
    assert.deepEqual(
      [p.uint32(), p.uint32(), p.uint32(), p.uint32()],
      [1789933344, 44971166, 2521387044, 3848737593],
    );
    const q = new Prng(0x5eed0042);
    assert.deepEqual([q.uint32(), q.uint32(), q.uint32()], [658824871, 2495022698, 3118078679]);
  });

  test('same seed gives the same sequence; different seeds differ', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const sa = Array.from({ length: 100 }, () => a.uint32());
    assert.deepEqual(
      sa,
      Array.from({ length: 100 }, () => b.uint32()),
    );
    assert.notDeepEqual(
      sa,
      Array.from({ length: 100 }, () => c.uint32()),
    );
  });

  test('streams are independent of each other: adding a stream does not shift another', () => {
    const net1 = streamFor(7, 'net');
    const net2 = streamFor(7, 'net');
    streamFor(7, 'disk').uint32();
    assert.equal(net1.uint32(), net2.uint32());
    assert.notEqual(streamFor(7, 'net').uint32(), streamFor(7, 'disk').uint32());
  });

  test('float in [0,1), int inclusive bounds, roughly uniform', () => {
    const p = new Prng(1);
    const buckets = new Array<number>(10).fill(0);
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const f = p.float();
      assert.ok(f >= 0 && f < 1);
      buckets[Math.floor(f * 10)]!++;
    }
    for (const b of buckets) assert.ok(Math.abs(b - n / 10) < n / 10 / 5, `bucket ${b}`);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = p.int(-2, 3);
      assert.ok(v >= -2 && v <= 3 && Number.isInteger(v));
      seen.add(v);
    }
    assert.equal(seen.size, 6);
    assert.throws(() => p.int(3, 2), RangeError);
  });

  test('chance, pick and shuffle', () => {
    const p = new Prng(9);
    let hits = 0;
    for (let i = 0; i < 10000; i++) if (p.chance(0.3)) hits++;
    assert.ok(hits > 2700 && hits < 3300, `hits ${hits}`);
    assert.equal(p.chance(0), false);
    assert.equal(p.chance(1), true);
    assert.ok(['a', 'b'].includes(p.pick(['a', 'b'])));
    assert.throws(() => p.pick([]), RangeError);
    const arr = Array.from({ length: 20 }, (_, i) => i);
    const shuffled = p.shuffle([...arr]);
    assert.notDeepEqual(shuffled, arr);
    assert.deepEqual(
      [...shuffled].sort((a, b) => a - b),
      arr,
    );
  });
});
