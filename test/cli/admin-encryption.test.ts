import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateDek } from '../../src/encryption/dek.ts';
import { fullNodeId } from '../../src/encryption/identity.ts';
import { FileKekProvider } from '../../src/encryption/kek/file-provider.ts';
import { readSidecarFile } from '../../src/encryption/sidecar/file.ts';
import { Err } from '../../src/util/codes.ts';
import { sealError } from '../../src/util/errors.ts';
import { type FakeServer, startFake } from '../admin/fake-node.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Async on purpose: the fake servers live in this process and must keep answering. */
function sealkv(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sealkv', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sealkv-admin-cli-'));
const kekPath = join(dir, 'kek');
writeFileSync(kekPath, Buffer.alloc(32, 5), { mode: 0o600 });
const kek = FileKekProvider.open(kekPath);
const wrapped = (): string => Buffer.from(kek.wrap(generateDek())).toString('base64');
const [w1, w2, w3] = [wrapped(), wrapped(), wrapped()];

const ids = { n1: fullNodeId('n1'), n2: fullNodeId('n2'), n3: fullNodeId('n3') };
let off: FakeServer; // no encryption flags
let a: FakeServer; // leader
let b: FakeServer; // follower
let c: FakeServer; // enabled, never bootstrapped

before(async () => {
  const members = Object.values(ids).map((id) => ({
    fullNodeId: id,
    encryptionCapable: true,
    buildSha: 'sha1',
    sidecarPresent: true,
  }));
  off = await startFake({ fullNodeId: fullNodeId('off'), enabled: false, buildSha: 'sha0' });
  a = await startFake({ fullNodeId: ids.n1, localEpoch: 4, raftLocalEpoch: 2, buildSha: 'sha1', members });
  b = await startFake({ fullNodeId: ids.n2, leader: false, leaderId: 'n1', leaderAddr: a.endpoint });
  c = await startFake({ fullNodeId: ids.n3 });
});

after(async () => {
  await Promise.all([off, a, b, c].map((f) => f.server.close()));
  rmSync(dir, { recursive: true, force: true });
});

const mutators = (f: FakeServer): string[] => f.enc.calls.filter((x) => !x.startsWith('GetCapability'));

describe('sealkv admin encryption (networked verbs)', () => {
  test('scenario 1: status of a node without the flags', async () => {
    const r = await sealkv('admin', 'encryption', 'status', '--endpoint', off.endpoint);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'capability:\n  encryption_capable: false\n  sidecar_present: false\n  full_node_id: 0\n' +
        '  local_epoch: 0\n  raft_local_epoch: 0\n  build_sha: sha0\n' +
        'sidecar_state: <unavailable: FailedPrecondition ErrSidecarMissing no sidecar file on this node>\n',
    );
  });

  test('client-side checks exit 2 without any RPC (scenarios 25, 26, 27)', async () => {
    const base = [
      'admin',
      'encryption',
      'bootstrap',
      `--endpoint=${a.endpoint}`,
      `--wrapped-storage-dek=${w1}`,
    ];
    const [equal, both, offNode, badEpoch, badPurpose, noCaller] = await Promise.all([
      sealkv(
        ...base,
        '--wrapped-raft-dek',
        w2,
        '--storage-dek-id=7',
        '--raft-dek-id=7',
        `--writer=${ids.n1}:0`,
      ),
      sealkv(
        ...base,
        '--wrapped-raft-dek',
        w2,
        '--storage-dek-id=1',
        '--raft-dek-id=2',
        `--writer=${ids.n1}:0`,
        `--discover-from=${a.endpoint}`,
      ),
      sealkv(
        ...base,
        '--wrapped-raft-dek',
        w2,
        '--storage-dek-id=1',
        '--raft-dek-id=2',
        `--discover-from=${a.endpoint}`,
        `--discover-from=${off.endpoint}`,
      ),
      sealkv(
        ...base,
        '--wrapped-raft-dek',
        w2,
        '--storage-dek-id=1',
        '--raft-dek-id=2',
        `--writer=${ids.n1}:65536`,
      ),
      sealkv(
        'admin',
        'encryption',
        'rotate-dek',
        '--endpoint',
        a.endpoint,
        '--purpose=both',
        '--new-dek-id=4',
        `--wrapped-new-dek=${w3}`,
      ),
      sealkv(
        'admin',
        'encryption',
        'resync-sidecar',
        '--endpoint',
        a.endpoint,
        '--encryption-sidecar-path',
        join(dir, 'x.json'),
        '--kek-file',
        kekPath,
      ),
    ]);
    assert.equal(equal.code, 2);
    assert.match(equal.stderr, /must differ/);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of --writer .* and --discover-from/);
    assert.equal(offNode.code, 2);
    assert.match(offNode.stderr, new RegExp(`${off.endpoint}.*not encryption-capable`));
    assert.equal(badEpoch.code, 2);
    assert.match(badEpoch.stderr, /ErrLocalEpochOutOfRange/);
    assert.equal(badPurpose.code, 2);
    assert.match(badPurpose.stderr, /--purpose "both"/);
    assert.equal(noCaller.code, 2);
    assert.deepEqual(mutators(a), [], 'no mutating RPC reached the leader');
  });

  test('scenario 2: status of an enabled node before bootstrap', async () => {
    const r = await sealkv('admin', 'encryption', 'status', '--endpoint', c.endpoint);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^capability:\n {2}encryption_capable: true\n {2}sidecar_present: false\n/);
    assert.match(r.stdout, new RegExp(`\n  full_node_id: ${ids.n3}\n`));
    assert.match(r.stdout, /\nsidecar_state: <unavailable: FailedPrecondition ErrSidecarMissing /);
  });

  test('scenario 3: bootstrap --discover-from every member (trimmed, deduplicated)', async () => {
    const r = await sealkv(
      'admin',
      'encryption',
      'bootstrap',
      '--endpoint',
      a.endpoint,
      '--storage-dek-id=1',
      '--raft-dek-id=2',
      `--wrapped-storage-dek=${w1}`,
      `--wrapped-raft-dek=${w2}`,
      `--discover-from= ${a.endpoint} `,
      `--discover-from=${b.endpoint}`,
      `--discover-from=${c.endpoint}`,
      `--discover-from=${a.endpoint}`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'bootstrapped storage_dek_id=1 raft_dek_id=2 writers=3 applied_index=11\n');
    assert.equal(a.enc.registry.size, 6);
    for (const row of a.enc.registry.values()) assert.deepEqual([row.first, row.last], [0, 0]);
    assert.deepEqual(mutators(a), ['admit:BootstrapEncryption', 'BootstrapEncryption']);
  });

  test('status after bootstrap prints the sidecar block', async () => {
    const r = await sealkv('admin', 'encryption', 'status', '--endpoint', a.endpoint, '--timeout', '2s');
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /\nsidecar_state:\n {2}active_storage_id: 1\n {2}active_raft_id: 2\n {2}storage_envelope_active: false\n {2}raft_envelope_cutover_index: 0\n {2}latest_applied_index: 11\n {2}wrapped_dek_ids: 1,2\n$/,
    );
  });

  test('scenarios 16, 17: register-writer advances, repeats, refuses a rollback', async () => {
    const reg = (epoch: number) =>
      sealkv(
        'admin',
        'encryption',
        'register-writer',
        `--endpoint=${a.endpoint}`,
        '--dek-id=1',
        '--full-node-id=0xF00D',
        `--local-epoch=${epoch}`,
      );
    const first = await reg(3);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'registered dek_id=1 full_node_id=61453 local_epoch=3 applied_index=12\n');
    assert.equal((await reg(7)).code, 0);
    const rollback = await reg(5);
    assert.equal(rollback.code, 1);
    assert.equal(rollback.stdout, '');
    assert.match(rollback.stderr, /^error: FailedPrecondition ErrLocalEpochRollback last_seen 7 > 5\n$/);
    assert.deepEqual(a.enc.registry.get(`1|${0xf00d}`), { full: 0xf00dn, first: 3, last: 7 });
  });

  test('scenarios 5, 8: enable-storage-envelope fresh, then already active', async () => {
    const fresh = await sealkv('admin', 'encryption', 'enable-storage-envelope', '--endpoint', a.endpoint);
    assert.equal(fresh.code, 0, fresh.stderr);
    const rows = Object.values(ids)
      .map((id) => `  full_node_id=${id} encryption_capable=true build_sha=sha1 sidecar_present=true\n`)
      .join('');
    assert.equal(fresh.stdout, `enabled applied_index=14\ncapability summary:\n${rows}`);
    const fanOuts = a.enc.calls.filter((x) => x === 'fan-out').length;
    const again = await sealkv('admin', 'encryption', 'enable-storage-envelope', '--endpoint', a.endpoint);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'already-active applied_index=14\n');
    assert.equal(a.enc.calls.filter((x) => x === 'fan-out').length, fanOuts, 'no fan-out on retry');
    // A v1 sidecar never recorded the cutover index: the answer says so.
    const sc = a.enc.sidecar;
    assert.ok(sc !== undefined);
    sc.storageCutover = 0n;
    const unknown = await sealkv('admin', 'encryption', 'enable-storage-envelope', '--endpoint', a.endpoint);
    assert.equal(unknown.code, 0, unknown.stderr);
    assert.match(
      unknown.stdout,
      /^warning: cutover_index_unknown=true .*\nalready-active applied_index=14\n$/,
    );
    sc.storageCutover = 14n;
  });

  test('rotate-dek defaults the proposer to the endpoint’s id and epoch for the purpose', async () => {
    const r = await sealkv(
      'admin',
      'encryption',
      'rotate-dek',
      '--endpoint',
      a.endpoint,
      '--purpose=storage',
      '--new-dek-id=3',
      `--wrapped-new-dek=${w3}`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'rotated dek_id=3 purpose=storage applied_index=15\n');
    assert.deepEqual(a.enc.registry.get(`3|${Number(ids.n1 & 0xffffn)}`), {
      full: ids.n1,
      first: 4,
      last: 4,
    });
    const wrongEpoch = await sealkv(
      'admin',
      'encryption',
      'rotate-dek',
      '--endpoint',
      a.endpoint,
      '--purpose=raft',
      '--new-dek-id=4',
      `--wrapped-new-dek=${w3}`,
      '--proposer-local-epoch=9',
    );
    assert.equal(wrongEpoch.code, 1);
    assert.match(wrongEpoch.stderr, /^error: FailedPrecondition ErrProposerMismatch .*epoch 2/);
    const bad = await sealkv(
      'admin',
      'encryption',
      'rotate-dek',
      '--endpoint',
      a.endpoint,
      '--purpose=both',
      '--new-dek-id=4',
      `--wrapped-new-dek=${w3}`,
    );
    assert.equal(bad.code, 2);
  });

  test('scenarios 46, 49: follower, not-bootstrapped and unreachable nodes exit 1 with the code and Err name', async () => {
    const [follower, fresh, unreachable] = await Promise.all([
      sealkv(
        'admin',
        'encryption',
        'rotate-dek',
        '--endpoint',
        b.endpoint,
        '--purpose=raft',
        '--new-dek-id=5',
        `--wrapped-new-dek=${w3}`,
        `--proposer-node-id=${ids.n2}`,
        '--proposer-local-epoch=0',
      ),
      sealkv('admin', 'encryption', 'enable-raft-envelope', '--endpoint', c.endpoint),
      sealkv('admin', 'encryption', 'status', '--endpoint', '127.0.0.1:1', '--timeout=1s'),
    ]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^error: Unavailable ErrRpcFailed /);
    assert.equal(follower.code, 1);
    assert.match(
      follower.stderr,
      new RegExp(`^error: FailedPrecondition ErrNotLeader .*n1 at ${a.endpoint}\\n$`),
    );
    assert.equal(fresh.code, 1);
    assert.match(fresh.stderr, /^error: FailedPrecondition ErrEncryptionNotBootstrapped /);
  });

  test('resync-sidecar writes the leader’s keys with bumped local epochs', async () => {
    const path = join(dir, 'keys.json');
    // n3 registered under key 1 at epoch 6 once; its new epoch there must be 7.
    a.enc.registry.set(`1|${Number(ids.n3 & 0xffffn)}`, { full: ids.n3, first: 0, last: 6 });
    const r = await sealkv(
      'admin',
      'encryption',
      'resync-sidecar',
      '--endpoint',
      a.endpoint,
      '--encryption-sidecar-path',
      path,
      '--kek-file',
      kekPath,
      '--id',
      'n3',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `resynced keys=3 raft_applied_index=${a.enc.appliedIndex}\n`);
    const sc = readSidecarFile(path);
    assert.ok(sc !== undefined);
    assert.deepEqual(sc.active, { storage: 3, raft: 2 });
    assert.equal(sc.storageEnvelopeActive, true);
    assert.equal(sc.storageEnvelopeCutoverIndex, 14n);
    assert.deepEqual(
      [...sc.keys].map(([id, k]) => [id, k.purpose, k.localEpoch]),
      [
        [1, 'storage', 7],
        [2, 'raft', 1],
        [3, 'storage', 1],
      ],
    );
    const otherKek = join(dir, 'kek2');
    writeFileSync(otherKek, Buffer.alloc(32, 6), { mode: 0o600 });
    const mismatch = await sealkv(
      'admin',
      'encryption',
      'resync-sidecar',
      `--endpoint=${a.endpoint}`,
      `--encryption-sidecar-path=${join(dir, 'other.json')}`,
      `--kek-file=${otherKek}`,
      '--caller-full-node-id=0x1234',
    );
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /^error: InvalidArgument ErrKEKMismatch key 1 /);
    const neither = await sealkv(
      'admin',
      'encryption',
      'resync-sidecar',
      '--encryption-sidecar-path',
      path,
      '--kek-file',
      kekPath,
    );
    assert.equal(neither.code, 2);
  });

  test('a handler failure that is not FailedPrecondition fails status', async () => {
    a.enc.failures.set('GetSidecarState', sealError(Err.SidecarInvalid, 'keys.json is torn'));
    const r = await sealkv('admin', 'encryption', 'status', '--endpoint', a.endpoint);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^capability:\n/);
    assert.match(r.stderr, /^error: Internal ErrSidecarInvalid keys.json is torn\n$/);
  });
});
