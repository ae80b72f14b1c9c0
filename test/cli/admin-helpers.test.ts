import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { discoveryAddresses, parseTimeout, parseU32 } from '../../src/cli/admin-encryption-remote.ts';
import { UsageError } from '../../src/cli/main.ts';

describe('admin CLI flag parsing', () => {
  test('--timeout accepts ms, s, m and bare seconds', () => {
    assert.equal(parseTimeout('5s'), 5000);
    assert.equal(parseTimeout('250ms'), 250);
    assert.equal(parseTimeout('1.5s'), 1500);
    assert.equal(parseTimeout('2m'), 120_000);
    assert.equal(parseTimeout('3'), 3000);
    for (const bad of ['', '0s', '0', '-1s', '5h', 's', '1e3']) {
      assert.throws(() => parseTimeout(bad), UsageError, bad);
    }
  });

  test('--discover-from addresses are trimmed and deduplicated in first-seen order', () => {
    assert.deepEqual(discoveryAddresses([' a:1 ', 'b:2', 'a:1', '', '  ', 'c:3,b:2']), ['a:1', 'b:2', 'c:3']);
  });

  test('uint32 flags: decimal or 0x hex, whole string, in range', () => {
    assert.equal(parseU32('--x', '0xFFFFFFFF'), 0xffffffff);
    assert.equal(parseU32('--x', '42'), 42);
    for (const bad of ['4294967296', '-1', '1.0', '0x', ' 1', 'ten']) {
      assert.throws(() => parseU32('--x', bad), UsageError, bad);
    }
  });
});
