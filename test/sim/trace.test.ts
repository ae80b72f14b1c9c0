import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  combineHashes,
  encodeField,
  failLine,
  faultLine,
  fmtSeed,
  fmtTime,
  nodeLine,
  parseSeed,
  passLine,
  replayCommand,
  statusLine,
  Trace,
  TraceHasher,
} from '../../sim/trace.ts';

describe('trace', () => {
  test('log lines match the fixed-width format', () => {
    assert.equal(fmtTime(123.45), 't=0000123.450');
    assert.equal(fmtTime(0), 't=0000000.000');
    assert.equal(
      nodeLine(123.45, 42, 2, 'F t5 c17/a17/l18 | recv'),
      't=0000123.450 ev=0000042 n2 F t5 c17/a17/l18 | recv',
    );
    assert.equal(
      faultLine(123.9, 51, 'partition {1} | {2,3} until=0000425.000'),
      't=0000123.900 ev=0000051 ** fault partition {1} | {2,3} until=0000425.000',
    );
    assert.equal(statusLine(130, 60, '[n1 L5 c17]'), 't=0000130.000 ev=0000060 == [n1 L5 c17]');
    assert.equal(
      failLine(0x5eed0042, 1877, 'I9', 'i=212 "t7"'),
      'FAIL seed=0x5eed0042 ev=0001877 invariant=I9 detail="i=212 \\"t7\\""',
    );
    assert.equal(passLine(7, 10, 2.5, 3), 'PASS seed=0x00000007 events=10 vtime=0000002.500 ops=3');
    assert.equal(replayCommand(0x5eed0042, 99), 'npm run sim -- --seed 0x5eed0042 --until-ev 99');
  });

  test('seeds round-trip in hex and decimal; garbage is refused', () => {
    assert.equal(parseSeed('0x5eed0042'), 0x5eed0042);
    assert.equal(parseSeed('17'), 17);
    assert.equal(fmtSeed(parseSeed('4294967295')), '0xffffffff');
    for (const bad of ['', 'x', '0x', '-1', '1e3', '4294967296', '0x123456789']) {
      assert.throws(() => parseSeed(bad), RangeError, bad);
    }
  });

  test('encodings are length-prefixed and typed, so field boundaries and types matter', () => {
    const h = (fields: (string | number)[]) => {
      const t = new TraceHasher();
      t.add(fields);
      return t.digestHex();
    };
    assert.notEqual(h(['ab', 'c']), h(['a', 'bc']));
    assert.notEqual(h(['1']), h([1]));
    assert.equal(h(['ab', 3]), h(['ab', 3]));
    assert.deepEqual([...encodeField('hi')], [115, 0, 0, 0, 2, 104, 105]);
    // One event with no fields is the 4-byte count 0.
    assert.equal(h([]), createHash('sha256').update(new Uint8Array(4)).digest('hex'));
  });

  test('trace hashes every line but keeps only the window', () => {
    const a = new Trace({ fromEv: 2, toEv: 3 });
    const b = new Trace();
    for (let ev = 1; ev <= 5; ev++) {
      a.line(ev, `line ${ev}`);
      b.line(ev, `line ${ev}`);
    }
    assert.deepEqual(a.kept, ['line 2', 'line 3']);
    assert.equal(a.lines, 5);
    const da = a.digestHex();
    assert.equal(da, b.digestHex());
    assert.notEqual(combineHashes([da, 'x']), combineHashes(['x', da]));
  });
});
