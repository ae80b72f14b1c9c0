import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runDoctor } from '../../src/cli/doctor.ts';
import { GUARD_NAMES } from '../../src/encryption/guards/index.ts';
import { fullNodeId, nodeId16 } from '../../src/encryption/identity.ts';
import { FileKekProvider } from '../../src/encryption/kek/file-provider.ts';
import { encodeRegistryValue, registryKey } from '../../src/encryption/registry/codec.ts';
import { SIDECAR_INDEX_KEY } from '../../src/encryption/registry/store.ts';
import { writeSidecarFile } from '../../src/encryption/sidecar/file.ts';
import { encodeSnapshotHeaderV2 } from '../../src/encryption/snapshot-header.ts';
import { encodeSnapshotFile, snapFileName } from '../../src/raft/wal/snapfile.ts';
import { snapDir, storeDir } from '../../src/server/startup.ts';
import { openLmdbEngine, WriteBatch } from '../../src/storage/index.ts';
import { u64be } from '../../src/util/bytes.ts';
import { makeSidecar, STORAGE_ID, writeKek } from '../encryption/guards/helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'sealkv-doctor-'));
after(() => rmSync(root, { recursive: true, force: true }));

function sealkv(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sealkv', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A bootstrapped Phase-1 node: KEK, sidecar, and a store holding its own registry row. */
async function bootstrappedNode(
  name: string,
): Promise<{ flags: string[]; kekPath: string; sidecarPath: string; dataDir: string }> {
  const dataDir = join(root, name);
  mkdirSync(join(dataDir, 'encryption'), { recursive: true });
  const kekPath = writeKek(join(dataDir, 'kek'));
  const sidecarPath = join(dataDir, 'encryption', 'keys.json');
  writeSidecarFile(
    sidecarPath,
    makeSidecar(FileKekProvider.open(kekPath), { storageEpoch: 2, appliedIndex: 10n }),
  );
  const engine = openLmdbEngine(storeDir(dataDir));
  const full = fullNodeId('n1');
  const b = new WriteBatch()
    .put('encryption', SIDECAR_INDEX_KEY, u64be(10n))
    .put(
      'encryption',
      registryKey(STORAGE_ID, nodeId16(full)),
      encodeRegistryValue({ fullNodeId: full, firstSeenEpoch: 0, lastSeenEpoch: 2 }),
    );
  await engine.write(b, { sync: true });
  await engine.close();
  const flags = [
    '--id',
    'n1',
    `--data-dir=${dataDir}`,
    '--raft-addr=127.0.0.1:7001',
    '--peers=n1=127.0.0.1:7001@127.0.0.1:50051,n2=127.0.0.1:7002@127.0.0.1:50052',
    '--encryption-enabled',
    '--kek-file',
    kekPath,
    `--encryption-sidecar-path=${sidecarPath}`,
  ];
  return { flags, kekPath, sidecarPath, dataDir };
}

describe('sealkv doctor', () => {
  test('all guards ok → one ok line per guard, exit 0, sidecar untouched', async () => {
    const n = await bootstrappedNode('healthy');
    const before = readFileSync(n.sidecarPath);
    const r = sealkv('doctor', ...n.flags);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => /^guard=(\S+) ok /.exec(l)?.[1]),
      [...GUARD_NAMES],
    );
    assert.match(r.stdout, /guard=hydrate-bump ok would pin storage epoch 3, raft epoch 0/);
    assert.deepEqual(readFileSync(n.sidecarPath), before);
  });

  test('KEK mode 0644 → refused line naming ErrInsecureKEKFile, dependants skipped, exit 3', async () => {
    const n = await bootstrappedNode('bad-kek');
    chmodSync(n.kekPath, 0o644);
    const r = sealkv('doctor', ...n.flags);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /^guard=kek-load refused ErrInsecureKEKFile .*mode 0644/m);
    assert.match(r.stdout, /^guard=kek-mismatch skipped needs kek-load, which refused$/m);
    assert.match(r.stdout, /^guard=filesystem-probe ok /m);
    assert.equal(r.stdout.trimEnd().split('\n').length, GUARD_NAMES.length);
  });

  test('a usage error exits 2 with one stderr line', () => {
    const r = sealkv('doctor', '--id', 'n1');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'error: --data-dir is required\n');
  });

  test('in process: a snapshot with cutover 99 against sidecar 0 refuses snapshot-divergence and raft epoch guards keep running', async () => {
    const n = await bootstrappedNode('diverged');
    mkdirSync(snapDir(n.dataDir));
    const data = encodeSnapshotHeaderV2(1n, 99n);
    writeFileSync(
      join(snapDir(n.dataDir), snapFileName(40, 3)),
      encodeSnapshotFile({ meta: { index: 40, term: 3, conf: { voters: ['n1'], learners: [] } }, data }),
    );
    const lines: string[] = [];
    const code = await runDoctor(n.flags, (l) => lines.push(l));
    assert.equal(code, 3);
    assert.match(lines[0]!, /^guard=snapshot-divergence refused ErrEnvelopeCutoverDivergence .*99/);
    assert.equal(lines.filter((l) => / refused /.test(l)).length, 1, lines.join('\n'));
  });
});
