import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { ClusterAdminClient } from '../../src/admin/client.ts';
import { freeBasePort, nodePlan, waitForLeader } from '../../src/server/launcher.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'sealkv');

function server(args: string[]) {
  const p = spawn(process.execPath, [BIN, 'server', '--log-level', 'warn', ...args], { stdio: 'ignore' });
  const exited = new Promise((r) => p.once('exit', r));
  return { p, exited };
}

async function eventually<T>(fn: () => Promise<T>, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('--join adds a node as a learner; promote makes it a voter that serves clients', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-join-'));
  const [pa, pb] = nodePlan({ nodes: 2, dir, basePort: await freeBasePort(2) });
  const a = { raft: pa!.raft, admin: pa!.admin, redis: Number(pa!.redis.split(':')[1]) };
  const b = { raft: pb!.raft, admin: pb!.admin, redis: Number(pb!.redis.split(':')[1]) };
  const n1 = server([
    '--id',
    'n1',
    '--data-dir',
    join(dir, 'n1'),
    '--raft-addr',
    a.raft,
    '--admin-addr',
    a.admin,
    '--redis-addr',
    `127.0.0.1:${a.redis}`,
    '--peers',
    `n1=${a.raft}@${a.admin}`,
  ]);
  let n2: ReturnType<typeof server> | undefined;
  const c1 = new Redis({ port: a.redis, protocol: 2, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  const c2 = new Redis({
    port: b.redis,
    protocol: 2,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
    lazyConnect: true,
  });
  c1.on('error', () => {});
  c2.on('error', () => {});
  const admin = new ClusterAdminClient(a.admin, { timeoutMs: 3000 });
  try {
    await waitForLeader([{ admin: a.admin }]);
    await eventually(() => c1.set('before', 'join'));
    n2 = server([
      '--id',
      'n2',
      '--data-dir',
      join(dir, 'n2'),
      '--raft-addr',
      b.raft,
      '--admin-addr',
      b.admin,
      '--redis-addr',
      `127.0.0.1:${b.redis}`,
      '--join',
      a.admin,
    ]);
    await eventually(async () => {
      const st = await admin.status();
      assert.equal(st.members.find((m) => m.id === 'n2')?.role, 'learner');
    });
    await eventually(() => admin.promote('n2'));
    const st = await admin.status();
    assert.deepEqual(st.members.map((m) => `${m.id}:${m.role}`).sort(), ['n1:voter', 'n2:voter']);
    await c2.connect();
    assert.equal(await eventually(() => c2.get('before')), 'join');
    assert.equal(await c2.set('after', 'promote'), 'OK');
    assert.equal(await c1.get('after'), 'promote');
  } finally {
    admin.close();
    c1.disconnect();
    c2.disconnect();
    n1.p.kill('SIGKILL');
    n2?.p.kill('SIGKILL');
    await Promise.all([n1.exited, n2?.exited]);
    rmSync(dir, { recursive: true, force: true });
  }
});
