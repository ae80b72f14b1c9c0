import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EncryptionApplier, isApplyHalt } from '../../../src/encryption/applier/index.ts';
import { Keystore } from '../../../src/encryption/keystore.ts';
import { decodeRegistryValue, nodeId16, registryKey } from '../../../src/encryption/registry/codec.ts';
import { MemoryRegistryStore } from '../../../src/encryption/registry/store.ts';
import { parseSidecar, type Sidecar } from '../../../src/encryption/sidecar/schema.ts';
import { encodeBootstrap, encodeRotation } from '../../../src/encryption/wire/fsm.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';
import {
  A,
  A2,
  B,
  boot,
  C,
  dekFor,
  enableRaft,
  enableStorage,
  kek,
  reg,
  rotate,
  TestKek,
  TestNode,
  wrappedFor,
} from './helpers.ts';

const halt = (inner: string) => (e: unknown) => isApplyHalt(e, inner);
const sidecarOf = (n: TestNode): Sidecar => parseSidecar(n.fs.readFile(n.path)!);
const rowOf = (n: TestNode, dek: number, full: bigint) => {
  const v = n.registry.get(registryKey(dek, nodeId16(full)));
  return v === undefined ? undefined : decodeRegistryValue(v);
};
const epochs = (s: Sidecar) => [...s.keys].map(([id, k]) => [id, k.localEpoch]);

async function runOk(n: TestNode, log: Uint8Array[]): Promise<void> {
  const e = await n.run(log);
  if (e !== undefined) throw e;
}

describe('applier construction (§7.1)', () => {
  test('a missing or non-persistent registry store is refused', () => {
    const refused = (e: unknown) => isSealError(e, Err.UnsupportedStoreForWriterRegistry);
    assert.throws(() => new EncryptionApplier({}), refused);
    assert.throws(
      () => new EncryptionApplier({ registry: new MemoryRegistryStore({ persistent: false }) }),
      refused,
    );
  });

  test('registration needs only the registry; bootstrap/rotation need KEK, keystore and sidecar path', async () => {
    const registry = new MemoryRegistryStore();
    const a = new EncryptionApplier({ registry });
    assert.deepEqual(await a.applyEntry(1n, reg(1, A, 3)), { op: 'registration', effect: 'applied' });
    await assert.rejects(a.applyEntry(2n, boot(1, 2)), halt(Err.KEKNotConfigured));
    await assert.rejects(a.applyEntry(2n, rotate('storage', 3)), halt(Err.KEKNotConfigured));
    const noPath = new EncryptionApplier({ registry, kek, keystore: new Keystore() });
    await assert.rejects(noPath.applyEntry(2n, enableStorage(1)), halt(Err.KEKNotConfigured));
  });
});

describe('registration (§7.2)', () => {
  test('scenario 16/17 through the applier; halts leave the applied index alone', async () => {
    const n = new TestNode();
    const log = [reg(1, A, 3), reg(1, A, 3), reg(1, A, 7)];
    await runOk(n, log);
    assert.deepEqual(rowOf(n, 1, A), { fullNodeId: A, firstSeenEpoch: 3, lastSeenEpoch: 7 });
    assert.equal(n.registry.registryIndex(), 3n);
    assert.equal(n.sidecarIndex, 0n, 'registrations never touch the sidecar');
    assert.equal(n.fs.files.size, 0);
    assert.ok(halt(Err.LocalEpochRollback)(await n.run([...log, reg(1, A, 5)])));
    assert.equal(n.appliedIndex, 3n);
    assert.ok(halt(Err.WriterUint16Collision)(await n.run([...log, reg(1, A2, 9)])));
    assert.equal(n.appliedIndex, 3n);
    assert.deepEqual(rowOf(n, 1, A), { fullNodeId: A, firstSeenEpoch: 3, lastSeenEpoch: 7 });
  });

  test('scenario 24: crash after committed registrations, before the applied index is durable → replay, no halt', async () => {
    const n = new TestNode();
    const log = [reg(1, A, 3), reg(1, A, 7), reg(2, B, 1)];
    await runOk(n, log);
    const before = n.state();
    n.appliedIndex = 0n;
    n.restart();
    await runOk(n, log);
    assert.deepEqual(n.state(), before);
  });

  test('a corrupt stored row halts with ErrRegistryValueMalformed', async () => {
    const n = new TestNode();
    n.registry.putRaw(registryKey(1, nodeId16(A)), new Uint8Array(5));
    assert.ok(halt(Err.RegistryValueMalformed)(await n.run([reg(1, A, 0)])));
  });
});

describe('bootstrap (§7.3)', () => {
  test('fresh: keys, six rows at epoch 0, sidecar at epoch 0, cache, sidecar-index', async () => {
    const n = new TestNode();
    const out = await n.applier.applyEntry(5n, boot(1, 2));
    assert.deepEqual(out, { op: 'bootstrap', effect: 'applied', sidecarIndex: 5n });
    const s = sidecarOf(n);
    assert.deepEqual(s.active, { storage: 1, raft: 2 });
    assert.equal(s.raftAppliedIndex, 5n);
    assert.deepEqual(epochs(s), [
      [1, 0],
      [2, 0],
    ]);
    assert.equal(s.keys.get(1)?.created, '2023-11-14T22:13:20Z');
    assert.deepEqual(kek.unwrap(s.keys.get(2)!.wrapped), dekFor(2));
    assert.deepEqual(n.keystore.ids(), [1, 2]);
    for (const full of [A, B, C]) {
      for (const dek of [1, 2])
        assert.deepEqual(rowOf(n, dek, full), { fullNodeId: full, firstSeenEpoch: 0, lastSeenEpoch: 0 });
    }
    assert.equal(n.cache.activeStorage, 1);
    assert.equal(n.cache.storageEnvelopeActive, false);
  });

  test('scenario 30: a second, different bootstrap is a no-op (duplicate), no halt, no epoch reset', async () => {
    const n = new TestNode();
    await runOk(n, [boot(1, 2), reg(1, A, 4), rotate('storage', 3, A, 2)]);
    const before = sidecarOf(n);
    const rows = n.registry.dump();
    const out = await n.applier.applyEntry(4n, boot(7, 8, [A]));
    assert.equal(out.effect, 'duplicate');
    const after = sidecarOf(n);
    assert.equal(after.raftAppliedIndex, 4n);
    assert.deepEqual({ ...after, raftAppliedIndex: 0n }, { ...before, raftAppliedIndex: 0n });
    assert.deepEqual(n.registry.dump(), rows);
    assert.deepEqual(n.keystore.ids(), [1, 2, 3]);
  });

  test('pre-checks halt before any side effect', async () => {
    const bad = [
      [boot(1, 1), Err.InvalidArgument],
      [boot(0, 2), Err.ReservedKeyID],
      [encodeBootstrapWithStrayRow(), Err.InvalidArgument],
      [bootForeignRaftKey(), Err.KEKMismatch],
    ] as const;
    for (const [entry, inner] of bad) {
      const n = new TestNode();
      assert.ok(halt(inner)(await n.run([entry])), inner);
      assert.deepEqual(n.registry.dump(), []);
      assert.equal(n.fs.files.size, 0);
      assert.deepEqual(n.keystore.ids(), []);
    }
  });
});

function bootForeignRaftKey(): Uint8Array {
  return encodeBootstrap({
    storageId: 1,
    storageWrapped: wrappedFor(1),
    raftId: 2,
    raftWrapped: new TestKek(new Uint8Array(32).fill(9)).wrap(dekFor(2)),
    rows: [{ dekId: 1, fullNodeId: A, localEpoch: 0 }],
  });
}

function encodeBootstrapWithStrayRow(): Uint8Array {
  const b = boot(1, 2, [A]);
  // Last row's dek_id (4 bytes before full_node_id ‖ epoch) → 9.
  b.set([0, 0, 0, 9], b.length - 14);
  return b;
}

describe('rotation (§7.4-§7.7)', () => {
  test('rotate-dek moves the active slot, keeps old keys, uses the pinned epoch, writes the proposer row', async () => {
    const n = new TestNode();
    await runOk(n, [boot(1, 2), rotate('storage', 3, A, 2), rotate('raft', 4, B, 1)]);
    const s = sidecarOf(n);
    assert.deepEqual(s.active, { storage: 3, raft: 4 });
    assert.deepEqual(epochs(s), [
      [1, 0],
      [2, 0],
      [3, 2],
      [4, 1],
    ]);
    assert.deepEqual(rowOf(n, 3, A), { fullNodeId: A, firstSeenEpoch: 2, lastSeenEpoch: 2 });
    assert.deepEqual(rowOf(n, 4, B), { fullNodeId: B, firstSeenEpoch: 1, lastSeenEpoch: 1 });
    assert.deepEqual(n.keystore.ids(), [1, 2, 3, 4]);
    assert.equal(n.sidecarIndex, 3n);
    // Same id again (a retry): index advances only.
    const out = await n.applier.applyEntry(4n, rotate('storage', 3, A, 2));
    assert.equal(out.effect, 'duplicate');
    assert.deepEqual(sidecarOf(n).active, { storage: 3, raft: 4 });
    assert.equal(sidecarOf(n).raftAppliedIndex, 4n);
  });

  test('rotate-dek halts on a proposer row under another key or an unwrappable DEK', async () => {
    const mismatch = encodeRotation({
      subtag: 0x01,
      dekId: 3,
      purpose: 1,
      wrapped: wrappedFor(3),
      proposer: { dekId: 4, fullNodeId: A, localEpoch: 0 },
    });
    const n = new TestNode();
    await runOk(n, [boot(1, 2)]);
    assert.ok(halt(Err.InvalidArgument)(await n.run([boot(1, 2), mismatch])));
    const foreign = encodeRotation({
      subtag: 0x01,
      dekId: 3,
      purpose: 1,
      wrapped: new TestKek(new Uint8Array(32).fill(9)).wrap(dekFor(3)),
      proposer: { dekId: 3, fullNodeId: A, localEpoch: 0 },
    });
    assert.ok(halt(Err.KEKMismatch)(await n.run([boot(1, 2), foreign])));
    assert.equal(n.appliedIndex, 1n);
    assert.equal(rowOf(n, 3, A), undefined);
  });

  test('enable-storage-envelope: fresh, already active, stale, bad shape', async () => {
    const n = new TestNode();
    await runOk(n, [boot(1, 2), enableStorage(1, A, 0)]);
    let s = sidecarOf(n);
    assert.equal(s.storageEnvelopeActive, true);
    assert.equal(s.storageEnvelopeCutoverIndex, 2n);
    assert.equal(n.cache.storageEnvelopeActive, true);
    assert.equal((await n.applier.applyEntry(3n, enableStorage(1, A, 0))).effect, 'already-active');
    assert.equal((await n.applier.applyEntry(4n, enableStorage(2, A, 0))).effect, 'stale');
    s = sidecarOf(n);
    assert.equal(s.storageEnvelopeCutoverIndex, 2n);
    assert.equal(s.raftAppliedIndex, 4n);
    const shape = encodeRotation({
      subtag: 0x04,
      dekId: 1,
      purpose: 1,
      wrapped: new Uint8Array(1),
      proposer: { dekId: 1, fullNodeId: A, localEpoch: 0 },
    });
    await assert.rejects(n.applier.applyEntry(5n, shape), halt(Err.InvalidArgument));
    await assert.rejects(n.applier.applyEntry(5n, enableRaft(1).fill(0x04, 2, 3)), halt(Err.InvalidArgument));
  });

  test('the state cache is refreshed only after the sidecar write is durable', async () => {
    const n = new TestNode();
    await runOk(n, [boot(1, 2)]);
    n.crashAt = (p) => p === 'sidecar.beforeRename';
    n.restart();
    assert.ok(await n.run([boot(1, 2), enableStorage(1)]));
    assert.equal(n.cache.storageEnvelopeActive, false);
    n.crashAt = (p) => p === 'applier.afterSidecar';
    assert.ok(await n.run([boot(1, 2), enableStorage(1)]));
    assert.equal(n.cache.storageEnvelopeActive, false);
    assert.equal(sidecarOf(n).storageEnvelopeActive, true);
    n.crashAt = undefined;
    n.restart();
    assert.equal(n.cache.storageEnvelopeActive, true);
  });

  test('enable-storage-envelope racing a rotation is benign', async () => {
    const n = new TestNode();
    await runOk(n, [boot(1, 2), rotate('storage', 3), enableStorage(1)]);
    assert.equal(sidecarOf(n).storageEnvelopeActive, false);
    assert.equal(rowOf(n, 1, A)?.lastSeenEpoch, 0);
  });

  test('enable-raft-envelope: fresh installs, duplicate re-installs with the current key, raft rotation re-installs', async () => {
    const n = new TestNode();
    await runOk(n, [boot(1, 2), enableRaft(2, B, 0)]);
    assert.equal(sidecarOf(n).raftEnvelopeCutoverIndex, 2n);
    assert.deepEqual(n.installed, [2n, 2]);
    await runOk(n, [boot(1, 2), enableRaft(2, B, 0), rotate('raft', 4, A, 1)]);
    assert.deepEqual(n.installed, [2n, 4]);
    n.installed = undefined;
    await runOk(n, [boot(1, 2), enableRaft(2, B, 0), rotate('raft', 4, A, 1), enableRaft(2, B, 0)]);
    assert.deepEqual(n.installed, [2n, 4]);
    assert.equal(sidecarOf(n).raftEnvelopeCutoverIndex, 2n);
    await assert.rejects(n.applier.applyEntry(0n, enableRaft(4)), halt(Err.InvalidArgument));
  });

  test('enable-raft-envelope with a stale key before any cutover: index only, no installer', async () => {
    const n = new TestNode();
    await runOk(n, [boot(1, 2), enableRaft(1)]);
    assert.equal(sidecarOf(n).raftEnvelopeCutoverIndex, 0n);
    assert.equal(n.installed, undefined);
    assert.equal(sidecarOf(n).raftAppliedIndex, 2n);
  });
});

describe('halts (§6.1, §6.3)', () => {
  test('scenario 34: 0x06 halts, applied index unchanged; restart halts at the same index', async () => {
    const n = new TestNode();
    const log = [reg(1, A, 0), Uint8Array.of(0x06, 0x01)];
    const e = await n.run(log);
    assert.ok(halt(Err.EncryptionApply)(e));
    assert.equal(isSealError(e) && e.details.index, 2n);
    assert.equal(n.appliedIndex, 1n);
    n.restart();
    assert.ok(halt(Err.EncryptionApply)(await n.run(log)));
    assert.equal(n.appliedIndex, 1n);
    assert.ok(halt(Err.FSMOpcodeUnknown)(await n.run([reg(1, A, 0), Uint8Array.of(0x08)])));
    assert.ok(halt(Err.FSMOpcodeUnknown)(await n.run([reg(1, A, 0), new Uint8Array()])));
  });

  test('scenario 35: rotation sub-tag 0x02 halts ErrEncryptionApply', async () => {
    const n = new TestNode();
    const e = await n.run([boot(1, 2), rotate('storage', 3).fill(0x02, 2, 3)]);
    assert.ok(isSealError(e, Err.EncryptionApply));
    assert.equal(e.details.inner, Err.FSMWireSubtag);
    assert.equal(n.appliedIndex, 1n);
    assert.deepEqual(sidecarOf(n).active, { storage: 1, raft: 2 });
  });
});

describe('scenario 64: sidecar several entries ahead of the applied index', () => {
  test('restart replays them without halt; a later identical bootstrap changes nothing', async () => {
    const n = new TestNode();
    const log = [boot(1, 2), rotate('storage', 3, A, 2), reg(3, B, 1), reg(1, A, 5), enableStorage(3, A, 2)];
    await runOk(n, log);
    const s = sidecarOf(n);
    n.appliedIndex = 0n;
    n.restart();
    await runOk(n, log);
    assert.deepEqual(sidecarOf(n), s);
    const retried = [...log, boot(1, 2)];
    await runOk(n, retried);
    const after = sidecarOf(n);
    assert.deepEqual(after.active, s.active);
    assert.deepEqual(epochs(after), epochs(s));
    assert.equal(after.raftAppliedIndex, 6n);
    assert.equal(n.sidecarIndex, 6n);
  });
});
