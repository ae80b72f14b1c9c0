import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const root = mkdtempSync(join(tmpdir(), 'sealkv-raft-procs-'));
const IDS = ['n1', 'n2', 'n3'];

type Reply = Record<string, unknown> & { ok?: boolean; error?: string };

/** One child node process driven over its stdin/stdout JSON-line channel. */
class Proc {
  readonly child: ChildProcess;
  port = 0;
  exited = false;
  private rid = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private readonly listening: Promise<number>;
  stderr = '';

  constructor(
    readonly id: string,
    port: number,
    extra: string[] = [],
  ) {
    this.child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/fixtures/raft-node.ts',
        '--id',
        id,
        '--dir',
        join(root, id),
        '--port',
        String(port),
        ...extra,
      ],
      { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.child.once('exit', () => {
      this.exited = true;
      for (const w of this.waiting.values()) w({ ok: false, error: `${id} exited` });
      this.waiting.clear();
    });
    let onListen!: (p: number) => void;
    this.listening = new Promise((resolve) => {
      onListen = resolve;
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as Reply;
      if (msg.ev === 'listening') {
        this.port = Number(msg.port);
        onListen(this.port);
        return;
      }
      const w = this.waiting.get(Number(msg.rid));
      this.waiting.delete(Number(msg.rid));
      w?.(msg);
    });
  }

  ready(): Promise<number> {
    return this.listening;
  }

  async call(cmd: Record<string, unknown>, timeoutMs = 30_000): Promise<Reply> {
    if (this.exited) return { ok: false, error: `${this.id} exited` };
    const rid = ++this.rid;
    const reply = new Promise<Reply>((resolve) => this.waiting.set(rid, resolve));
    this.child.stdin?.write(`${JSON.stringify({ ...cmd, rid })}\n`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Reply>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, error: `${this.id}: ${String(cmd.cmd)} timed out` }),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([reply, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async must(cmd: Record<string, unknown>, timeoutMs?: number): Promise<Reply> {
    const r = await this.call(cmd, timeoutMs);
    assert.ok(r.ok, `${this.id} ${String(cmd.cmd)}: ${r.error}\n${this.stderr}`);
    return r;
  }

  kill9(): Promise<void> {
    return new Promise((resolve) => {
      if (this.exited) resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}

const procs = new Map<string, Proc>();
after(async () => {
  await Promise.all([...procs.values()].map((p) => p.kill9()));
  rmSync(root, { recursive: true, force: true });
});

async function launch(id: string, port: number, extra: string[] = []): Promise<Proc> {
  const p = new Proc(id, port, extra);
  procs.set(id, p);
  await p.ready();
  return p;
}

function peers(ids: string[] = IDS): Record<string, string> {
  return Object.fromEntries(ids.map((id) => [id, `127.0.0.1:${procs.get(id)!.port}`]));
}

async function leader(among: string[], timeoutMs = 15_000): Promise<{ id: string; term: number }> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const st = await Promise.all(among.map((id) => procs.get(id)!.call({ cmd: 'status' }, 2000)));
    const leaders = st.flatMap((s, i) =>
      s.role === 'leader' ? [{ id: among[i]!, term: Number(s.term) }] : [],
    );
    if (leaders.length === 1) return leaders[0]!;
    await sleep(50);
  }
  throw new Error('no single leader');
}

async function allApplied(ids: string[], index: number, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const st = await Promise.all(ids.map((id) => procs.get(id)!.call({ cmd: 'status' }, 2000)));
    if (st.every((s) => Number(s.applied) >= index)) return;
    await sleep(50);
  }
  throw new Error(`not every node of ${ids.join(',')} applied ${index}`);
}

describe('RaftNode: three node processes with real WAL and TCP', () => {
  test('replicate 10,000 entries, kill -9 the leader, elect anew, restart it, converge', {
    timeout: 90_000,
  }, async () => {
    for (const id of IDS) await launch(id, 0);
    const p = peers();
    await Promise.all(IDS.map((id) => procs.get(id)!.must({ cmd: 'peers', peers: p })));

    const first = await leader(IDS);
    const r1 = await procs
      .get(first.id)!
      .must({ cmd: 'propose', prefix: 'a', count: 10_000, concurrency: 128 }, 60_000);
    await allApplied(IDS, Number(r1.last));

    const port = procs.get(first.id)!.port;
    await procs.get(first.id)!.kill9();
    const rest = IDS.filter((id) => id !== first.id);
    const second = await leader(rest);
    assert.notEqual(second.id, first.id);
    assert.ok(second.term > first.term);
    const r2 = await procs.get(second.id)!.must({ cmd: 'propose', prefix: 'b', count: 500, concurrency: 32 });
    await allApplied(rest, Number(r2.last));

    const back = await launch(first.id, port);
    await back.must({ cmd: 'peers', peers: p });
    await allApplied(IDS, Number(r2.last));

    const dumps = await Promise.all(IDS.map((id) => procs.get(id)!.must({ cmd: 'dump' })));
    for (const d of dumps) {
      assert.equal(d.count, 10_500);
      assert.equal(d.hash, dumps[0]!.hash);
    }
    await Promise.all(IDS.map((id) => procs.get(id)!.call({ cmd: 'stop' })));
  });
  test('a follower killed before the leader compacted catches up by snapshot after restart', {
    timeout: 90_000,
  }, async () => {
    const ids = ['s1', 's2', 's3'];
    const small = ['--snapshot-every', '1000'];
    for (const id of ids) await launch(id, 0, small);
    const p = peers(ids);
    await Promise.all(ids.map((id) => procs.get(id)!.must({ cmd: 'peers', peers: p })));
    const lead = await leader(ids);
    const lagging = ids.find((id) => id !== lead.id)!;
    const port = procs.get(lagging)!.port;
    await procs.get(lagging)!.kill9();

    const r = await procs
      .get(lead.id)!
      .must({ cmd: 'propose', prefix: 'c', count: 5_000, concurrency: 64 }, 60_000);
    const up = ids.filter((id) => id !== lagging);
    await allApplied(up, Number(r.last));
    const st = await procs.get(lead.id)!.must({ cmd: 'status' });
    assert.ok(Number(st.firstIndex) > 1_000, `the leader compacted its log (first index ${st.firstIndex})`);

    const back = await launch(lagging, port, small);
    await back.must({ cmd: 'peers', peers: p });
    await allApplied(ids, Number(r.last));
    const caught = await back.must({ cmd: 'status' });
    assert.ok(Number(caught.restores) >= 1, 'the restarted follower installed the leader snapshot');
    const dumps = await Promise.all(ids.map((id) => procs.get(id)!.must({ cmd: 'dump' })));
    for (const d of dumps) {
      assert.equal(d.count, 5_000);
      assert.equal(d.hash, dumps[0]!.hash);
    }
    await Promise.all(ids.map((id) => procs.get(id)!.call({ cmd: 'stop' })));
  });
});
