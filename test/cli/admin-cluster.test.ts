import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fullNodeId } from '../../src/encryption/identity.ts';
import { Err } from '../../src/util/codes.ts';
import { sealError } from '../../src/util/errors.ts';
import { type FakeServer, startFake } from '../admin/fake-node.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Async: the fake server lives in this process. */
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

const U64_MAX = (1n << 64n) - 1n;
let f: FakeServer;

before(async () => {
  f = await startFake({ fullNodeId: fullNodeId('n1') });
  f.cluster.members.push({
    id: 'n2',
    raftAddr: '127.0.0.1:7002',
    adminAddr: '127.0.0.1:50052',
    role: 'learner',
    fullNodeId: U64_MAX,
  });
});
after(() => f.server.close());

describe('sealkv admin cluster', () => {
  test('status as lines and as JSON (full_node_id exact, as a string)', async () => {
    const [lines, json, badAddr, noTo] = await Promise.all([
      sealkv('admin', 'cluster', 'status', '--endpoint', f.endpoint),
      sealkv('admin', 'cluster', 'status', '--json', `--endpoint=${f.endpoint}`),
      sealkv(
        'admin',
        'cluster',
        'add-learner',
        '--endpoint',
        f.endpoint,
        '--id=n9',
        '--raft-addr=nowhere',
        '--admin-addr=h:1',
      ),
      sealkv('admin', 'cluster', 'transfer-leader', '--endpoint', f.endpoint),
    ]);
    assert.equal(lines.code, 0, lines.stderr);
    assert.equal(
      lines.stdout,
      'node_id: n1\nleader: n1\nterm: 3\ncommit_index: 20\napplied_index: 20\nmembers:\n' +
        `  id=n1 role=voter raft_addr=127.0.0.1:7001 admin_addr=127.0.0.1:50051 full_node_id=${fullNodeId('n1')}\n` +
        `  id=n2 role=learner raft_addr=127.0.0.1:7002 admin_addr=127.0.0.1:50052 full_node_id=${U64_MAX}\n`,
    );
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), {
      node_id: 'n1',
      leader_id: 'n1',
      term: 3,
      commit_index: 20,
      applied_index: 20,
      members: [
        {
          id: 'n1',
          role: 'voter',
          raft_addr: '127.0.0.1:7001',
          admin_addr: '127.0.0.1:50051',
          full_node_id: String(fullNodeId('n1')),
        },
        {
          id: 'n2',
          role: 'learner',
          raft_addr: '127.0.0.1:7002',
          admin_addr: '127.0.0.1:50052',
          full_node_id: String(U64_MAX),
        },
      ],
    });
    assert.equal(badAddr.code, 2);
    assert.match(badAddr.stderr, /raft_addr "nowhere" is not host:port/);
    assert.equal(noTo.code, 2);
    assert.deepEqual(f.cluster.calls, ['Status', 'Status'], 'usage errors make no RPC');
  });

  test('add-learner, promote, transfer-leader, remove', async () => {
    const add = await sealkv(
      'admin',
      'cluster',
      'add-learner',
      '--endpoint',
      f.endpoint,
      '--id',
      'n4',
      '--raft-addr',
      '10.0.0.4:7000',
      '--admin-addr',
      '10.0.0.4:50051',
    );
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'added-learner id=n4 applied_index=21\n');
    const [promote, transfer] = await Promise.all([
      sealkv('admin', 'cluster', 'promote', '--endpoint', f.endpoint, '--id=n4'),
      sealkv('admin', 'cluster', 'transfer-leader', '--endpoint', f.endpoint, '--to=n2'),
    ]);
    assert.equal(promote.code, 0, promote.stderr);
    assert.equal(promote.stdout, 'promoted id=n4 applied_index=22\n');
    assert.equal(transfer.stdout, 'transferred leader=n2\n');
    assert.deepEqual(
      f.cluster.members.find((m) => m.id === 'n4'),
      { id: 'n4', raftAddr: '10.0.0.4:7000', adminAddr: '10.0.0.4:50051', role: 'voter', fullNodeId: 7n },
    );
    f.cluster.refuse = sealError(Err.ConfChangePending, 'a conf change is still pending');
    const refused = await sealkv('admin', 'cluster', 'remove', '--endpoint', f.endpoint, '--id=n4');
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      'error: FailedPrecondition ErrConfChangePending a conf change is still pending\n',
    );
    f.cluster.refuse = undefined;
    const removed = await sealkv('admin', 'cluster', 'remove', '--endpoint', f.endpoint, '--id=n4');
    assert.equal(removed.stdout, 'removed id=n4 applied_index=23\n');
    assert.equal(
      f.cluster.members.find((m) => m.id === 'n4'),
      undefined,
    );
  });
});
