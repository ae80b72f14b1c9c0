import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import {
  bumpEpochs,
  checkAllGuards,
  type GuardStatus,
  runPostReplayGuards,
  runStartupGuards,
  type StartupInputs,
} from '../../../src/encryption/guards/index.ts';
import { FileKekProvider } from '../../../src/encryption/kek/file-provider.ts';
import { Keystore } from '../../../src/encryption/keystore.ts';
import { writeSidecarFile } from '../../../src/encryption/sidecar/file.ts';
import { nodeSidecarFs } from '../../../src/encryption/sidecar/fs.ts';
import { probeSidecarFilesystem } from '../../../src/encryption/sidecar/probe.ts';
import { EncryptionStateCache } from '../../../src/encryption/state-cache.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { collidingIds, Fixture, makeSidecar, RAFT_ID, STORAGE_ID, writeKek } from './helpers.ts';

let fx: Fixture;
const fresh = (): Fixture => {
  fx = new Fixture();
  return fx;
};
afterEach(() => fx?.cleanup());

/** Asserts the run refuses with `code` at `guard`; returns the error. */
function refuses(
  inputs: StartupInputs,
  code: string,
  guard: string,
): Error & { details: Record<string, unknown> } {
  try {
    runStartupGuards(inputs);
  } catch (e) {
    assert.ok(isSealError(e), `not a SealError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.details.guard, guard, e.message);
    assert.ok(e.message.includes(code), 'the message names the error');
    return e as Error & { details: Record<string, unknown> };
  }
  assert.fail(`expected ${code} from ${guard}, but start-up passed`);
}

function epochOnDisk(f: Fixture, id: number): number {
  return f.readSidecar()!.keys.get(id)!.localEpoch;
}

describe('happy paths and guard #11 (hydrate + bump)', () => {
  test('Phase 1: loads every key, bumps and persists the storage epoch, raft epoch stays', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 4, raftEpoch: 2 });
    f.registry.put(STORAGE_ID, 'n1', 0, 4);
    f.registry.index = 10n;
    const r = runStartupGuards(f.inputs());
    assert.deepEqual(r.pinned, { storage: 5, raft: 0 });
    assert.equal(epochOnDisk(f, STORAGE_ID), 5);
    assert.equal(epochOnDisk(f, RAFT_ID), 2);
    assert.deepEqual(f.keystore.ids(), [STORAGE_ID, RAFT_ID]);
    const s = f.readSidecar()!;
    for (const id of [STORAGE_ID, RAFT_ID]) {
      assert.deepEqual(
        Buffer.from(f.keystore.get(id)!.dek),
        Buffer.from(f.kek.unwrap(s.keys.get(id)!.wrapped)),
      );
    }
    assert.equal(f.stateCache.activeStorage, STORAGE_ID);
    assert.equal(f.stateCache.storageEnvelopeActive, true);
    assert.deepEqual(f.installs, []);
  });

  test('Phase 2: the raft epoch is bumped too and the wrap installer gets the cutover and raft key', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 1, raftEpoch: 7, cutover: 50n });
    f.registry.put(STORAGE_ID, 'n1', 0, 1);
    const r = runStartupGuards(f.inputs());
    assert.deepEqual(r.pinned, { storage: 2, raft: 8 });
    assert.equal(epochOnDisk(f, RAFT_ID), 8);
    assert.deepEqual(f.installs, [[50n, RAFT_ID]]);
  });

  test('no sidecar and no store: pinned epochs 0, nothing written', () => {
    const f = fresh();
    const r = runStartupGuards(f.inputs({ openRegistryView: () => undefined }));
    assert.deepEqual(r.pinned, { storage: 0, raft: 0 });
    assert.equal(f.readSidecar(), undefined);
    assert.equal(f.stateCache.activeStorage, 0);
  });

  test('encryption off, no sidecar path: every guard passes', () => {
    const f = fresh();
    const r = runStartupGuards(
      f.inputs({ flags: { id: 'n1', encryptionEnabled: false, kekFile: undefined, sidecarPath: undefined } }),
    );
    assert.deepEqual(r.pinned, { storage: 0, raft: 0 });
  });

  test('repeated start-ups pin strictly increasing epochs', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 0, raftEpoch: 0, cutover: 30n });
    f.registry.put(STORAGE_ID, 'n1', 0, 0);
    const seen: number[][] = [];
    for (let i = 0; i < 4; i++) {
      const r = runStartupGuards(f.inputs({ keystore: new Keystore() }));
      seen.push([r.pinned.storage, r.pinned.raft]);
    }
    assert.deepEqual(seen, [
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
  });

  test('the bump is durable before the guard returns: a crash right after the write leaves the bumped file', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 9 });
    f.registry.put(STORAGE_ID, 'n1', 0, 9);
    const crash = new Error('kill -9 after the sidecar directory fsync');
    const inputs = f.inputs({
      writeSidecar: (p, s) =>
        writeSidecarFile(p, s, {
          faults: (point) => {
            if (point === 'sidecar.afterDirSync') throw crash;
          },
        }),
    });
    assert.throws(
      () => runStartupGuards(inputs),
      (e) => e === crash || (e as Error).cause === crash,
    );
    assert.equal(epochOnDisk(f, STORAGE_ID), 10);
  });

  test('a crash before the rename refuses start-up and leaves the old epoch: no pinned epoch escapes', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 9 });
    f.registry.put(STORAGE_ID, 'n1', 0, 9);
    const inputs = f.inputs({
      writeSidecar: (p, s) =>
        writeSidecarFile(p, s, {
          faults: (point) => {
            if (point === 'sidecar.beforeRename') throw new Error('crash');
          },
        }),
    });
    assert.throws(() => runStartupGuards(inputs), /crash/);
    assert.equal(epochOnDisk(f, STORAGE_ID), 9);
  });

  test('the file already holds the pinned epoch when anything after the write runs', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 3, raftEpoch: 3, cutover: 12n });
    f.registry.put(STORAGE_ID, 'n1', 0, 3);
    const order: string[] = [];
    runStartupGuards(
      f.inputs({
        writeSidecar: (p, s) => {
          order.push('write');
          writeSidecarFile(p, s);
        },
        installRaftWrap: () => order.push(`install epoch=${epochOnDisk(f, RAFT_ID)}`),
      }),
    );
    assert.deepEqual(order, ['write', 'install epoch=4']);
  });

  test('bumpEpochs refuses at 0xFFFF (ErrLocalEpochExhausted)', () => {
    const f = fresh();
    assert.throws(
      () => bumpEpochs(makeSidecar(f.kek, { storageEpoch: 0xffff })),
      (e) => isSealError(e, Err.LocalEpochExhausted),
    );
    assert.deepEqual(bumpEpochs(makeSidecar(f.kek, { storageEpoch: 0xfffe })).pinned, {
      storage: 0xffff,
      raft: 0,
    });
  });
});

describe('#1 snapshot divergence (pre-bump)', () => {
  test('scenario 60: snapshot cutover 99, sidecar cutover 0 → ErrEnvelopeCutoverDivergence', () => {
    const f = fresh();
    f.writeSidecar({ cutover: 0n });
    const e = refuses(
      f.inputs({ newestSnapshotCutover: () => 99n }),
      Err.EnvelopeCutoverDivergence,
      'snapshot-divergence',
    );
    assert.match(e.message, /99/);
    assert.match(e.message, /sidecar has 0/);
  });

  test('a missing sidecar counts as cutover 0', () => {
    const f = fresh();
    refuses(
      f.inputs({ newestSnapshotCutover: () => 5n }),
      Err.EnvelopeCutoverDivergence,
      'snapshot-divergence',
    );
  });

  test('equal cutovers, a zero cutover, or no snapshot pass', () => {
    for (const snap of [99n, 0n, undefined]) {
      const f = fresh();
      f.writeSidecar({ cutover: 99n });
      f.registry.put(STORAGE_ID, 'n1', 0, 0);
      runStartupGuards(f.inputs({ newestSnapshotCutover: () => snap }));
      f.cleanup();
    }
  });

  test('runs first: it wins over a bad KEK file', () => {
    const f = fresh();
    chmodSync(f.kekPath, 0o644);
    refuses(
      f.inputs({ newestSnapshotCutover: () => 7n }),
      Err.EnvelopeCutoverDivergence,
      'snapshot-divergence',
    );
  });
});

describe('#2 KEK load', () => {
  test('scenario 37: mode 0644 → ErrInsecureKEKFile', () => {
    const f = fresh();
    chmodSync(f.kekPath, 0o644);
    refuses(f.inputs(), Err.InsecureKEKFile, 'kek-load');
  });

  test('scenario 37: a 31-byte file → ErrKEKFileInvalid', () => {
    const f = fresh();
    writeKek(f.kekPath, randomBytes(31));
    refuses(f.inputs(), Err.KEKFileInvalid, 'kek-load');
  });

  test('a directory or a missing file → ErrKEKFileInvalid', () => {
    const f = fresh();
    const flags = f.inputs().flags;
    refuses(f.inputs({ flags: { ...flags, kekFile: f.dir } }), Err.KEKFileInvalid, 'kek-load');
    refuses(f.inputs({ flags: { ...flags, kekFile: join(f.dir, 'nope') } }), Err.KEKFileInvalid, 'kek-load');
  });
});

describe('#3 sidecar without flag, #4 flag without KEK', () => {
  test('scenario 39: sidecar present, flag removed → ErrSidecarPresentWithoutFlag', () => {
    const f = fresh();
    f.writeSidecar();
    const flags = { ...f.inputs().flags, encryptionEnabled: false };
    const e = refuses(f.inputs({ flags }), Err.SidecarPresentWithoutFlag, 'sidecar-without-flag');
    assert.ok(e.message.includes(f.sidecarPath));
  });

  test('no sidecar file and no flag passes #3', () => {
    const f = fresh();
    const flags = { ...f.inputs().flags, encryptionEnabled: false };
    runStartupGuards(f.inputs({ flags, openRegistryView: () => undefined }));
  });

  test('scenario 38: enabled without --kek-file → ErrKEKRequiredWithFlag', () => {
    const f = fresh();
    const flags = { ...f.inputs().flags, kekFile: undefined };
    refuses(f.inputs({ flags }), Err.KEKRequiredWithFlag, 'flag-without-kek');
  });

  test('scenario 38: ErrKEKRequiredWithFlag wins over a corrupt sidecar', () => {
    const f = fresh();
    writeFileSync(f.sidecarPath, '{"version": 2, "keys": ', { mode: 0o600 });
    const flags = { ...f.inputs().flags, kekFile: undefined };
    refuses(
      f.inputs({ flags, newestSnapshotCutover: () => 4n }),
      Err.KEKRequiredWithFlag,
      'flag-without-kek',
    );
    // With a KEK the corrupt file itself is the refusal.
    refuses(f.inputs(), Err.SidecarInvalid, 'sidecar-read');
  });
});

describe('#5 KEK mismatch', () => {
  test('scenario 36: another 32-byte KEK → ErrKEKMismatch naming the lowest key id and its purpose', () => {
    const f = fresh();
    const s = makeSidecar(f.kek, {
      extra: new Map([[9, { purpose: 'storage' as const, created: '2026-01-01T00:00:00Z', localEpoch: 0 }]]),
    });
    writeSidecarFile(f.sidecarPath, s);
    const other = writeKek(join(f.dir, 'other-kek'));
    const e = refuses(
      f.inputs({ flags: { ...f.inputs().flags, kekFile: other } }),
      Err.KEKMismatch,
      'kek-mismatch',
    );
    assert.equal(e.details.keyId, STORAGE_ID);
    assert.equal(e.details.purpose, 'storage');
    assert.match(e.message, /key 1 \(purpose storage\)/);
    assert.equal(f.keystore.ids().length, 0, 'nothing loaded on refusal');
  });

  test('the first failure in ascending id order is the one named; empty blobs are skipped', () => {
    const f = fresh();
    const foreign = FileKekProvider.open(writeKek(join(f.dir, 'foreign')));
    const s = makeSidecar(f.kek, {
      extra: new Map([
        [
          3,
          {
            purpose: 'raft' as const,
            created: '2026-01-01T00:00:00Z',
            localEpoch: 0,
            wrapped: new Uint8Array(0),
          },
        ],
        [
          12,
          {
            purpose: 'raft' as const,
            created: '2026-01-01T00:00:00Z',
            localEpoch: 0,
            wrapped: foreign.wrap(randomBytes(32)),
          },
        ],
        [
          40,
          {
            purpose: 'storage' as const,
            created: '2026-01-01T00:00:00Z',
            localEpoch: 0,
            wrapped: foreign.wrap(randomBytes(32)),
          },
        ],
      ]),
    });
    writeSidecarFile(f.sidecarPath, s);
    const e = refuses(f.inputs(), Err.KEKMismatch, 'kek-mismatch');
    assert.equal(e.details.keyId, 12);
    assert.equal(e.details.purpose, 'raft');
  });
});

describe('#6 epoch exhausted', () => {
  test('scenario 40: active storage key at 0xFFFF → ErrLocalEpochExhausted', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 0xffff });
    const e = refuses(f.inputs(), Err.LocalEpochExhausted, 'epoch-exhausted');
    assert.equal(e.details.keyId, STORAGE_ID);
    assert.equal(epochOnDisk(f, STORAGE_ID), 0xffff, 'nothing written');
  });

  test('active raft key at 0xFFFF → ErrLocalEpochExhausted', () => {
    const f = fresh();
    f.writeSidecar({ raftEpoch: 0xffff, cutover: 5n });
    refuses(f.inputs(), Err.LocalEpochExhausted, 'epoch-exhausted');
  });

  test('an inactive key at 0xFFFF is ignored; above 0xFF00 warns', () => {
    const f = fresh();
    f.writeSidecar({
      storageEpoch: 0xff01,
      extra: new Map([
        [7, { purpose: 'storage' as const, created: '2026-01-01T00:00:00Z', localEpoch: 0xffff }],
      ]),
    });
    f.registry.put(STORAGE_ID, 'n1', 0, 0);
    assert.equal(runStartupGuards(f.inputs()).pinned.storage, 0xff02);
    assert.equal(f.warnings.length, 1);
    assert.match(f.warnings[0]!, /65281/);
  });
});

describe('#7 filesystem probe', () => {
  test('scenario 58: directory fsync unsupported → ErrUnsupportedFilesystem, sidecar untouched', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 2 });
    const before = readFileSync(f.sidecarPath);
    const fs = {
      ...nodeSidecarFs,
      fsyncDir: () => {
        throw Object.assign(new Error('EINVAL: fsync on a directory'), { code: 'EINVAL' });
      },
    };
    refuses(
      f.inputs({ probeFilesystem: (p) => probeSidecarFilesystem(p, { fs }) }),
      Err.UnsupportedFilesystem,
      'filesystem-probe',
    );
    assert.deepEqual(readFileSync(f.sidecarPath), before);
  });

  test('a missing sidecar directory → ErrSidecarPathInvalid', () => {
    const f = fresh();
    const flags = { ...f.inputs().flags, sidecarPath: join(f.dir, 'no-such-dir', 'keys.json') };
    refuses(f.inputs({ flags }), Err.SidecarPathInvalid, 'filesystem-probe');
  });
});

describe('#8 node-id collision', () => {
  test('scenario 41: --peers with two ids sharing node_id16 → ErrNodeIDCollision naming both', () => {
    const f = fresh();
    f.writeSidecar();
    const [a, b] = collidingIds();
    const e = refuses(
      f.inputs({ members: () => ({ ids: ['n1', a, b], source: '--peers' }) }),
      Err.NodeIDCollision,
      'node-id-collision',
    );
    assert.ok(e.message.includes(a) && e.message.includes(b), e.message);
    assert.match(e.message, /--peers/);
  });

  test('collision with this node itself; not checked before bootstrap', () => {
    const f = fresh();
    f.writeSidecar();
    const [a, b] = collidingIds();
    const flags = { ...f.inputs().flags, id: a };
    refuses(
      f.inputs({ flags, members: () => ({ ids: [b], source: 'persisted members' }) }),
      Err.NodeIDCollision,
      'node-id-collision',
    );
    const g = fresh();
    g.writeSidecar({ activeStorage: 0, activeRaft: 0, envelopeActive: false });
    runStartupGuards(
      g.inputs({ flags: { ...g.inputs().flags, id: a }, members: () => ({ ids: [b], source: '--peers' }) }),
    );
  });
});

describe('#8a sidecar behind store', () => {
  test('scenario 21: store sidecar-index past the sidecar raft_applied_index → ErrSidecarBehindRaftLog', () => {
    const f = fresh();
    f.writeSidecar({ appliedIndex: 10n, storageEpoch: 1 });
    f.registry.put(STORAGE_ID, 'n1', 0, 1);
    f.registry.index = 25n;
    const e = refuses(f.inputs(), Err.SidecarBehindRaftLog, 'sidecar-behind-store');
    assert.match(e.message, /25/);
    assert.match(e.message, /10/);
    assert.equal(epochOnDisk(f, STORAGE_ID), 1, 'refused before the bump');
  });

  test('scenario 22: behind only by user writes and registrations (sidecar-index unchanged) → OK', () => {
    const f = fresh();
    f.writeSidecar({ appliedIndex: 10n });
    f.registry.put(STORAGE_ID, 'n1', 0, 0);
    f.registry.index = 10n;
    assert.equal(runStartupGuards(f.inputs()).pinned.storage, 1);
  });

  test('applies with any flags: no encryption flags, store bootstrapped → refused', () => {
    const f = fresh();
    f.registry.index = 3n;
    const flags = { id: 'n1', encryptionEnabled: false, kekFile: undefined, sidecarPath: undefined };
    refuses(f.inputs({ flags }), Err.SidecarBehindRaftLog, 'sidecar-behind-store');
  });
});

describe('#9 rollback (pre-bump)', () => {
  test('scenario 44: sidecar epoch below registry last_seen → ErrLocalEpochRollback', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 3 });
    f.registry.put(STORAGE_ID, 'n1', 0, 5);
    const e = refuses(f.inputs(), Err.LocalEpochRollback, 'rollback-pre-bump');
    assert.equal(e.details.sidecarEpoch, 3);
    assert.equal(e.details.lastSeen, 5);
    assert.equal(epochOnDisk(f, STORAGE_ID), 3);
  });

  test('equality is allowed (a crash after registering, before any bump)', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 5 });
    f.registry.put(STORAGE_ID, 'n1', 0, 5);
    assert.equal(runStartupGuards(f.inputs()).pinned.storage, 6);
  });

  test('scenario 45: own row missing while the storage envelope is active → ErrLocalEpochRollback', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 2 });
    const e = refuses(f.inputs(), Err.LocalEpochRollback, 'rollback-pre-bump');
    assert.match(e.message, /register-writer/);
  });

  test('own row missing before Phase 1 is fine', () => {
    const f = fresh();
    f.writeSidecar({ envelopeActive: false });
    assert.equal(runStartupGuards(f.inputs()).pinned.storage, 1);
  });

  test('own row owned by another full id → ErrLocalEpochRollback', () => {
    const f = fresh();
    f.writeSidecar();
    const [a, b] = collidingIds();
    f.registry.put(STORAGE_ID, a, 0, 0, b);
    refuses(
      f.inputs({ flags: { ...f.inputs().flags, id: a }, members: () => ({ ids: [a], source: '--peers' }) }),
      Err.LocalEpochRollback,
      'rollback-pre-bump',
    );
  });
});

describe('#10 raft scope', () => {
  test('raft cutover with more than one local group → ErrRaftEnvelopeScope', () => {
    const f = fresh();
    f.writeSidecar({ cutover: 9n });
    f.registry.put(STORAGE_ID, 'n1', 0, 0);
    refuses(f.inputs({ localGroups: 2 }), Err.RaftEnvelopeScope, 'raft-scope');
  });

  test('raft cutover without an active raft key → ErrRaftEnvelopeScope', () => {
    const f = fresh();
    f.writeSidecar({ cutover: 9n, activeRaft: 0 });
    f.registry.put(STORAGE_ID, 'n1', 0, 0);
    refuses(f.inputs(), Err.RaftEnvelopeScope, 'raft-scope');
  });
});

describe('post-replay guards #13, #14, #16, #17', () => {
  function started(f: Fixture, spec: Parameters<Fixture['writeSidecar']>[0], last: number) {
    f.writeSidecar(spec);
    f.registry.put(STORAGE_ID, 'n1', 0, last);
    const r = runStartupGuards(f.inputs());
    return {
      flags: f.inputs().flags,
      pinned: r.pinned,
      sidecar: f.readSidecar(),
      registry: f.registry,
      stateCache: f.stateCache,
    };
  }

  test('#17: own row below the pinned epoch → register asynchronously, not yet registered', () => {
    const f = fresh();
    const p = started(f, { storageEpoch: 4 }, 4);
    assert.equal(p.pinned.storage, 5);
    assert.equal(runPostReplayGuards(p), 'register-async');
    assert.equal(f.stateCache.registered(), false);
  });

  test('#13: sidecar epoch not above last_seen after replay → ErrLocalEpochRollback', () => {
    const f = fresh();
    const p = started(f, { storageEpoch: 4 }, 4);
    f.registry.put(STORAGE_ID, 'n1', 0, 5);
    assert.throws(
      () => runPostReplayGuards(p),
      (e) => isSealError(e, Err.LocalEpochRollback) && e.details.guard === 'rollback-post-replay',
    );
  });

  test('#14: replay moved the store sidecar-index past the sidecar → ErrSidecarBehindRaftLog', () => {
    const f = fresh();
    const p = started(f, { appliedIndex: 10n }, 0);
    f.registry.index = 11n;
    assert.throws(
      () => runPostReplayGuards(p),
      (e) =>
        isSealError(e, Err.SidecarBehindRaftLog) && e.details.guard === 'sidecar-behind-store-post-replay',
    );
  });

  test('#16: own raft row at or above the pinned raft epoch → ErrLocalEpochRollback', () => {
    const f = fresh();
    const p = started(f, { cutover: 20n, raftEpoch: 3 }, 0);
    assert.equal(p.pinned.raft, 4);
    f.registry.put(RAFT_ID, 'n1', 0, 3);
    assert.equal(runPostReplayGuards(p), 'register-async');
    f.registry.put(RAFT_ID, 'n1', 0, 4);
    assert.throws(
      () => runPostReplayGuards(p),
      (e) => isSealError(e, Err.LocalEpochRollback) && e.details.guard === 'raft-registration-epoch',
    );
  });

  test('#17 compares the pinned epoch with last_seen: below refuses, equal marks registered', () => {
    const f = fresh();
    const base = started(f, { storageEpoch: 1 }, 1);
    // A sidecar one ahead of the row lets #13 pass so #17 decides on the pinned epoch alone.
    const withEpoch = (epoch: number) => {
      const keys = new Map(base.sidecar!.keys);
      keys.set(STORAGE_ID, { ...keys.get(STORAGE_ID)!, localEpoch: epoch });
      return { ...base.sidecar!, keys };
    };
    f.registry.put(STORAGE_ID, 'n1', 0, 7);
    const cache = new EncryptionStateCache();
    cache.refresh(base.sidecar!);
    const at = (pinned: number) => ({
      ...base,
      stateCache: cache,
      sidecar: withEpoch(8),
      pinned: { storage: pinned, raft: 0 },
    });
    assert.throws(
      () => runPostReplayGuards(at(6)),
      (e) => isSealError(e, Err.LocalEpochRollback) && e.details.guard === 'process-start-registration',
    );
    assert.equal(cache.registered(), false);
    assert.equal(runPostReplayGuards(at(8)), 'register-async');
    assert.equal(cache.registered(), false);
    assert.equal(runPostReplayGuards(at(7)), 'registered');
    assert.equal(cache.registered(), true);
  });
});

describe('checkAllGuards (doctor)', () => {
  const byName = (r: GuardStatus[]) => new Map(r.map((s) => [s.guard, s]));

  test('all ok: reports every guard, writes nothing, bumps nothing', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 6, cutover: 40n });
    f.registry.put(STORAGE_ID, 'n1', 0, 6);
    const before = readFileSync(f.sidecarPath);
    const r = checkAllGuards(f.inputs());
    assert.equal(r.length, 17);
    for (const s of r) assert.equal(s.status, 'ok', JSON.stringify(s));
    assert.match(
      (byName(r).get('hydrate-bump') as { detail: string }).detail,
      /would pin storage epoch 7, raft epoch 1/,
    );
    assert.deepEqual(readFileSync(f.sidecarPath), before);
    assert.deepEqual(f.installs, []);
  });

  test('a bad KEK mode is refused; guards needing the KEK are skipped with the reason; the rest still run', () => {
    const f = fresh();
    f.writeSidecar({ storageEpoch: 0xffff });
    chmodSync(f.kekPath, 0o644);
    const r = byName(checkAllGuards(f.inputs()));
    assert.deepEqual(r.get('kek-load'), {
      guard: 'kek-load',
      status: 'refused',
      code: Err.InsecureKEKFile,
      detail: (r.get('kek-load') as { detail: string }).detail,
    });
    assert.equal(r.get('kek-mismatch')!.status, 'skipped');
    assert.match((r.get('kek-mismatch') as { reason: string }).reason, /kek-load, which refused/);
    assert.equal((r.get('epoch-exhausted') as { code: string }).code, Err.LocalEpochExhausted);
    assert.equal(r.get('filesystem-probe')!.status, 'ok');
    assert.equal(r.get('process-start-registration')!.status, 'skipped');
  });

  test('a store that reads badly is reported, not thrown', () => {
    const f = fresh();
    f.writeSidecar();
    const r = byName(
      checkAllGuards(
        f.inputs({
          openRegistryView: () => {
            throw new Error('store locked');
          },
        }),
      ),
    );
    assert.equal(r.get('sidecar-behind-store')!.status, 'refused');
  });
});
