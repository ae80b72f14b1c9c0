import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateDek, pickNewKeyId } from '../../../src/encryption/dek.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

/** A random source that replays the given 4-byte big-endian ids. */
function replay(...ids: number[]): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    assert.equal(n, 4);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(ids[i++ % ids.length]!);
    return b;
  };
}

describe('DEK generation', () => {
  test('a DEK is 32 random bytes', () => {
    const a = generateDek();
    const b = generateDek();
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
  });

  test('a random source of the wrong size is refused', () => {
    assert.throws(
      () => generateDek(() => new Uint8Array(16)),
      (e) => isSealError(e, Err.BadKeySize),
    );
  });

  test('pickNewKeyId skips 0 and ids already in use', () => {
    assert.equal(pickNewKeyId([5, 7], replay(0, 5, 7, 0xffffffff)), 0xffffffff);
  });

  test('pickNewKeyId gives up on a source that only repeats taken ids', () => {
    assert.throws(
      () => pickNewKeyId([9], replay(0, 9)),
      (e) => isSealError(e, Err.DEKIDExists),
    );
  });

  test('pickNewKeyId with the real source returns a non-zero uint32', () => {
    for (let i = 0; i < 50; i++) {
      const id = pickNewKeyId([]);
      assert.ok(Number.isInteger(id) && id > 0 && id <= 0xffffffff);
    }
  });
});
