import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_KEY_SIZE } from '../../src/storage/engine.ts';
import { decodeHeader, encodeHeader } from '../../src/storage/mvcc/header.ts';
import { decodeEngineKey, engineBounds, engineKey, versionPrefix } from '../../src/storage/mvcc/keys.ts';
import { compareBytes } from '../../src/util/bytes.ts';
import { isSealError } from '../../src/util/errors.ts';

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);
const userKey = fc.uint8Array({ maxLength: 6 }).map((a) => a.map((x) => [0, 1, 2, 0xff][x % 4]!));
const ts = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

describe('mvcc engine keys', () => {
  test('layout: escaped user key, 0x00 0x01 terminator, BE64(~ts)', () => {
    assert.deepEqual(
      [...engineKey(Uint8Array.of(0x61, 0x00), 1n)],
      [0x61, 0x00, 0xff, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
    );
  });

  test('engine-key order = user-key order, then newest version first; decode round-trips', () => {
    fc.assert(
      fc.property(userKey, ts, userKey, ts, (a, ta, b, tb) => {
        const ka = engineKey(a, ta);
        const kb = engineKey(b, tb);
        const byUser = sign(compareBytes(a, b));
        const expected = byUser !== 0 ? byUser : sign(Number(tb > ta) - Number(tb < ta));
        assert.equal(sign(compareBytes(ka, kb)), expected);
        assert.deepEqual(decodeEngineKey(ka), { userKey: a, commitTs: ta });
      }),
      { numRuns: 300 },
    );
  });

  test('user-key bounds contain exactly the versions of keys in [start, end)', () => {
    fc.assert(
      fc.property(userKey, ts, userKey, userKey, (k, t, s, e) => {
        const ek = engineKey(k, t);
        const b = engineBounds(s, e);
        const inEngine = compareBytes(ek, b.start!) >= 0 && compareBytes(ek, b.end!) < 0;
        const inUser = compareBytes(k, s) >= 0 && compareBytes(k, e) < 0;
        assert.equal(inEngine, inUser);
      }),
      { numRuns: 300 },
    );
  });

  test('malformed engine keys and oversized user keys are typed errors', () => {
    for (const bad of [
      Uint8Array.of(1, 2, 3),
      Uint8Array.of(0x00, 0x05, 1, 1, 1, 1, 1, 1, 1, 1),
      Uint8Array.of(0, 1, 1),
    ]) {
      assert.throws(
        () => decodeEngineKey(bad),
        (e) => isSealError(e, 'ErrMvccRowMalformed'),
      );
    }
    const okLen = MAX_KEY_SIZE - 10;
    assert.equal(engineKey(new Uint8Array(okLen).fill(1), 1n).length, MAX_KEY_SIZE);
    assert.throws(
      () => engineKey(new Uint8Array(okLen + 1).fill(1), 1n),
      (e) => isSealError(e, 'ErrInvalidArgument'),
    );
    assert.throws(
      () => engineKey(Uint8Array.of(1), -1n),
      (e) => isSealError(e, 'ErrInvalidArgument'),
    );
    assert.equal(versionPrefix(new Uint8Array(0)).length, 2);
  });
});

describe('mvcc value header', () => {
  test('round-trips and is laid out per spec (LE expireAt)', () => {
    const h = encodeHeader({ tombstone: false, state: 1, expireAt: 0x0102030405060708n });
    assert.deepEqual([...h], [0x02, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]);
    assert.deepEqual(decodeHeader(h), { tombstone: false, state: 1, expireAt: 0x0102030405060708n });
    assert.deepEqual(
      [...encodeHeader({ tombstone: true, state: 0, expireAt: 0n })],
      [1, 0, 0, 0, 0, 0, 0, 0, 0],
    );
  });

  test('reserved states and reserved bits throw ErrEncryptedValueReservedState', () => {
    for (let b0 = 0; b0 < 256; b0++) {
      const row = Uint8Array.of(b0, 0, 0, 0, 0, 0, 0, 0, 0);
      const state = (b0 >> 1) & 3;
      if ((b0 & 0xf8) === 0 && state < 2) assert.equal(decodeHeader(row).tombstone, (b0 & 1) === 1);
      else
        assert.throws(
          () => decodeHeader(row),
          (e) => isSealError(e, 'ErrEncryptedValueReservedState'),
        );
    }
  });

  test('a row shorter than the header is malformed', () => {
    for (let n = 0; n < 9; n++) {
      assert.throws(
        () => decodeHeader(new Uint8Array(n)),
        (e) => isSealError(e, 'ErrMvccRowMalformed'),
      );
    }
  });
});
