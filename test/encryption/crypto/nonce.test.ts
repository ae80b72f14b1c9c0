import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { NonceFactory } from '../../../src/encryption/nonce.ts';
import { toHex } from '../../../src/util/bytes.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

const U64_MAX = (1n << 64n) - 1n;

describe('NonceFactory', () => {
  test('first nonce carries write_count 1 in the big-endian layout', () => {
    const f = new NonceFactory(0xabcd, 0x0102);
    assert.equal(toHex(f.next()), 'abcd01020000000000000001');
    assert.equal(toHex(f.next()), 'abcd01020000000000000002');
    assert.equal(f.lastCount(), 2n);
  });

  test('writeNext places the nonce at an offset without touching neighbours', () => {
    const f = new NonceFactory(1, 2);
    const out = new Uint8Array(16).fill(0xee);
    f.writeNext(out, 2);
    assert.equal(toHex(out), 'eeee000100020000000000000001eeee');
  });

  test('nonces from one factory never repeat', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.bigInt({ min: 0n, max: U64_MAX - 300n }),
        fc.integer({ min: 1, max: 300 }),
        (node, epoch, start, n) => {
          const f = new NonceFactory(node, epoch, { lastCount: start });
          const seen = new Set<string>();
          for (let i = 0; i < n; i++) seen.add(toHex(f.next()));
          return seen.size === n;
        },
      ),
      { numRuns: 100 },
    );
  });

  test('count 2^64-1 is the last nonce; the wrap fails and stays latched', () => {
    const f = new NonceFactory(7, 9, { lastCount: U64_MAX - 2n });
    assert.equal(toHex(f.next()).slice(8), 'fffffffffffffffe');
    assert.equal(toHex(f.next()).slice(8), 'ffffffffffffffff');
    for (let i = 0; i < 3; i++) {
      assert.throws(
        () => f.next(),
        (e) => isSealError(e, Err.WriteCountExhausted),
      );
    }
    assert.equal(f.lastCount(), U64_MAX);
  });

  test('the count carries across the 32-bit boundary', () => {
    const f = new NonceFactory(0, 0, { lastCount: 0xfffffffen });
    assert.equal(toHex(f.next()).slice(8), '00000000ffffffff');
    assert.equal(toHex(f.next()).slice(8), '0000000100000000');
    assert.equal(toHex(f.next()).slice(8), '0000000100000001');
    assert.equal(f.lastCount(), 0x100000001n);
  });

  test('a factory starting exhausted never produces a nonce', () => {
    const f = new NonceFactory(0, 0, { lastCount: U64_MAX });
    const out = new Uint8Array(12);
    assert.throws(
      () => f.writeNext(out, 0),
      (e) => isSealError(e, Err.WriteCountExhausted),
    );
    assert.equal(toHex(out), '0'.repeat(24));
  });

  test('rejects out-of-range pins', () => {
    assert.throws(
      () => new NonceFactory(0x10000, 0),
      (e) => isSealError(e, Err.InvalidArgument),
    );
    assert.throws(
      () => new NonceFactory(0, 0x10000),
      (e) => isSealError(e, Err.LocalEpochOutOfRange),
    );
    assert.throws(
      () => new NonceFactory(0, 0, { lastCount: -1n }),
      (e) => isSealError(e, Err.InvalidArgument),
    );
  });
});
