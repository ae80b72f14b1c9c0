import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { fullNodeId, nodeId16 } from '../../src/encryption/identity.ts';
import { FileKekProvider } from '../../src/encryption/kek/file-provider.ts';
import { encodeRegistryValue, registryKey } from '../../src/encryption/registry/codec.ts';
import { SIDECAR_INDEX_KEY } from '../../src/encryption/registry/store.ts';
import { readSidecarFile, writeSidecarFile } from '../../src/encryption/sidecar/file.ts';
import { nodeSidecarFs } from '../../src/encryption/sidecar/fs.ts';
import { encodeSnapshotHeaderV1, encodeSnapshotHeaderV2 } from '../../src/encryption/snapshot-header.ts';
import { encodeSnapshotFile, snapFileName } from '../../src/raft/wal/snapfile.ts';
import { parseServerConfig, type ServerConfig } from '../../src/server/config.ts';
import {
  diagnoseEncryption,
  finishEncryptionStartup,
  prepareEncryption,
  refusalLine,
  snapDir,
  storeDir,
} from '../../src/server/startup.ts';
import { openLmdbEngine, WriteBatch } from '../../src/storage/index.ts';
import { u64be, utf8 } from '../../src/util/bytes.ts';
import { Err } from '../../src/util/codes.ts';
import { isSealError } from '../../src/util/errors.ts';
import { collidingIds, makeSidecar, STORAGE_ID, writeKek } from '../encryption/guards/helpers.ts';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

interface Node {
  dataDir: string;
  kekPath: string;
  sidecarPath: string;
  kek: FileKekProvider;
  config(extra?: string[]): ServerConfig;
}

function node(id = 'n1'): Node {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealkv-startup-'));
  dirs.push(dataDir);
  mkdirSync(join(dataDir, 'encryption'));
  const kekPath = writeKek(join(dataDir, 'kek'));
  const sidecarPath = join(dataDir, 'encryption', 'keys.json');
  return {
    dataDir,
    kekPath,
    sidecarPath,
    kek: FileKekProvider.open(kekPath),
    config: (extra = []) =>
      parseServerConfig(
        [
          `--id=${id}`,
          `--data-dir=${dataDir}`,
          '--encryption-enabled',
          `--kek-file=${kekPath}`,
          `--encryption-sidecar-path=${sidecarPath}`,
          ...extra,
        ],
        'doctor',
      ),
  };
}

async function writeStore(
  dataDir: string,
  sidecarIndex: bigint,
  rows: [dek: number, id: string, last: number][],
): Promise<void> {
  const engine = openLmdbEngine(storeDir(dataDir));
  const b = new WriteBatch();
  b.put('encryption', SIDECAR_INDEX_KEY, u64be(sidecarIndex));
  for (const [dek, id, last] of rows) {
    const full = fullNodeId(id);
    b.put(
      'encryption',
      registryKey(dek, nodeId16(full)),
      encodeRegistryValue({ fullNodeId: full, firstSeenEpoch: 0, lastSeenEpoch: last }),
    );
  }
  await engine.write(b, { sync: true });
  await engine.close();
}

function writeSnap(dataDir: string, index: number, header: Uint8Array, voters = ['n1', 'n2', 'n3']): void {
  mkdirSync(snapDir(dataDir), { recursive: true });
  const data = new Uint8Array([...header, ...utf8('fsm image')]);
  writeFileSync(
    join(snapDir(dataDir), snapFileName(index, 2)),
    encodeSnapshotFile({ meta: { index, term: 2, conf: { voters, learners: [] } }, data }),
  );
}

async function refusal(p: Promise<unknown>, code: string, guard: string): Promise<void> {
  await assert.rejects(p, (e) => {
    assert.ok(isSealError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.details.guard, guard);
    return true;
  });
}

describe('prepareEncryption against a real data directory', () => {
  test('bumps and persists the epoch, loads the keys, and repeated starts pin increasing epochs', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { storageEpoch: 2, appliedIndex: 10n }));
    await writeStore(n.dataDir, 10n, [[STORAGE_ID, 'n1', 2]]);
    const pinned: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await prepareEncryption(n.config());
      pinned.push(r.pinned.storage);
      assert.deepEqual(r.keystore.ids(), [1, 2]);
      assert.equal(r.stateCache.activeStorage, STORAGE_ID);
      assert.equal(readSidecarFile(n.sidecarPath)!.keys.get(STORAGE_ID)!.localEpoch, r.pinned.storage);
    }
    assert.deepEqual(pinned, [3, 4, 5]);
  });

  test('scenario 21: a sidecar older than the store sidecar-index → ErrSidecarBehindRaftLog', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { appliedIndex: 10n }));
    await writeStore(n.dataDir, 31n, [[STORAGE_ID, 'n1', 0]]);
    await refusal(prepareEncryption(n.config()), Err.SidecarBehindRaftLog, 'sidecar-behind-store');
    assert.equal(readSidecarFile(n.sidecarPath)!.keys.get(STORAGE_ID)!.localEpoch, 0);
  });

  test('scenario 22: behind only by user writes and registrations → starts', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { appliedIndex: 10n }));
    await writeStore(n.dataDir, 10n, [
      [STORAGE_ID, 'n1', 0],
      [STORAGE_ID, 'n2', 4],
    ]);
    assert.equal((await prepareEncryption(n.config())).pinned.storage, 1);
  });

  test('scenario 44: a restored sidecar below the registry last_seen → ErrLocalEpochRollback', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { storageEpoch: 1 }));
    await writeStore(n.dataDir, 10n, [[STORAGE_ID, 'n1', 6]]);
    await refusal(prepareEncryption(n.config()), Err.LocalEpochRollback, 'rollback-pre-bump');
  });

  test('scenario 60: the newest snapshot file carries cutover 99, the sidecar 0 → ErrEnvelopeCutoverDivergence', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { cutover: 0n }));
    writeSnap(n.dataDir, 50, encodeSnapshotHeaderV1(1n));
    writeSnap(n.dataDir, 80, encodeSnapshotHeaderV2(1n, 99n));
    await refusal(prepareEncryption(n.config()), Err.EnvelopeCutoverDivergence, 'snapshot-divergence');
  });

  test('only the newest snapshot counts; an older v2 does not refuse', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { cutover: 0n, envelopeActive: false }));
    writeSnap(n.dataDir, 50, encodeSnapshotHeaderV2(1n, 99n));
    writeSnap(n.dataDir, 80, encodeSnapshotHeaderV1(1n));
    assert.equal((await prepareEncryption(n.config())).pinned.storage, 1);
  });

  test('an unknown snapshot magic refuses with ErrSnapshotHeaderUnknownMagic', async () => {
    const n = node();
    writeSnap(n.dataDir, 5, utf8('EKVTHLC9........'));
    await refusal(prepareEncryption(n.config()), Err.SnapshotHeaderUnknownMagic, 'snapshot-divergence');
  });

  test('persisted members from the newest snapshot are checked for node_id16 collisions', async () => {
    const [a, b] = collidingIds();
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek));
    writeSnap(n.dataDir, 5, encodeSnapshotHeaderV1(1n), ['n1', a, b]);
    await assert.rejects(prepareEncryption(n.config()), (e) => {
      assert.ok(isSealError(e, Err.NodeIDCollision));
      assert.match(e.message, /persisted members/);
      return true;
    });
  });

  test('scenario 58: a directory fsync that fails → ErrUnsupportedFilesystem', async () => {
    const n = node();
    const sidecarFs = {
      ...nodeSidecarFs,
      fsyncDir: () => {
        throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
      },
    };
    await refusal(
      prepareEncryption(n.config(), { sidecarFs }),
      Err.UnsupportedFilesystem,
      'filesystem-probe',
    );
  });

  test('doctor over the same directory reports without writing', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { storageEpoch: 3 }));
    await writeStore(n.dataDir, 10n, [[STORAGE_ID, 'n1', 3]]);
    const r = await diagnoseEncryption(n.config());
    assert.ok(
      r.every((s) => s.status === 'ok'),
      JSON.stringify(r),
    );
    assert.equal(readSidecarFile(n.sidecarPath)!.keys.get(STORAGE_ID)!.localEpoch, 3);
  });

  test('after replay: #17 asks for async registration, and #13 refuses a row that caught up with the sidecar', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { storageEpoch: 4 }));
    await writeStore(n.dataDir, 10n, [[STORAGE_ID, 'n1', 4]]);
    const prepared = await prepareEncryption(n.config());
    assert.equal(prepared.pinned.storage, 5);
    const engine = openLmdbEngine(storeDir(n.dataDir));
    try {
      assert.equal(finishEncryptionStartup(n.config(), prepared, engine), 'register-async');
      const full = fullNodeId('n1');
      await engine.write(
        new WriteBatch().put(
          'encryption',
          registryKey(STORAGE_ID, nodeId16(full)),
          encodeRegistryValue({ fullNodeId: full, firstSeenEpoch: 0, lastSeenEpoch: 5 }),
        ),
        { sync: true },
      );
      assert.throws(
        () => finishEncryptionStartup(n.config(), prepared, engine),
        (e) => isSealError(e, Err.LocalEpochRollback) && e.details.guard === 'rollback-post-replay',
      );
    } finally {
      await engine.close();
    }
  });

  test('the refusal line names the guard and the Err code on one line', async () => {
    const n = node();
    writeSidecarFile(n.sidecarPath, makeSidecar(n.kek, { storageEpoch: 0xffff }));
    const e = await prepareEncryption(n.config()).catch((x: unknown) => x);
    const line = refusalLine(e);
    assert.match(line, /^startup refused guard=epoch-exhausted ErrLocalEpochExhausted active storage key 1 /);
    assert.ok(!line.includes('\n'));
  });
});
