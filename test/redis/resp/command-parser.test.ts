import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RespCommandParser, type RespLimits } from '../../../src/redis/resp/command-parser.ts';
import { RespProtocolError } from '../../../src/redis/resp/errors.ts';
import { encodeCommand } from '../../../src/redis/resp/writer.ts';

type Item = string[] | string;

/** Feeds the chunks, drains after each, and renders commands as string arrays and errors as `!reply`. */
function parseChunks(chunks: Buffer[], limits: Partial<RespLimits> = {}): Item[] {
  const p = new RespCommandParser(limits);
  const out: Item[] = [];
  for (const chunk of chunks) {
    p.feed(chunk);
    for (let c = p.next(); c !== undefined; c = p.next()) {
      if (c instanceof RespProtocolError) {
        out.push(`!${c.reply}`);
        return out;
      }
      out.push(c.map((a) => a.toString('latin1')));
    }
  }
  return out;
}

function parse(input: string | Buffer, limits: Partial<RespLimits> = {}): Item[] {
  return parseChunks([typeof input === 'string' ? Buffer.from(input, 'latin1') : input], limits);
}

function oneByteAtATime(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(input.subarray(i, i + 1));
  return out;
}

function splitAt(input: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(input.subarray(prev, p));
    prev = p;
  }
  out.push(input.subarray(prev));
  return out;
}

describe('multibulk requests', () => {
  test('parses a command and keeps payloads binary-safe', () => {
    const payload = Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0x24, 0x2a]);
    const p = new RespCommandParser();
    p.feed(encodeCommand(['SET', Buffer.from('k\r\n'), payload]));
    const c = p.next();
    assert.ok(Array.isArray(c));
    assert.deepEqual(c, [Buffer.from('SET'), Buffer.from('k\r\n'), payload]);
    assert.equal(p.next(), undefined);
    assert.equal(p.bufferedBytes, 0);
  });

  test('empty bulk arguments are kept', () => {
    assert.deepEqual(parse('*2\r\n$0\r\n\r\n$1\r\nx\r\n'), [['', 'x']]);
  });

  test('empty and negative multibulk counts are skipped silently, as in Redis', () => {
    assert.deepEqual(parse('*0\r\n*-1\r\n*-7\r\n*1\r\n$4\r\nPING\r\n'), [['PING']]);
  });

  test('waits for every missing piece', () => {
    for (const partial of [
      '*',
      '*2',
      '*2\r',
      '*2\r\n',
      '*2\r\n$3\r\nGET\r\n$1',
      '*2\r\n$3\r\nGET\r\n$1\r\nk',
    ]) {
      assert.deepEqual(parse(partial), [], partial);
    }
    assert.deepEqual(parse('*2\r\n$3\r\nGET\r\n$1\r\nk\r'), []);
    assert.deepEqual(parse('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n'), [['GET', 'k']]);
  });

  test('every byte boundary of a mixed stream gives the same commands', () => {
    const stream = Buffer.concat([
      encodeCommand(['SET', 'key', 'a\r\nb']),
      Buffer.from('PING\r\nECHO "x y"\n*0\r\n'),
      encodeCommand(['DEL', 'a', 'b', 'c']),
    ]);
    const want = [['SET', 'key', 'a\r\nb'], ['PING'], ['ECHO', 'x y'], ['DEL', 'a', 'b', 'c']];
    assert.deepEqual(parse(stream), want);
    assert.deepEqual(parseChunks(oneByteAtATime(stream)), want);
    for (let cut = 0; cut <= stream.length; cut++) {
      assert.deepEqual(parseChunks([stream.subarray(0, cut), stream.subarray(cut)]), want, `cut ${cut}`);
    }
  });

  test('a large bulk arriving in many chunks is assembled once', () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    const stream = encodeCommand(['SET', 'k', big]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 65_536) chunks.push(stream.subarray(i, i + 65_536));
    const p = new RespCommandParser();
    let got: Buffer[] | undefined;
    for (const chunk of chunks) {
      p.feed(chunk);
      const c = p.next();
      if (c !== undefined) {
        assert.ok(Array.isArray(c));
        got = c;
      }
    }
    assert.ok(got);
    assert.ok(got[2]!.equals(big));
    assert.equal(p.bufferedBytes, 0);
  });

  test('headers joined across many queued chunks cost linear time', () => {
    const stream = Buffer.concat(
      Array.from({ length: 5000 }, (_, i) => encodeCommand(['SET', `k${i}`, 'v'])),
    );
    const p = new RespCommandParser();
    for (const chunk of oneByteAtATime(stream)) p.feed(chunk);
    const start = process.hrtime.bigint();
    let n = 0;
    for (let c = p.next(); c !== undefined; c = p.next()) {
      assert.ok(Array.isArray(c) && c[1]!.toString() === `k${n}`);
      n++;
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.equal(n, 5000);
    assert.ok(ms < 3000, `took ${ms} ms`);
  });

  test('the byte after a payload CR is not checked, as in Redis', () => {
    assert.deepEqual(parse('*1\r\n$4\r\nPINGxy*1\r\n$4\r\nPING\r\n'), [['PING'], ['PING']]);
  });
});

describe('inline requests', () => {
  test('splits on whitespace, with CRLF or a bare LF', () => {
    assert.deepEqual(parse('PING\r\nset  a\tb \r\nGET k\n'), [['PING'], ['set', 'a', 'b'], ['GET', 'k']]);
  });

  test('blank lines are skipped', () => {
    assert.deepEqual(parse('\r\n   \r\n\nPING\r\n'), [['PING']]);
  });

  test('double quotes understand escapes and \\xHH', () => {
    assert.deepEqual(parse('SET "a b" "\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\"q\\z\\xZZ"\r\n'), [
      ['SET', 'a b', 'Az\n\r\t\b\x07\\"qzxZZ'],
    ]);
  });

  test("single quotes only understand \\'", () => {
    assert.deepEqual(parse("SET 'it\\'s' 'a\\nb'\r\n"), [['SET', "it's", 'a\\nb']]);
  });

  test('quotes may open inside a word and empty quotes give an empty argument', () => {
    assert.deepEqual(parse('SET ab"c d" ""\r\n'), [['SET', 'abc d', '']]);
  });

  test('unbalanced quotes are a protocol error', () => {
    const e = '!ERR Protocol error: unbalanced quotes in request';
    assert.deepEqual(parse('SET "abc\r\n'), [e]);
    assert.deepEqual(parse("SET 'abc\r\n"), [e]);
    assert.deepEqual(parse('SET "abc"d\r\n'), [e]);
    assert.deepEqual(parse("SET 'abc'd\r\n"), [e]);
    assert.deepEqual(parse('SET "abc\\"\r\n'), [e]);
  });

  test('a NUL byte ends the line, like the C string splitter', () => {
    assert.deepEqual(parse(Buffer.from('GET a\x00b c\r\n', 'latin1')), [['GET', 'a']]);
  });

  test('a line longer than the inline limit is a protocol error', () => {
    const e = '!ERR Protocol error: too big inline request';
    assert.deepEqual(parse(`${'a'.repeat(65)}`, { maxInlineLength: 64 }), [e]);
    assert.deepEqual(parse(`${'a'.repeat(65)}\r\n`, { maxInlineLength: 64 }), [e]);
    assert.deepEqual(parse(`${'a'.repeat(64)}`, { maxInlineLength: 64 }), []);
    assert.deepEqual(parse(`${'a'.repeat(64)}\n`, { maxInlineLength: 64 }), [['a'.repeat(64)]]);
    assert.deepEqual(parse(`x${' '.repeat(70_000)}`), [e]);
  });

  test('a long line delivered one byte per chunk is scanned in linear time', () => {
    const line = Buffer.from(`ECHO ${'z'.repeat(60_000)}\r\n`);
    const start = process.hrtime.bigint();
    assert.deepEqual(parseChunks(oneByteAtATime(line)), [['ECHO', 'z'.repeat(60_000)]]);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < 3000, `took ${ms} ms`);
  });
});

describe('protocol errors', () => {
  const cases: [string, string, Partial<RespLimits>?][] = [
    ['*abc\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*01\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*+1\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*99999999999999999999\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*-99999999999999999999\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*5\r\n', 'ERR Protocol error: invalid multibulk length', { maxArrayLength: 4 }],
    ['*1\r\n$-1\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$x\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$11\r\n', 'ERR Protocol error: invalid bulk length', { maxBulkLength: 10 }],
    ['*1\r\nx\r\n', "ERR Protocol error: expected '$', got 'x'"],
    ['*2\r\n$1\r\na\r\n:1\r\n', "ERR Protocol error: expected '$', got ':'"],
    [`*${'1'.repeat(80)}`, 'ERR Protocol error: too big mbulk count string', { maxInlineLength: 64 }],
    [`*1\r\n$${'1'.repeat(80)}`, 'ERR Protocol error: too big bulk count string', { maxInlineLength: 64 }],
  ];
  for (const [input, reply, limits] of cases) {
    test(`${JSON.stringify(input.slice(0, 30))} -> ${reply}`, () => {
      assert.deepEqual(parse(input, limits), [`!${reply}`]);
      assert.deepEqual(parseChunks(oneByteAtATime(Buffer.from(input, 'latin1')), limits), [`!${reply}`]);
    });
  }

  test('the largest allowed lengths are accepted', () => {
    assert.deepEqual(parse('*4\r\n$10\r\n', { maxArrayLength: 4, maxBulkLength: 10 }), []);
  });

  test('commands before the error are delivered, then the error sticks and input is ignored', () => {
    const p = new RespCommandParser();
    p.feed(Buffer.from('PING\r\n*1\r\n$4\r\nECHO\r\n*x\r\nPING\r\n'));
    assert.deepEqual(p.next(), [Buffer.from('PING')]);
    assert.deepEqual(p.next(), [Buffer.from('ECHO')]);
    const e = p.next();
    assert.ok(e instanceof RespProtocolError);
    assert.equal(e.close, true);
    assert.equal(e.reply, 'ERR Protocol error: invalid multibulk length');
    p.feed(Buffer.from('PING\r\n'));
    assert.equal(p.next(), e);
    assert.equal(p.bufferedBytes, 0);
  });

  test('the query buffer limit counts held bytes and completed arguments of a partial command', () => {
    const limits = { maxBufferedBytes: 100 };
    assert.deepEqual(parse(`*2\r\n$60\r\n${'a'.repeat(60)}\r\n$60\r\n${'b'.repeat(30)}`, limits), [
      '!ERR Protocol error: query buffer limit exceeded',
    ]);
    // Draining between feeds keeps a long pipeline under the limit.
    const chunks = Array.from({ length: 50 }, () => encodeCommand(['SET', 'k', 'v'.repeat(50)]));
    assert.equal(parseChunks(chunks, limits).length, 50);
  });
});

describe('properties', () => {
  const bulkArg = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
  const inlineWord = fc.stringMatching(/^[A-Za-z0-9_:.-]{1,12}$/);
  const command = fc.oneof(
    fc.array(bulkArg, { minLength: 1, maxLength: 6 }).map((args) => ({ args, bytes: encodeCommand(args) })),
    fc.array(inlineWord, { minLength: 1, maxLength: 5 }).map((words) => ({
      args: words.map((w) => Buffer.from(w)),
      bytes: Buffer.from(`${words.join(' ')}\r\n`),
    })),
  );

  test('any chunking of an encoded pipeline yields exactly its commands', () => {
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (cmds, cuts) => {
          const stream = Buffer.concat(cmds.map((c) => c.bytes));
          const got = parseChunks(splitAt(stream, cuts));
          assert.deepEqual(
            got,
            cmds.map((c) => c.args.map((a) => a.toString('latin1'))),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
    // Valid streams with a few bytes overwritten reach the deeper states.
    fc
      .tuple(
        fc.array(command, { minLength: 1, maxLength: 8 }),
        fc.array(
          fc.tuple(
            fc.nat(),
            fc.constantFrom(0x2a, 0x24, 0x0d, 0x0a, 0x2d, 0x30, 0x39, 0x22, 0x27, 0x5c, 0x00),
          ),
        ),
      )
      .map(([cmds, edits]) => {
        const b = Buffer.concat(cmds.map((c) => c.bytes));
        for (const [at, byte] of edits) b[at % b.length] = byte;
        return b;
      }),
  );

  test('garbage never throws and parses the same however it is chunked', () => {
    fc.assert(
      fc.property(garbage, fc.array(fc.nat(), { maxLength: 20 }), (stream, cuts) => {
        const limits = { maxInlineLength: 32, maxBulkLength: 64, maxArrayLength: 16 };
        const whole = parse(stream, limits);
        const errors = whole.filter((x) => typeof x === 'string');
        assert.ok(errors.length <= 1);
        if (errors.length === 1) {
          assert.equal(typeof whole[whole.length - 1], 'string');
          assert.match(errors[0] as string, /^!ERR Protocol error: /);
        }
        assert.deepEqual(parseChunks(splitAt(stream, cuts), limits), whole);
      }),
      { numRuns: 300 },
    );
  });

  test('a pipeline of 10k commands in one chunk parses correctly and fast', () => {
    const value = Buffer.alloc(100, 0x76);
    const stream = Buffer.concat(
      Array.from({ length: 10_000 }, (_, i) => encodeCommand(['SET', `key:${i}`, value])),
    );
    const start = process.hrtime.bigint();
    const p = new RespCommandParser();
    p.feed(stream);
    let n = 0;
    for (let c = p.next(); c !== undefined; c = p.next()) {
      assert.ok(Array.isArray(c));
      if (c[1]!.toString() !== `key:${n}` || !c[2]!.equals(value)) assert.fail(`command ${n} differs`);
      n++;
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.equal(n, 10_000);
    assert.ok(ms < 1000, `took ${ms} ms`);
  });
});
