import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ResyncSidecarResponse } from '../../src/admin/handlers.ts';
import { buildResyncedSidecar } from '../../src/admin/resync.ts';
import type { KekProvider } from '../../src/encryption/kek/provider.ts';
import { emptySidecar, type Sidecar } from '../../src/encryption/sidecar/schema.ts';
import { Err } from '../../src/util/codes.ts';
import { isSealError } from '../../src/util/errors.ts';

/** Accepts blobs whose first byte is 0xAA; unwraps to 32 bytes. */
const kek: KekProvider = {
  name: () => 'test',
  wrap: (d) => d,
  unwrap: (w) => {
    if (w[0] !== 0xaa) throw new Error('tag mismatch');
    return new Uint8Array(32);
  },
};
const good = new Uint8Array(60).fill(0xaa);

function response(over: Partial<ResyncSidecarResponse> = {}): ResyncSidecarResponse {
  return {
    wrappedDeksById: new Map([
      [1, good],
      [2, good],
      [3, good],
    ]),
    activeStorageId: 3,
    activeRaftId: 2,
    leaderLatestAppliedIndex: 99n,
    writerRegistryForCaller: new Map([
      [1, 4],
      [3, 0],
    ]),
    storageEnvelopeActive: true,
    storageEnvelopeCutoverIndex: 40n,
    raftEnvelopeCutoverIndex: 50n,
    purposeById: new Map([
      [1, 'storage'],
      [2, 'raft'],
      [3, 'storage'],
    ]),
    ...over,
  };
}

const local: Sidecar = {
  ...emptySidecar(),
  keys: new Map([
    [1, { purpose: 'storage', wrapped: good, created: '2020-01-01T00:00:00Z', localEpoch: 2 }],
    [2, { purpose: 'raft', wrapped: new Uint8Array(60), created: '2020-01-01T00:00:00Z', localEpoch: 9 }],
  ]),
  active: { storage: 1, raft: 2 },
};

describe('buildResyncedSidecar (encryption.md §12.6)', () => {
  test('copies the leader’s state; epoch = max(local, registry) + 1 per key', () => {
    const s = buildResyncedSidecar(response(), local, kek, Date.UTC(2026, 0, 2));
    assert.equal(s.raftAppliedIndex, 99n);
    assert.deepEqual(s.active, { storage: 3, raft: 2 });
    assert.equal(s.storageEnvelopeActive, true);
    assert.equal(s.storageEnvelopeCutoverIndex, 40n);
    assert.equal(s.raftEnvelopeCutoverIndex, 50n);
    assert.deepEqual(
      [...s.keys].map(([id, k]) => [id, k.purpose, k.localEpoch, k.created]),
      [
        [1, 'storage', 5, '2020-01-01T00:00:00Z'],
        [2, 'raft', 10, '2026-01-02T00:00:00Z'],
        [3, 'storage', 1, '2026-01-02T00:00:00Z'],
      ],
    );
  });

  test('refuses a blob the local KEK cannot unwrap, naming the key', () => {
    const bad = response({
      wrappedDeksById: new Map([
        [1, good],
        [2, new Uint8Array(60)],
        [3, good],
      ]),
    });
    assert.throws(
      () => buildResyncedSidecar(bad, undefined, kek, 0),
      (e: unknown) => isSealError(e, Err.KEKMismatch) && /key 2/.test(e.message),
    );
  });

  test('epoch exhaustion, out-of-range registry values and bad purposes', () => {
    const exhausted = response({ writerRegistryForCaller: new Map([[1, 0xffff]]) });
    assert.throws(
      () => buildResyncedSidecar(exhausted, undefined, kek, 0),
      (e: unknown) => isSealError(e, Err.LocalEpochExhausted),
    );
    const huge = response({ writerRegistryForCaller: new Map([[1, 0x10000]]) });
    assert.throws(
      () => buildResyncedSidecar(huge, undefined, kek, 0),
      (e: unknown) => isSealError(e, Err.LocalEpochOutOfRange),
    );
    const purpose = response({
      purposeById: new Map([
        [1, 'storage'],
        [2, 'raft'],
      ]),
    });
    assert.throws(
      () => buildResyncedSidecar(purpose, undefined, kek, 0),
      (e: unknown) => isSealError(e, Err.SidecarPurpose),
    );
  });
});
