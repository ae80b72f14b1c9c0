import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HybridLogicalClock, hlcLogical, hlcPack, hlcPhysical } from '../../src/kv/hlc.ts';
import { decodeHlcLease, encodeHlcLease } from '../../src/kv/hlc-lease.ts';
import { isSealError } from '../../src/util/errors.ts';

function clockAt(start: number) {
  const c = { ms: start };
  return { c, nowMs: () => c.ms };
}

const code = (name: string) => (e: unknown) => isSealError(e, name);

describe('hybrid logical clock', () => {
  test('packs 48-bit physical ms and a 16-bit logical counter', () => {
    const ts = hlcPack(1_700_000_000_123, 7);
    assert.equal(ts, (1_700_000_000_123n << 16n) | 7n);
    assert.equal(hlcPhysical(ts), 1_700_000_000_123);
    assert.equal(hlcLogical(ts), 7);
  });

  test('follows the wall clock when it advances', () => {
    const { c, nowMs } = clockAt(1000);
    const h = new HybridLogicalClock({ nowMs });
    assert.equal(h.next(), hlcPack(1000, 0));
    c.ms = 1005;
    assert.equal(h.now(), hlcPack(1005, 0));
  });

  test('stays strictly increasing when the wall clock stalls or goes backwards', () => {
    const { c, nowMs } = clockAt(5000);
    const h = new HybridLogicalClock({ nowMs });
    const seen: bigint[] = [h.next(), h.next()];
    c.ms = 4000;
    seen.push(h.next(), h.next());
    c.ms = 5001;
    seen.push(h.next());
    assert.deepEqual(seen, [
      hlcPack(5000, 0),
      hlcPack(5000, 1),
      hlcPack(5000, 2),
      hlcPack(5000, 3),
      hlcPack(5001, 0),
    ]);
  });

  test('a logical overflow carries into the physical part', () => {
    const { nowMs } = clockAt(10);
    const h = new HybridLogicalClock({ nowMs });
    h.observe(hlcPack(10, 0xfffe));
    assert.equal(h.next(), hlcPack(10, 0xffff));
    assert.equal(h.next(), hlcPack(11, 0));
    assert.equal(h.next(), hlcPack(11, 1));
  });

  test('observe merges a stamp from ahead and ignores one from behind', () => {
    const { nowMs } = clockAt(100);
    const h = new HybridLogicalClock({ nowMs });
    h.observe(hlcPack(900, 4));
    h.observe(hlcPack(50, 0));
    assert.equal(h.lastTimestamp, hlcPack(900, 4));
    assert.equal(h.next(), hlcPack(900, 5));
    assert.throws(() => h.observe(-1n), code('ErrInvalidArgument'));
    assert.throws(() => h.observe(1n << 64n), code('ErrInvalidArgument'));
  });

  test('rejects a physical clock outside 48 bits', () => {
    const { c, nowMs } = clockAt(-1);
    const h = new HybridLogicalClock({ nowMs });
    assert.throws(() => h.next(), code('ErrInvalidArgument'));
    c.ms = 2 ** 48;
    assert.throws(() => h.next(), code('ErrInvalidArgument'));
  });

  test('monotonic under any sequence of clock jumps and observes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer({ min: -5000, max: 5000 }).map((d) => ({ jump: d })),
            fc.bigInt({ min: 0n, max: hlcPack(20_000, 0xffff) }).map((ts) => ({ observe: ts })),
            fc.constant({ next: true }),
          ),
          { maxLength: 100 },
        ),
        (ops) => {
          const { c, nowMs } = clockAt(10_000);
          const h = new HybridLogicalClock({ nowMs });
          let prev = -1n;
          let observed = 0n;
          for (const op of ops) {
            if ('jump' in op) c.ms = Math.max(0, c.ms + op.jump);
            else if ('observe' in op) {
              h.observe(op.observe);
              if (op.observe > observed) observed = op.observe;
            } else {
              const ts = h.next();
              assert.ok(ts > prev && ts > observed);
              assert.ok(hlcPhysical(ts) >= c.ms);
              prev = ts;
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('ceiling lease', () => {
  test('a follower does not issue', () => {
    const h = new HybridLogicalClock({ nowMs: () => 1000 });
    h.applyLease(5000);
    assert.equal(h.canIssue(), false);
    assert.equal(h.needsLeaseRenewal(), undefined);
    assert.throws(() => h.issue(), code('ErrNotLeader'));
  });

  test('a leader issues only below the applied ceiling and renews ahead of time', () => {
    const { c, nowMs } = clockAt(1000);
    const h = new HybridLogicalClock({ nowMs, leaseMs: 2000, renewWithinMs: 1000, retryAfterMs: 300 });
    h.becomeLeader();
    assert.equal(h.canIssue(), false);
    assert.throws(() => h.issue(), code('ErrHlcLeaseExhausted'));
    assert.equal(h.needsLeaseRenewal(), 3000);
    assert.equal(h.needsLeaseRenewal(), undefined, 'one renewal in flight at a time');
    h.applyLease(3000);
    assert.equal(h.ceilingMs, 3000);
    assert.equal(h.canIssue(), true);
    assert.equal(h.issue(), hlcPack(1000, 0));
    c.ms = 1900;
    assert.equal(h.needsLeaseRenewal(), undefined, 'still more than renewWithinMs left');
    c.ms = 2000;
    assert.equal(h.needsLeaseRenewal(), 4000);
    c.ms = 2200;
    assert.equal(h.needsLeaseRenewal(), undefined);
    c.ms = 2300;
    assert.equal(h.needsLeaseRenewal(), 4300, 'an unapplied renewal is retried');
    c.ms = 2999;
    assert.equal(h.issue(), hlcPack(2999, 0));
    c.ms = 3000;
    assert.equal(h.canIssue(), false);
    assert.throws(() => h.issue(), code('ErrHlcLeaseExhausted'));
    h.applyLease(4300);
    assert.equal(h.issue(), hlcPack(3000, 0));
  });

  test('logical overflow into the ceiling exhausts the lease', () => {
    const { nowMs } = clockAt(100);
    const h = new HybridLogicalClock({ nowMs });
    h.applyLease(101);
    h.becomeLeader();
    h.observe(hlcPack(100, 0xffff));
    assert.equal(h.canIssue(), false);
    assert.throws(() => h.issue(), code('ErrHlcLeaseExhausted'));
  });

  test('an older lease applied later never lowers the ceiling', () => {
    const h = new HybridLogicalClock({ nowMs: () => 0 });
    h.applyLease(9000);
    h.applyLease(4000);
    assert.equal(h.ceilingMs, 9000);
    assert.throws(() => h.applyLease(2 ** 48), code('ErrInvalidArgument'));
  });

  test("a new leader with a lagging clock starts above its predecessor's ceiling", () => {
    const old = new HybridLogicalClock({ nowMs: () => 50_000 });
    old.becomeLeader();
    old.applyLease(52_000);
    const oldTs = old.issue();
    const fresh = new HybridLogicalClock({ nowMs: () => 10_000 });
    fresh.applyLease(52_000);
    fresh.becomeLeader();
    const ceiling = fresh.needsLeaseRenewal();
    assert.equal(ceiling, 52_000 + fresh.leaseMs);
    fresh.applyLease(ceiling!);
    const ts = fresh.issue();
    assert.ok(ts > hlcPack(52_000, 0) && ts > oldTs);
  });

  test('stepping down stops issuing and forgets the renewal in flight', () => {
    const h = new HybridLogicalClock({ nowMs: () => 10 });
    h.becomeLeader();
    assert.ok(h.needsLeaseRenewal() !== undefined);
    h.stepDown();
    assert.equal(h.isLeader, false);
    assert.throws(() => h.issue(), code('ErrNotLeader'));
    h.becomeLeader();
    assert.ok(h.needsLeaseRenewal() !== undefined, 'a new term proposes again at once');
  });

  test('rejects inconsistent options', () => {
    assert.throws(() => new HybridLogicalClock({ nowMs: () => 0, leaseMs: 0 }), code('ErrInvalidArgument'));
    assert.throws(
      () => new HybridLogicalClock({ nowMs: () => 0, leaseMs: 10, renewWithinMs: 20 }),
      code('ErrInvalidArgument'),
    );
  });
});

describe('0x02 lease payload', () => {
  test('encodes opcode, wire version and a big-endian ceiling', () => {
    const p = encodeHlcLease(0x0102_0304_0506);
    assert.deepEqual([...p], [0x02, 0x01, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
    assert.equal(decodeHlcLease(p), 0x0102_0304_0506);
    assert.equal(decodeHlcLease(encodeHlcLease(2 ** 48 - 1)), 2 ** 48 - 1);
  });

  test('round-trips any 48-bit ceiling, also from an offset view', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (c) => {
        const framed = new Uint8Array(13);
        framed.set(encodeHlcLease(c), 3);
        assert.equal(decodeHlcLease(framed.subarray(3)), c);
      }),
      { numRuns: 100 },
    );
  });

  test('rejects bad lengths, versions, opcodes and ranges', () => {
    const good = encodeHlcLease(1234);
    assert.throws(() => decodeHlcLease(good.subarray(0, 9)), code('ErrFSMWireMalformed'));
    assert.throws(() => decodeHlcLease(Uint8Array.of(...good, 0)), code('ErrFSMWireMalformed'));
    assert.throws(() => decodeHlcLease(Uint8Array.of(0x02)), code('ErrFSMWireMalformed'));
    assert.throws(() => decodeHlcLease(new Uint8Array(0)), code('ErrFSMWireMalformed'));
    assert.throws(
      () => decodeHlcLease(Uint8Array.of(0x00, ...good.subarray(1))),
      code('ErrFSMWireMalformed'),
    );
    assert.throws(
      () => decodeHlcLease(Uint8Array.of(0x02, 0x02, ...good.subarray(2))),
      code('ErrFSMWireVersion'),
    );
    const huge = Uint8Array.of(0x02, 0x01, 0, 1, 0, 0, 0, 0, 0, 0);
    assert.throws(() => decodeHlcLease(huge), code('ErrFSMWireMalformed'));
    for (const bad of [-1, 1.5, 2 ** 48, Number.NaN]) {
      assert.throws(() => encodeHlcLease(bad), code('ErrInvalidArgument'));
    }
  });
});
