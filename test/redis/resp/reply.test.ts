import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RespProtocolError } from '../../../src/redis/resp/errors.ts';
import type { RespReply } from '../../../src/redis/resp/reply.ts';
import { RespReplyParser } from '../../../src/redis/resp/reply-parser.ts';
import { encodeCommand, encodeReply, ReplyWriter } from '../../../src/redis/resp/writer.ts';
import { isSealError } from '../../../src/util/errors.ts';

const text = (r: RespReply) => encodeReply(r).toString('latin1');

describe('reply encoding', () => {
  test('every RESP2 type', () => {
    assert.equal(text({ t: 'simple', s: 'OK' }), '+OK\r\n');
    assert.equal(text({ t: 'error', s: 'ERR bad' }), '-ERR bad\r\n');
    assert.equal(text({ t: 'int', n: 0 }), ':0\r\n');
    assert.equal(text({ t: 'int', n: -42 }), ':-42\r\n');
    assert.equal(text({ t: 'int', n: -(2n ** 63n) }), ':-9223372036854775808\r\n');
    assert.equal(text({ t: 'bulk', b: Buffer.from('hello') }), '$5\r\nhello\r\n');
    assert.equal(text({ t: 'bulk', b: Buffer.alloc(0) }), '$0\r\n\r\n');
    assert.equal(text({ t: 'bulk', b: null }), '$-1\r\n');
    assert.equal(text({ t: 'array', items: null }), '*-1\r\n');
    assert.equal(text({ t: 'array', items: [] }), '*0\r\n');
    assert.equal(
      text({
        t: 'array',
        items: [
          { t: 'int', n: 1 },
          {
            t: 'array',
            items: [
              { t: 'bulk', b: null },
              { t: 'simple', s: 'x' },
            ],
          },
        ],
      }),
      '*2\r\n:1\r\n*2\r\n$-1\r\n+x\r\n',
    );
  });

  test('CR and LF in one-line replies become spaces', () => {
    assert.equal(text({ t: 'error', s: 'ERR a\r\nb' }), '-ERR a  b\r\n');
    assert.equal(text({ t: 'simple', s: 'a\nb' }), '+a b\r\n');
  });

  test('non-ASCII text is written as UTF-8', () => {
    assert.ok(encodeReply({ t: 'simple', s: 'é✓' }).equals(Buffer.from('+é✓\r\n')));
  });

  test('integers that do not fit the protocol are refused', () => {
    for (const n of [1.5, Number.NaN, 2 ** 53, 2n ** 63n]) {
      assert.throws(
        () => encodeReply({ t: 'int', n }),
        (e: unknown) => isSealError(e, 'ErrAssertion'),
      );
    }
  });

  test('requests encode as arrays of bulk strings', () => {
    assert.equal(encodeCommand(['GET', Buffer.from('k')]).toString(), '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
  });
});

describe('reply writer batching', () => {
  test('many small replies pack into few segments across scratch buffers', () => {
    const w = new ReplyWriter({ chunkSize: 1024 });
    let want = '';
    for (let i = 0; i < 1000; i++) {
      w.simple('OK').integer(i).bulk(`v${i}`);
      want += `+OK\r\n:${i}\r\n$${`v${i}`.length}\r\nv${i}\r\n`;
    }
    assert.equal(w.pendingBytes, want.length);
    const segments = w.take();
    assert.ok(segments.length <= Math.ceil(want.length / 1000) + 1, `${segments.length} segments`);
    assert.equal(Buffer.concat(segments).toString(), want);
    assert.equal(w.pendingBytes, 0);
    assert.deepEqual(w.take(), []);
  });

  test('large payloads are referenced, not copied', () => {
    const big = Buffer.alloc(20_000, 0x61);
    const w = new ReplyWriter({ zeroCopyThreshold: 16_384 });
    w.arrayHeader(2).bulk(big).bulk('small');
    const segments = w.take();
    assert.ok(segments.includes(big));
    assert.equal(
      Buffer.concat(segments).toString(),
      `*2\r\n$20000\r\n${'a'.repeat(20_000)}\r\n$5\r\nsmall\r\n`,
    );
  });

  test('taken segments are not overwritten by later writes', () => {
    const w = new ReplyWriter({ chunkSize: 64 });
    w.simple('first');
    const first = w.take();
    for (let i = 0; i < 100; i++) w.simple('second');
    assert.equal(Buffer.concat(first).toString(), '+first\r\n');
    assert.equal(Buffer.concat(w.take()).toString(), '+second\r\n'.repeat(100));
  });

  test('relayed encoded bytes pass through unchanged', () => {
    const w = new ReplyWriter();
    w.encoded(Buffer.from('+OK\r\n')).integer(1);
    assert.equal(w.takeBuffer().toString(), '+OK\r\n:1\r\n');
  });
});

function parseAll(chunks: Buffer[]): (RespReply | string)[] {
  const p = new RespReplyParser();
  const out: (RespReply | string)[] = [];
  for (const chunk of chunks) {
    p.feed(chunk);
    for (let r = p.next(); r !== undefined; r = p.next()) {
      if (r instanceof RespProtocolError) {
        out.push(`!${r.reply}`);
        return out;
      }
      out.push(r);
    }
  }
  return out;
}

describe('reply parser', () => {
  test('parses every type', () => {
    const stream = Buffer.from(
      '+OK\r\n-ERR x\r\n:-5\r\n:9223372036854775807\r\n$3\r\na\r\n\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n',
    );
    assert.deepEqual(parseAll([stream]), [
      { t: 'simple', s: 'OK' },
      { t: 'error', s: 'ERR x' },
      { t: 'int', n: -5 },
      { t: 'int', n: 2n ** 63n - 1n },
      { t: 'bulk', b: Buffer.from('a\r\n') },
      { t: 'bulk', b: null },
      { t: 'array', items: null },
      { t: 'array', items: [] },
      {
        t: 'array',
        items: [
          { t: 'array', items: [{ t: 'int', n: 1 }] },
          { t: 'bulk', b: Buffer.alloc(0) },
        ],
      },
    ]);
  });

  test('waits for incomplete replies and tracks idleness', () => {
    const p = new RespReplyParser();
    assert.equal(p.idle, true);
    p.feed(Buffer.from('*2\r\n:1\r\n$3\r\nab'));
    assert.equal(p.next(), undefined);
    assert.equal(p.idle, false);
    p.feed(Buffer.from('c\r\n'));
    assert.deepEqual(p.next(), {
      t: 'array',
      items: [
        { t: 'int', n: 1 },
        { t: 'bulk', b: Buffer.from('abc') },
      ],
    });
    assert.equal(p.idle, true);
  });

  const malformed: [string, RegExp][] = [
    ['?x\r\n', /unexpected reply type byte 0x3f/],
    [':1x\r\n', /invalid integer/],
    [':99999999999999999999\r\n', /invalid integer/],
    ['$-2\r\n', /invalid bulk length/],
    ['*-2\r\n', /invalid multibulk length/],
    ['$1\r\nab\r\n', /expected CRLF after bulk/],
    ['+OK\rX', /expected LF/],
    [`+${'a'.repeat(70_000)}`, /line too long/],
    ['*1\r\n'.repeat(200), /nested too deeply/],
  ];
  for (const [input, want] of malformed) {
    test(`rejects ${JSON.stringify(input.slice(0, 20))}`, () => {
      const got = parseAll([Buffer.from(input)]);
      assert.equal(got.length, 1);
      assert.match(String(got[0]), want);
    });
  }

  const line = fc.string({ maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, '_'));
  const reply: fc.Arbitrary<RespReply> = fc.letrec<{ r: RespReply }>((tie) => ({
    r: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      line.map((s): RespReply => ({ t: 'simple', s })),
      line.map((s): RespReply => ({ t: 'error', s })),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n): RespReply => ({ t: 'int', n })),
      fc.integer().map((n): RespReply => ({ t: 'int', n })),
      fc.option(fc.uint8Array({ maxLength: 30 })).map(
        (u): RespReply => ({
          t: 'bulk',
          b: u === null ? null : Buffer.from(u),
        }),
      ),
      fc.option(fc.array(tie('r'), { maxLength: 4 })).map((items): RespReply => ({ t: 'array', items })),
    ),
  })).r;

  /** Integers decode as number when safe, else bigint: compare by value. */
  function normal(r: RespReply): RespReply {
    if (r.t === 'int') return { t: 'int', n: BigInt(r.n) };
    if (r.t === 'array' && r.items !== null) return { t: 'array', items: r.items.map(normal) };
    return r;
  }

  test('encode then parse at any chunking is the identity', () => {
    fc.assert(
      fc.property(
        fc.array(reply, { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 15 }),
        (replies, cuts) => {
          const w = new ReplyWriter({ chunkSize: 128, zeroCopyThreshold: 16 });
          for (const r of replies) w.reply(r);
          const stream = w.takeBuffer();
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of points) {
            chunks.push(stream.subarray(prev, p));
            prev = p;
          }
          chunks.push(stream.subarray(prev));
          const got = parseAll(chunks);
          assert.deepEqual(
            got.map((r) => (typeof r === 'string' ? r : normal(r))),
            replies.map(normal),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  test('garbage never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (u) => {
        const got = parseAll([Buffer.from(u)]);
        const errors = got.filter((x) => typeof x === 'string');
        assert.ok(errors.length <= 1);
      }),
      { numRuns: 300 },
    );
  });
});
