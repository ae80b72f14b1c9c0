import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeMessage, encodeMessage } from '../../../src/raft/codec.ts';
import { type Message, type MessageType, makeMessage } from '../../../src/raft/core/messages.ts';
import { EntryType } from '../../../src/raft/core/types.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

const TYPES: MessageType[] = [
  'App',
  'AppResp',
  'Vote',
  'VoteResp',
  'PreVote',
  'PreVoteResp',
  'Heartbeat',
  'HeartbeatResp',
  'Snap',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResp',
];

const num = fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
const id = fc.string({ maxLength: 12 });
const bytes = fc.uint8Array({ maxLength: 64 });
const entry = fc.record({
  term: num,
  index: num,
  type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange),
  data: bytes,
});
const snapshot = fc.record({
  meta: fc.record({
    index: num,
    term: num,
    conf: fc.record({ voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }) }),
  }),
  data: bytes,
});
const message: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...TYPES),
    from: id,
    to: id,
    term: num,
    logTerm: num,
    index: num,
    entries: fc.array(entry, { maxLength: 5 }),
    commit: num,
    reject: fc.boolean(),
    hintIndex: num,
    hintTerm: num,
    round: num,
    transfer: fc.boolean(),
    noAck: fc.boolean(),
    context: fc.option(bytes, { nil: undefined }),
    snapshot: fc.option(snapshot, { nil: undefined }),
  })
  .map((raw) => {
    // fast-check may build null-prototype records; compare plain objects.
    const m = structuredClone(raw);
    const out: Message = { ...m };
    if (m.context === undefined) delete out.context;
    if (m.snapshot === undefined) delete out.snapshot;
    return out;
  });

function expectMalformed(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => isSealError(e, Err.RaftMessageMalformed));
}

describe('raft message codec', () => {
  test('round-trips every field of every message type', () => {
    fc.assert(
      fc.property(message, (m) => {
        assert.deepStrictEqual(decodeMessage(encodeMessage(m)), m);
      }),
      { numRuns: 300 },
    );
  });

  test('every strict prefix is refused with a typed error', () => {
    fc.assert(
      fc.property(message, (m) => {
        const b = encodeMessage(m);
        for (let n = 0; n < b.length; n++) expectMalformed(() => decodeMessage(b.subarray(0, n)));
      }),
      { numRuns: 60 },
    );
  });

  test('trailing bytes are refused', () => {
    fc.assert(
      fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 8 }), (m, extra) => {
        const b = encodeMessage(m);
        const longer = new Uint8Array(b.length + extra.length);
        longer.set(b);
        longer.set(extra, b.length);
        expectMalformed(() => decodeMessage(longer));
      }),
      { numRuns: 100 },
    );
  });

  test('random bytes never decode into anything but a message or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        try {
          decodeMessage(b);
        } catch (e) {
          assert.ok(isSealError(e, Err.RaftMessageMalformed), String(e));
        }
      }),
      { numRuns: 300 },
    );
  });

  test('bad version, type, flags, entry type, varints and lengths are named', () => {
    const m = makeMessage({ type: 'App', from: '1', to: '2', term: 3, entries: [] });
    const good = encodeMessage(m);
    const bad = (mutate: (b: Uint8Array) => void) => {
      const b = good.slice();
      mutate(b);
      expectMalformed(() => decodeMessage(b));
    };
    bad((b) => {
      b[0] = 2;
    });
    bad((b) => {
      b[1] = 12;
    });
    bad((b) => {
      b[2] = 32;
    });
    // Non-minimal varint: term 3 written as 0x83 0x00.
    const nonMinimal = new Uint8Array([...good.subarray(0, 3), 0x83, 0x00, ...good.subarray(4)]);
    expectMalformed(() => decodeMessage(nonMinimal));
    // A varint above 2^53.
    const huge = new Uint8Array([...good.subarray(0, 3), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    expectMalformed(() => decodeMessage(huge));
    const withEntry = encodeMessage({
      ...m,
      entries: [{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array([9]) }],
    });
    const typeAt = withEntry.length - 3; // index, term, type, len, data
    const broken = withEntry.slice();
    broken[typeAt] = 7;
    expectMalformed(() => decodeMessage(broken));
    // An entry count far beyond the bytes present.
    const count = encodeMessage(m).slice();
    count[count.length - 1] = 0x7f;
    expectMalformed(() => decodeMessage(count));
  });

  test('a 100-entry MsgApp costs little beyond its payload', () => {
    const entries = Array.from({ length: 100 }, (_, i) => ({
      index: 1_000_000 + i,
      term: 7,
      type: EntryType.Normal,
      data: new Uint8Array(100),
    }));
    const b = encodeMessage(makeMessage({ type: 'App', from: 'n1', to: 'n2', term: 7, entries }));
    assert.ok(b.length < 100 * 100 + 100 * 7 + 40, `encoded ${b.length} bytes`);
  });
});
