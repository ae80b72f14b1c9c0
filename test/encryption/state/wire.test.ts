import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeBootstrap,
  decodeRegistration,
  decodeRotation,
  encodeBootstrap,
  encodeRegistration,
  encodeRotation,
  type RotationSubtag,
  type WriterRow,
} from '../../../src/encryption/wire/fsm.ts';
import { concatBytes, toHex, u32be } from '../../../src/util/bytes.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

const code = (c: string) => (e: unknown) => isSealError(e, c);

const rowArb: fc.Arbitrary<WriterRow> = fc.record(
  {
    dekId: fc.nat({ max: 0xffffffff }),
    fullNodeId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    localEpoch: fc.nat(0xffff),
  },
  { noNullPrototype: true },
);
const blobArb = fc.uint8Array({ maxLength: 80 });
const bootArb = fc.record(
  {
    storageId: fc.nat({ max: 0xffffffff }),
    storageWrapped: blobArb,
    raftId: fc.nat({ max: 0xffffffff }),
    raftWrapped: blobArb,
    rows: fc.array(rowArb, { maxLength: 6 }),
  },
  { noNullPrototype: true },
);
const rotArb = fc.record(
  {
    subtag: fc.constantFrom<RotationSubtag>(0x01, 0x04, 0x05),
    dekId: fc.nat({ max: 0xffffffff }),
    purpose: fc.constantFrom<1 | 2>(1, 2),
    wrapped: blobArb,
    proposer: rowArb,
  },
  { noNullPrototype: true },
);

type Case = { name: string; arb: fc.Arbitrary<Uint8Array>; decode: (b: Uint8Array) => unknown };
const cases: Case[] = [
  { name: 'registration', arb: rowArb.map(encodeRegistration), decode: decodeRegistration },
  { name: 'bootstrap', arb: bootArb.map(encodeBootstrap), decode: decodeBootstrap },
  { name: 'rotation', arb: rotArb.map(encodeRotation), decode: decodeRotation },
];

describe('FSM wire codecs (§6.2)', () => {
  test('round trips', () => {
    fc.assert(
      fc.property(rowArb, (r) => assert.deepEqual(decodeRegistration(encodeRegistration(r)), r)),
      {
        numRuns: 150,
      },
    );
    fc.assert(
      fc.property(bootArb, (b) => assert.deepEqual(decodeBootstrap(encodeBootstrap(b)), b)),
      {
        numRuns: 150,
      },
    );
    fc.assert(
      fc.property(rotArb, (r) => assert.deepEqual(decodeRotation(encodeRotation(r)), r)),
      {
        numRuns: 150,
      },
    );
  });

  test('registration layout: exactly 16 bytes', () => {
    const b = encodeRegistration({ dekId: 0x0a0b0c0d, fullNodeId: 0x1122334455667788n, localEpoch: 0x0102 });
    assert.equal(toHex(b), '03010a0b0c0d11223344556677880102');
  });

  test('rotation layout', () => {
    const b = encodeRotation({
      subtag: 0x04,
      dekId: 7,
      purpose: 1,
      wrapped: new Uint8Array(),
      proposer: { dekId: 7, fullNodeId: 1n, localEpoch: 2 },
    });
    assert.equal(toHex(b), '05010400000007010000000000000007' + '00000000000000010002');
    assert.deepEqual(decodeRotation(b).wrapped, new Uint8Array());
  });

  for (const c of cases) {
    test(`${c.name}: every truncation and every trailing byte is ErrFSMWireMalformed`, () => {
      fc.assert(
        fc.property(c.arb, fc.uint8Array({ minLength: 1, maxLength: 4 }), (full, extra) => {
          for (let n = 0; n < full.length; n++) {
            assert.throws(() => c.decode(full.subarray(0, n)), code(Err.FSMWireMalformed), `prefix ${n}`);
          }
          assert.throws(() => c.decode(concatBytes(full, extra)), code(Err.FSMWireMalformed), 'trailing');
        }),
        { numRuns: 100 },
      );
    });

    test(`${c.name}: a wire version other than 0x01 is ErrFSMWireVersion; bare opcode is malformed`, () => {
      fc.assert(
        fc.property(c.arb, fc.integer({ min: 0, max: 255 }), (full, v) => {
          fc.pre(v !== 1);
          const b = Uint8Array.from(full);
          b[1] = v;
          assert.throws(() => c.decode(b), code(Err.FSMWireVersion));
        }),
        { numRuns: 50 },
      );
      assert.throws(() => c.decode(new Uint8Array(0)), code(Err.FSMWireMalformed));
    });
  }

  test('rotation sub-tags: 0x02/0x03 reserved and anything unknown → ErrFSMWireSubtag', () => {
    const base = encodeRotation({
      subtag: 0x01,
      dekId: 7,
      purpose: 1,
      wrapped: new Uint8Array(60),
      proposer: { dekId: 7, fullNodeId: 1n, localEpoch: 2 },
    });
    for (let t = 0; t < 256; t++) {
      const b = Uint8Array.from(base);
      b[2] = t;
      if (t === 1 || t === 4 || t === 5) assert.equal(decodeRotation(b).subtag, t);
      else assert.throws(() => decodeRotation(b), code(Err.FSMWireSubtag), `0x${t.toString(16)}`);
    }
  });

  test('rotation purpose other than 1/2 is malformed', () => {
    const base = encodeRotation({
      subtag: 0x01,
      dekId: 7,
      purpose: 2,
      wrapped: new Uint8Array(3),
      proposer: { dekId: 7, fullNodeId: 1n, localEpoch: 2 },
    });
    for (const p of [0, 3, 255]) {
      const b = Uint8Array.from(base);
      b[7] = p;
      assert.throws(() => decodeRotation(b), code(Err.FSMWireMalformed), `${p}`);
    }
  });

  test('bootstrap: count > 16384 or 14×count > remaining fails before allocating', () => {
    const head = encodeBootstrap({
      storageId: 1,
      storageWrapped: new Uint8Array(2),
      raftId: 2,
      raftWrapped: new Uint8Array(2),
      rows: [],
    }).subarray(0, -4);
    assert.throws(() => decodeBootstrap(concatBytes(head, u32be(0xffffffff))), code(Err.FSMWireMalformed));
    assert.throws(
      () => decodeBootstrap(concatBytes(head, u32be(16385), new Uint8Array(14 * 16385))),
      /exceeds/,
    );
    assert.throws(() => decodeBootstrap(concatBytes(head, u32be(16384), new Uint8Array(14))), /needs/);
    const ok = decodeBootstrap(concatBytes(head, u32be(16384), new Uint8Array(14 * 16384)));
    assert.equal(ok.rows.length, 16384);
  });

  test('a wrapped length beyond the payload is malformed, not an allocation', () => {
    const b = concatBytes(Uint8Array.of(0x04, 0x01), u32be(1), u32be(0xfffffff0), new Uint8Array(10));
    assert.throws(() => decodeBootstrap(b), code(Err.FSMWireMalformed));
  });

  test('encoders reject out-of-range fields', () => {
    assert.throws(
      () => encodeRegistration({ dekId: 2 ** 32, fullNodeId: 1n, localEpoch: 0 }),
      code(Err.FSMWireMalformed),
    );
    assert.throws(
      () => encodeRegistration({ dekId: 1, fullNodeId: 2n ** 64n, localEpoch: 0 }),
      code(Err.FSMWireMalformed),
    );
    assert.throws(
      () => encodeRegistration({ dekId: 1, fullNodeId: 1n, localEpoch: 0x10000 }),
      code(Err.FSMWireMalformed),
    );
  });
});
