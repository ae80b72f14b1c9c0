import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utf8 } from '../../src/util/bytes.ts';
import { crc32c } from '../../src/util/crc32c.ts';

test('crc32c matches the published check value', () => {
  assert.equal(crc32c(utf8('123456789')), 0xe3069283);
});

test('crc32c can be continued across chunks', () => {
  const whole = crc32c(utf8('hello world'));
  assert.equal(crc32c(utf8(' world'), crc32c(utf8('hello'))), whole);
});
