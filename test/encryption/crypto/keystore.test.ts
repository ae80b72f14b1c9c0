import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Keystore } from '../../../src/encryption/keystore.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

const dek = (b: number) => new Uint8Array(32).fill(b);

describe('Keystore (encryption.md §2.4)', () => {
  test('set/get/has, ids ascending', () => {
    const ks = new Keystore();
    ks.set(30, dek(3));
    ks.set(1, dek(1));
    ks.set(0xffffffff, dek(9));
    assert.deepEqual(ks.ids(), [1, 30, 0xffffffff]);
    assert.ok(ks.has(30));
    assert.ok(!ks.has(2));
    assert.deepEqual(ks.get(1)?.dek, dek(1));
    assert.equal(ks.get(1)?.id, 1);
    assert.equal(ks.get(1)?.key.symmetricKeySize, 32);
    assert.equal(ks.get(2), undefined);
  });

  test('id 0 and non-uint32 ids are reserved', () => {
    const ks = new Keystore();
    for (const id of [0, -1, 1.5, 2 ** 32]) {
      assert.throws(
        () => ks.set(id, dek(1)),
        (e) => isSealError(e, Err.ReservedKeyID),
      );
    }
    assert.deepEqual(ks.ids(), []);
  });

  test('a DEK that is not 32 bytes is refused', () => {
    const ks = new Keystore();
    assert.throws(
      () => ks.set(1, new Uint8Array(31)),
      (e) => isSealError(e, Err.BadKeySize),
    );
    assert.throws(
      () => ks.set(1, new Uint8Array(33)),
      (e) => isSealError(e, Err.BadKeySize),
    );
    assert.ok(!ks.has(1));
  });

  test('same id with the same bytes is a no-op; different bytes conflict', () => {
    const ks = new Keystore();
    ks.set(4, dek(1));
    const before = ks.get(4);
    ks.set(4, dek(1));
    assert.equal(ks.get(4), before);
    assert.throws(
      () => ks.set(4, dek(2)),
      (e) => isSealError(e, Err.KeyConflict),
    );
    assert.deepEqual(ks.get(4)?.dek, dek(1));
  });

  test('the keystore keeps its own copy of the DEK', () => {
    const ks = new Keystore();
    const d = dek(5);
    ks.set(1, d);
    d.fill(0);
    assert.deepEqual(ks.get(1)?.dek, dek(5));
  });

  test('delete removes; deleting a missing id is a no-op', () => {
    const ks = new Keystore();
    ks.set(1, dek(1));
    ks.set(2, dek(2));
    ks.delete(1);
    ks.delete(99);
    assert.deepEqual(ks.ids(), [2]);
    ks.set(1, dek(7));
    assert.deepEqual(ks.get(1)?.dek, dek(7));
  });

  test('updates are copy-on-write: a snapshot taken by ids() is unaffected', () => {
    const ks = new Keystore();
    ks.set(1, dek(1));
    const loaded = ks.get(1);
    ks.set(2, dek(2));
    ks.delete(1);
    assert.deepEqual(loaded?.dek, dek(1));
  });
});
