import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { BootstrapEncryptionRequest, RotateDekRequest } from '../../src/admin/handlers.ts';
import {
  checkAddress,
  validateAddLearner,
  validateBootstrap,
  validateEnableEnvelope,
  validateRegisterWriter,
  validateResyncSidecar,
  validateRotateDek,
} from '../../src/admin/validate.ts';
import { Err } from '../../src/util/codes.ts';
import { isSealError } from '../../src/util/errors.ts';

const blob = new Uint8Array(60).fill(1);

function bootstrap(over: Partial<BootstrapEncryptionRequest> = {}): BootstrapEncryptionRequest {
  return {
    wrappedStorageDek: blob,
    wrappedRaftDek: blob,
    storageDekId: 1,
    raftDekId: 2,
    writerBatch: [
      { fullNodeId: 0x10001n, localEpoch: 0 },
      { fullNodeId: 0x10002n, localEpoch: 0 },
    ],
    ...over,
  };
}

function rotate(over: Partial<RotateDekRequest> = {}): RotateDekRequest {
  return {
    purpose: 'STORAGE',
    wrappedNewDek: blob,
    newDekId: 3,
    proposerNodeId: 5n,
    proposerLocalEpoch: 0,
    ...over,
  };
}

function throwsErr(run: () => void, code: string, pattern?: RegExp): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(isSealError(e, code), `want ${code}, got ${String(e)}`);
    if (pattern !== undefined) assert.match(e.message, pattern);
    return true;
  });
}

describe('validateBootstrap (encryption.md §8.5)', () => {
  test('accepts a well-formed request', () => {
    validateBootstrap(bootstrap());
  });

  test('zero ids are reserved; equal ids are invalid (scenario 25)', () => {
    throwsErr(() => validateBootstrap(bootstrap({ storageDekId: 0 })), Err.ReservedKeyID);
    throwsErr(() => validateBootstrap(bootstrap({ raftDekId: 0 })), Err.ReservedKeyID);
    throwsErr(() => validateBootstrap(bootstrap({ raftDekId: 1 })), Err.InvalidArgument, /must differ/);
  });

  test('blobs must be non-empty and at most 4096 bytes (scenario 33)', () => {
    throwsErr(
      () => validateBootstrap(bootstrap({ wrappedStorageDek: new Uint8Array(0) })),
      Err.InvalidArgument,
    );
    throwsErr(
      () => validateBootstrap(bootstrap({ wrappedRaftDek: new Uint8Array(4097) })),
      Err.InvalidArgument,
      /4097/,
    );
    validateBootstrap(bootstrap({ wrappedRaftDek: new Uint8Array(4096) }));
  });

  test('writer batch: non-empty, bounded, non-zero ids, epoch range then exactly 0', () => {
    throwsErr(() => validateBootstrap(bootstrap({ writerBatch: [] })), Err.InvalidArgument, /empty/);
    const big = Array.from({ length: 8193 }, (_, i) => ({ fullNodeId: BigInt(i + 1), localEpoch: 0 }));
    throwsErr(() => validateBootstrap(bootstrap({ writerBatch: big })), Err.InvalidArgument, /8193/);
    throwsErr(
      () => validateBootstrap(bootstrap({ writerBatch: [{ fullNodeId: 0n, localEpoch: 0 }] })),
      Err.InvalidArgument,
      /full_node_id/,
    );
    // Scenario 29: 65536 is out of range, not "non-zero".
    throwsErr(
      () => validateBootstrap(bootstrap({ writerBatch: [{ fullNodeId: 9n, localEpoch: 65536 }] })),
      Err.LocalEpochOutOfRange,
    );
    throwsErr(
      () => validateBootstrap(bootstrap({ writerBatch: [{ fullNodeId: 9n, localEpoch: 1 }] })),
      Err.InvalidArgument,
      /epoch 0/,
    );
  });

  test('duplicate full ids and 16-bit collisions are invalid (scenario 28)', () => {
    const dup = [
      { fullNodeId: 9n, localEpoch: 0 },
      { fullNodeId: 9n, localEpoch: 0 },
    ];
    throwsErr(() => validateBootstrap(bootstrap({ writerBatch: dup })), Err.InvalidArgument, /twice/);
    const clash = [
      { fullNodeId: 0x1_0000_abcdn, localEpoch: 0 },
      { fullNodeId: 0x2_0000_abcdn, localEpoch: 0 },
    ];
    throwsErr(
      () => validateBootstrap(bootstrap({ writerBatch: clash })),
      Err.InvalidArgument,
      /node_id16 43981/,
    );
  });

  test('property: a batch is accepted iff its full ids and their low 16 bits are distinct', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), { minLength: 1, maxLength: 20 }),
        (ids) => {
          const batch = ids.map((fullNodeId) => ({ fullNodeId, localEpoch: 0 }));
          const distinct = new Set(ids.map((i) => i & 0xffffn)).size === ids.length;
          let ok = true;
          try {
            validateBootstrap(bootstrap({ writerBatch: batch }));
          } catch (e) {
            assert.ok(isSealError(e, Err.InvalidArgument));
            ok = false;
          }
          assert.equal(ok, distinct);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('validateRotateDek', () => {
  test('accepts STORAGE and RAFT', () => {
    validateRotateDek(rotate());
    validateRotateDek(rotate({ purpose: 'RAFT' }));
  });

  test('rejects UNSPECIFIED and proposer 0 (scenario 31), bad ids, blobs and epochs', () => {
    throwsErr(() => validateRotateDek(rotate({ purpose: 'UNSPECIFIED' })), Err.InvalidArgument, /purpose/);
    throwsErr(
      () => validateRotateDek(rotate({ proposerNodeId: 0n })),
      Err.InvalidArgument,
      /proposer_node_id/,
    );
    throwsErr(() => validateRotateDek(rotate({ newDekId: 0 })), Err.ReservedKeyID);
    throwsErr(() => validateRotateDek(rotate({ wrappedNewDek: new Uint8Array(4097) })), Err.InvalidArgument);
    throwsErr(() => validateRotateDek(rotate({ proposerLocalEpoch: 0x10000 })), Err.LocalEpochOutOfRange);
  });
});

describe('validateRegisterWriter', () => {
  const w = { fullNodeId: 77n, localEpoch: 3 };
  test('exactly one writer (scenario 32)', () => {
    validateRegisterWriter({ dekId: 1, writers: [w] });
    throwsErr(() => validateRegisterWriter({ dekId: 1, writers: [] }), Err.InvalidArgument, /exactly one/);
    throwsErr(
      () => validateRegisterWriter({ dekId: 1, writers: [w, w] }),
      Err.InvalidArgument,
      /exactly one/,
    );
  });

  test('dek id, node id and epoch ranges', () => {
    throwsErr(() => validateRegisterWriter({ dekId: 0, writers: [w] }), Err.ReservedKeyID);
    throwsErr(
      () => validateRegisterWriter({ dekId: 1, writers: [{ ...w, fullNodeId: 0n }] }),
      Err.InvalidArgument,
    );
    throwsErr(
      () => validateRegisterWriter({ dekId: 1, writers: [{ ...w, localEpoch: 70000 }] }),
      Err.LocalEpochOutOfRange,
    );
    validateRegisterWriter({ dekId: 1, writers: [{ ...w, localEpoch: 0xffff }] });
  });
});

describe('cutovers, resync and cluster requests', () => {
  test('enable-*-envelope needs a proposer and an epoch in range', () => {
    validateEnableEnvelope({ proposerNodeId: 1n, proposerLocalEpoch: 0xffff });
    throwsErr(
      () => validateEnableEnvelope({ proposerNodeId: 0n, proposerLocalEpoch: 0 }),
      Err.InvalidArgument,
    );
    throwsErr(
      () => validateEnableEnvelope({ proposerNodeId: 1n, proposerLocalEpoch: 0x10000 }),
      Err.LocalEpochOutOfRange,
    );
  });

  test('resync needs a caller id', () => {
    validateResyncSidecar({ callerFullNodeId: (1n << 64n) - 1n });
    throwsErr(() => validateResyncSidecar({ callerFullNodeId: 0n }), Err.InvalidArgument);
  });

  test('addresses and member ids', () => {
    checkAddress('a', '127.0.0.1:50051');
    checkAddress('a', '[::1]:1');
    checkAddress('a', 'node-3.internal:65535');
    for (const bad of ['', '127.0.0.1', ':80', 'h:0', 'h:65536', 'h :1', 'h:x']) {
      throwsErr(() => checkAddress('a', bad), Err.InvalidArgument);
    }
    validateAddLearner({ id: 'n4', raftAddr: 'h:1', adminAddr: 'h:2' });
    throwsErr(() => validateAddLearner({ id: '', raftAddr: 'h:1', adminAddr: 'h:2' }), Err.InvalidArgument);
    throwsErr(() => validateAddLearner({ id: 'n4', raftAddr: 'h:1', adminAddr: '' }), Err.InvalidArgument);
  });
});
