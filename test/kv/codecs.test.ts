import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeProposal, encodeProposal } from '../../src/kv/proposal.ts';
import { decodeRequests, encodeRequests, type Request, type WriteOp } from '../../src/kv/request.ts';
import { isSealError } from '../../src/util/errors.ts';

const bytes = fc.uint8Array({ maxLength: 40 });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const op: fc.Arbitrary<WriteOp> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: bytes, value: bytes, expireAtMs: u64 }),
  fc.record({ kind: fc.constant('delete' as const), key: bytes }),
  fc.constant({ kind: 'flush' as const }),
);
const request: fc.Arbitrary<Request> = fc.record(
  {
    requestId: u64,
    priorAt: fc.array(u64, { minLength: 1, maxLength: 8 }),
    commitTs: u64,
    readTs: u64,
    reads: fc.array(bytes, { maxLength: 4 }),
    ops: fc.array(op, { maxLength: 4 }),
  },
  { requiredKeys: ['requestId', 'commitTs', 'readTs', 'reads', 'ops'] },
);
const requests = fc.array(request, { minLength: 1, maxLength: 4 });

function plain(rs: Request[]): unknown {
  return JSON.parse(
    JSON.stringify(rs, (_k, v) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? [...v] : v,
    ),
  );
}

test('user request payloads round-trip', () => {
  fc.assert(
    fc.property(requests, (rs) => assert.deepEqual(plain(decodeRequests(encodeRequests(rs))), plain(rs))),
  );
});

test('every truncation and every trailing byte is rejected', () => {
  fc.assert(
    fc.property(requests, fc.nat(), fc.integer({ min: 0, max: 255 }), (rs, cut, extra) => {
      const enc = encodeRequests(rs);
      const short = enc.subarray(0, cut % enc.length);
      assert.throws(
        () => decodeRequests(short),
        (e) => isSealError(e),
      );
      const long = new Uint8Array(enc.length + 1);
      long.set(enc);
      long[enc.length] = extra;
      assert.throws(
        () => decodeRequests(long),
        (e) => isSealError(e, 'ErrFSMWireMalformed'),
      );
    }),
    { numRuns: 200 },
  );
});

test('a huge count is refused before allocation', () => {
  const p = Uint8Array.of(0x01, 0x01, 0xff, 0xff, 0xff, 0xff);
  assert.throws(
    () => decodeRequests(p),
    (e) => isSealError(e, 'ErrFSMWireMalformed'),
  );
});

test('more earlier attempts than a request may name are refused both ways', () => {
  const r: Request = { requestId: 1n, commitTs: 2n, readTs: 0n, reads: [], ops: [] };
  assert.throws(
    () => encodeRequests([{ ...r, priorAt: Array.from({ length: 9 }, (_, i) => BigInt(i)) }]),
    (e) => isSealError(e, 'ErrInvalidArgument'),
  );
  const enc = encodeRequests([r]);
  enc[10] = 9; // the attempt count after the opcode, version and requestId
  assert.throws(
    () => decodeRequests(enc),
    (e) => isSealError(e, 'ErrFSMWireMalformed'),
  );
});

test('a wrong wire version is named', () => {
  assert.throws(
    () => decodeRequests(Uint8Array.of(0x00, 0x02)),
    (e) => isSealError(e, 'ErrFSMWireVersion'),
  );
});

test('proposal header: round trip, term-start entry, malformed data', () => {
  fc.assert(
    fc.property(u64, bytes, (id, body) => {
      const d = decodeProposal(encodeProposal(id, body));
      assert.equal(d?.proposalId, id);
      assert.deepEqual([...d!.body], [...body]);
    }),
  );
  assert.equal(decodeProposal(new Uint8Array(0)), undefined);
  for (const bad of [Uint8Array.of(1, 2, 3), Uint8Array.of(2, 0, 0, 0, 0, 0, 0, 0, 0)]) {
    assert.throws(
      () => decodeProposal(bad),
      (e) => isSealError(e, 'ErrProposalHeaderMalformed'),
    );
  }
});
