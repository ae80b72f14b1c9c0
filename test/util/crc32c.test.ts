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

test('slicing-by-8 agrees with the bytewise definition at every length and offset', () => {
  const bytewise = (d: Uint8Array): number => {
    let c = ~0 >>> 0;
    for (const b of d) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  const buf = new Uint8Array(300);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
  for (let start = 0; start < 9; start++) {
    for (let len = 0; len < 40; len++) {
      const d = buf.subarray(start, start + len);
      assert.equal(crc32c(d), bytewise(d), `start=${start} len=${len}`);
    }
  }
  assert.equal(crc32c(buf), bytewise(buf));
});
