import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  formatFullNodeId,
  formatNodeId16,
  fullNodeId,
  nodeId16,
  parseFullNodeId,
} from '../../../src/encryption/identity.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

describe('fullNodeId (FNV-1a-64)', () => {
  test('matches published FNV-1a-64 vectors', () => {
    assert.equal(fullNodeId('a'), 0xaf63dc4c8601ec8cn);
    assert.equal(fullNodeId('foobar'), 0x85944171f73967e8n);
  });

  test('empty id is 0 ("not encryption-capable")', () => {
    assert.equal(fullNodeId(''), 0n);
  });

  test('hashes UTF-8 bytes, not UTF-16 code units', () => {
    // 'é' is one UTF-16 unit but two UTF-8 bytes (0xc3 0xa9).
    const manual = [0xc3, 0xa9].reduce(
      (h, b) => ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn,
      0xcbf29ce484222325n,
    );
    assert.equal(fullNodeId('é'), manual);
  });

  test('non-empty ids never map to 0 and always fit in 64 bits', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (s) => {
        const h = fullNodeId(s);
        return h > 0n && h < 1n << 64n;
      }),
      { numRuns: 200 },
    );
  });

  test('node_id16 is the low 16 bits', () => {
    assert.equal(nodeId16(0x1234abcdn), 0xabcd);
    assert.equal(nodeId16(0xffffffffffffffffn), 0xffff);
    assert.equal(nodeId16(0x10000n), 0);
  });
});

describe('parseFullNodeId', () => {
  test('accepts decimal and 0x hex', () => {
    assert.equal(parseFullNodeId('305441741'), 0x1234abcdn);
    assert.equal(parseFullNodeId('0x1234ABCD'), 0x1234abcdn);
    assert.equal(parseFullNodeId('0'), 0n);
    assert.equal(parseFullNodeId('18446744073709551615'), (1n << 64n) - 1n);
    assert.equal(parseFullNodeId('0xffffffffffffffff'), (1n << 64n) - 1n);
  });

  for (const bad of [
    '0x12zz',
    '',
    '0x',
    ' 1',
    '1 ',
    '+1',
    '-1',
    '1e3',
    '12abc',
    '18446744073709551616',
    `0x1${'0'.repeat(16)}`,
  ]) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parseFullNodeId(bad),
        (e) => isSealError(e, Err.InvalidArgument),
      );
    });
  }

  test('round-trips every uint64 through decimal and hex', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (n) => {
        return parseFullNodeId(n.toString()) === n && parseFullNodeId(`0x${n.toString(16)}`) === n;
      }),
      { numRuns: 200 },
    );
  });

  test('formats for the CLI', () => {
    assert.equal(formatFullNodeId(0x1234abcdn), '0x000000001234abcd (305441741)');
    assert.equal(formatNodeId16(0xabcd), '0xabcd (43981)');
    assert.equal(formatNodeId16(7), '0x0007 (7)');
  });
});
