import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeReply, ReplyWriter } from '../../../src/redis/resp/writer.ts';

/** `+s` / `-s` as RESP2 defines them here: CR and LF become spaces, the text is UTF-8. */
function expectedLine(prefix: string, s: string): Buffer {
  return Buffer.concat([
    Buffer.from(prefix),
    Buffer.from(s.replace(/[\r\n]/g, ' '), 'utf8'),
    Buffer.from('\r\n'),
  ]);
}

describe('simple and error lines', () => {
  test('any text encodes as its UTF-8 bytes with CR/LF replaced, short or long, ASCII or not', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.constantFrom('OK', 'QUEUED', 'PONG', '', 'a\r\nb', '\u0000\u007f\u0080', '\ud800x', 'é'.repeat(70)),
    );
    fc.assert(
      fc.property(text, (s) => {
        assert.deepEqual(encodeReply({ t: 'simple', s }), expectedLine('+', s));
        assert.deepEqual(encodeReply({ t: 'error', s }), expectedLine('-', s));
      }),
      { numRuns: 300 },
    );
  });

  test('lines straddling a scratch-buffer boundary are intact', () => {
    const w = new ReplyWriter({ chunkSize: 16 });
    const parts = ['OK', 'QUEUED', 'x'.repeat(30), 'ERR naïve', 'OK'];
    for (const p of parts) w.simple(p);
    assert.deepEqual(w.takeBuffer(), Buffer.concat(parts.map((p) => expectedLine('+', p))));
  });
});
