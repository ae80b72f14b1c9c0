import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseArgs, runCli } from '../../sim/cli.ts';
import { Ghost } from '../../sim/raft/ghost.ts';
import { decodeOp, encodeOp, KvMachine } from '../../sim/raft/kv.ts';
import { diffLogState, SyncedLog } from '../../sim/raft/synced-log.ts';
import { runSeed } from '../../sim/run.ts';
import { EntryType } from '../../src/raft/core/types.ts';

async function cli(argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runCli(argv, { print: (l) => lines.push(l) });
  return { code, lines };
}

const ent = (index: number, term: number) => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array([index]),
});

describe('raft model building blocks', () => {
  test('ops round-trip through the entry encoding', () => {
    const op = { client: 103, reqId: 7, cmd: { f: 'append' as const, key: 'l1', value: 'c103-7' } };
    assert.deepEqual(decodeOp(encodeOp(op)), op);
    assert.equal(decodeOp(new Uint8Array()), undefined);
  });

  test('the FSM applies a retried request once and answers it from the session', () => {
    const a = new KvMachine();
    const b = new KvMachine();
    const app = (reqId: number, value: string) =>
      encodeOp({ client: 101, reqId, cmd: { f: 'append', key: 'l0', value } });
    a.apply(1, app(1, 'x'));
    a.apply(2, app(1, 'x'));
    a.apply(3, app(2, 'y'));
    b.apply(1, app(1, 'x'));
    b.apply(2, app(2, 'y'));
    assert.deepEqual(a.read({ f: 'read', key: 'l0' }), ['x', 'y']);
    assert.equal(a.stateHash(), b.stateHash());
    assert.equal(a.cached(101, 2), 'ok');
    b.apply(3, encodeOp({ client: 102, reqId: 1, cmd: { f: 'put', key: 'k0', value: 'v' } }));
    assert.notEqual(a.stateHash(), b.stateHash());
  });

  test('a MULTI/EXEC batch round-trips through the entry encoding and applies as one step', () => {
    const op = {
      client: 104,
      reqId: 9,
      cmd: {
        f: 'multi' as const,
        cmds: [
          { f: 'get' as const, key: 'k0' },
          { f: 'get' as const, key: 'k1' },
          { f: 'put' as const, key: 'k0', value: 'c104-9' },
          { f: 'put' as const, key: 'k1', value: 'c104-9' },
        ],
      },
    };
    assert.deepEqual(decodeOp(encodeOp(op)), op);
    const m = new KvMachine();
    m.apply(1, encodeOp({ client: 101, reqId: 1, cmd: { f: 'put', key: 'k1', value: 'old' } }));
    assert.deepEqual(m.apply(2, encodeOp(op))?.output, [null, 'old', 'ok', 'ok']);
    assert.equal(m.read({ f: 'get', key: 'k0' }), 'c104-9');
    assert.deepEqual(m.cached(104, 9), [null, 'old', 'ok', 'ok']);
  });

  test('an FSM snapshot restores to the same state, sessions included', () => {
    const a = new KvMachine();
    a.apply(1, encodeOp({ client: 102, reqId: 1, cmd: { f: 'put', key: 'k1', value: 'v1' } }));
    a.apply(2, encodeOp({ client: 101, reqId: 4, cmd: { f: 'append', key: 'l0', value: 'x' } }));
    a.apply(3, encodeOp({ client: 101, reqId: 5, cmd: { f: 'append', key: 'l0', value: 'y' } }));
    const b = KvMachine.restore(a.serialize());
    assert.equal(b.applied, 3);
    assert.equal(b.stateHash(), a.stateHash());
    assert.deepEqual(b.read({ f: 'read', key: 'l0' }), ['x', 'y']);
    assert.equal(b.cached(101, 5), 'ok');
    assert.deepEqual(b.serialize(), a.serialize());
    a.apply(4, encodeOp({ client: 101, reqId: 6, cmd: { f: 'append', key: 'l0', value: 'z' } }));
    assert.notEqual(KvMachine.restore(a.serialize()).stateHash(), b.stateHash());
  });

  test('a snapshot marker compacts or replaces the log the node expects to recover', () => {
    const d = new SyncedLog();
    d.writeEntries([ent(1, 1), ent(2, 1), ent(3, 1)]);
    d.sync();
    d.writeSnapshot({ index: 2, term: 1 }, 'compact');
    assert.equal(d.candidates().length, 2, 'the marker is unsynced until its save returns');
    d.sync();
    assert.deepEqual(d.snapshot, { index: 2, term: 1 });
    assert.equal(d.termAt(1), undefined);
    assert.equal(d.termAt(2), 1);
    assert.equal(d.lastIndex, 3);
    d.writeSnapshot({ index: 9, term: 4 }, 'install');
    d.writeEntries([ent(10, 4)]);
    const [synced, whole] = d.candidates();
    assert.equal(synced!.ents.length, 1);
    assert.deepEqual(whole!.snap, { index: 9, term: 4 });
    assert.deepEqual(
      whole!.ents.map((e) => e.index),
      [10],
    );
    assert.match(diffLogState(whole!, synced!) ?? '', /snapshot 4\/9 != 1\/2/);
  });

  test('after a crash the node expects the synced state, or that plus the whole unsynced batch', () => {
    const d = new SyncedLog();
    d.writeEntries([ent(1, 1), ent(2, 1)]);
    d.writeHardState({ term: 1, vote: '1', commit: 0 });
    d.sync();
    assert.deepEqual(d.candidates().length, 1);
    d.writeEntries([ent(2, 2), ent(3, 2)]);
    d.writeHardState({ term: 2, vote: '2', commit: 2 });
    assert.equal(d.lastIndex, 2, 'unsynced writes are not durable');
    const [synced, whole] = d.candidates();
    assert.equal(
      diffLogState(synced!, {
        ents: [ent(1, 1), ent(2, 1)],
        hs: { term: 1, vote: '1', commit: 0 },
        snap: { index: 0, term: 0 },
      }),
      undefined,
    );
    assert.deepEqual(
      whole!.ents.map((e) => `${e.term}/${e.index}`),
      ['1/1', '2/2', '2/3'],
    );
    assert.match(diffLogState(whole!, synced!) ?? '', /hard state t2/);
    assert.match(
      diffLogState({ ents: [ent(1, 1)], hs: synced!.hs, snap: synced!.snap }, synced!) ?? '',
      /last index 1 != 2/,
    );
    d.reset(whole!.ents, whole!.hs);
    assert.equal(d.termAt(3), 2);
    assert.equal(d.unsyncedWrites, 0);
  });

  test('the ghost reports two leaders in a term, a changed committed entry and a diverging FSM', () => {
    let ev = 5;
    const g = new Ghost(() => ev);
    g.leader(3, 1);
    g.leader(3, 1);
    assert.equal(g.violation, undefined);
    g.leader(3, 2);
    assert.deepEqual(g.violation, { ev: 5, invariant: 'I1', detail: 't3 led by n1 and n2' });
    const g2 = new Ghost(() => ev);
    g2.committed(1, 1, 1);
    g2.committed(2, 1, 1);
    ev = 9;
    g2.committed(3, 1, 2);
    assert.equal(g2.violation?.invariant, 'I7');
    assert.equal(g2.violation?.ev, 9);
    const g3 = new Ghost(() => ev);
    g3.applied(1, 1, 10, 100);
    g3.applied(2, 1, 10, 101);
    assert.equal(g3.violation?.invariant, 'I8');
    const g4 = new Ghost(() => ev);
    g4.chain(1, 4, 2, 77);
    g4.chain(2, 4, 2, 78);
    assert.equal(g4.violation?.invariant, 'I5');
  });
});

describe('raft simulation', () => {
  test('same seed → same trace hash and history; another seed differs', async () => {
    const a = await runSeed(0x5eed0042);
    const b = await runSeed(0x5eed0042);
    assert.equal(a.traceHash, b.traceHash);
    assert.deepEqual(a.history, b.history);
    assert.equal(a.summary, b.summary);
    assert.notEqual((await runSeed(0x5eed0043)).traceHash, a.traceHash);
    assert.equal(a.verdict, 'ok', a.summary);
    assert.match(a.summary, /^PASS seed=0x5eed0042 events=\d+ vtime=\d{7}\.\d{3} ops=\d+$/);
    assert.ok(a.ops > 50, `ops ${a.ops}`);
    assert.ok(a.history.some((o) => o.outcome === 'ok' && o.input.f === 'get' && o.output !== null));
  });

  test('kills at WAL, snapshot, send and apply points, torn tails, repairs and installs replay identically', async () => {
    // Seed 36 draws kills at a WAL point, a snapshot point, mid-send and both apply points,
    // torn writes of both kinds, tail repairs, installs of MsgSnap and restarts from a snapshot.
    const a = await runSeed(36);
    const b = await runSeed(36);
    assert.equal(a.verdict, 'ok', a.summary);
    assert.equal(a.traceHash, b.traceHash);
    assert.deepEqual([...(a.stats ?? [])], [...(b.stats ?? [])]);
    for (const k of [
      'kill.wal.beforeWrite',
      'kill.snap.afterFile',
      'kill.send.mid',
      'kill.apply.beforeBatch',
      'kill.apply.afterBatch',
      'snap.installed',
      'snap.recovered',
      'tear.zeros',
      'tear.garbage',
      'repairs',
    ]) {
      assert.ok((a.stats?.get(k) ?? 0) > 0, `seed 36 has ${k}`);
    }
  });

  test('the smoke model stays selectable and differs from the raft model', async () => {
    const raft = await runSeed(9);
    const smoke = await runSeed(9, { model: 'smoke' });
    assert.notEqual(raft.traceHash, smoke.traceHash);
    assert.equal(parseArgs(['--model', 'smoke']).model, 'smoke');
    assert.throws(() => parseArgs(['--model', 'smoke', '--bug', 'ack-before-persist']), /unknown --bug/);
    assert.equal((await cli(['--model', 'smoke', '--seeds', '2'])).code, 0);
  });

  test('acking before persisting is caught by I12 at the exact event; the replay fails there too', async () => {
    const { code, lines } = await cli(['--seeds', '2', '--bug', 'ack-before-persist']);
    assert.equal(code, 1);
    const fail = lines.find((l) => l.startsWith('FAIL '))!;
    const m = /^FAIL seed=(0x[0-9a-f]{8}) ev=(\d{7}) invariant=I12 detail="n\d sent \w+/.exec(fail);
    assert.ok(m, fail);
    assert.ok(lines.some((l) => l.includes(`--seed ${m[1]} --until-ev ${Number(m[2])}`)));
    assert.match(lines.at(-1)!, /^sim seeds=2 violations=2 ops=\d+ trace=[0-9a-f]{64}$/);
    const again = await cli([
      '--seed',
      m[1]!,
      '--until-ev',
      String(Number(m[2])),
      '--bug',
      'ack-before-persist',
    ]);
    assert.equal(again.code, 1);
    assert.ok(again.lines.some((l) => l.startsWith(`FAIL seed=${m[1]} ev=${m[2]} invariant=I12`)));
    assert.ok(
      again.lines.some((l) => l.includes(`ev=${m[2]} == [n1 `)),
      'status line at the failing event',
    );
  });

  test("a failing run carries every node's durable disk image", async () => {
    const r = await runSeed(3, { bug: 'lying-fsync' });
    assert.equal(r.verdict, 'illegal');
    const disk = r.artifacts?.get('disk-n1.txt') ?? '';
    assert.match(disk, /^hardstate term=\d+ vote=\S+ commit=\d+\n/);
    assert.match(disk, /unsynced writes: \d+\n$/);
    assert.equal((await runSeed(3)).artifacts, undefined);
  });

  test('a disk that loses fsynced entries on a crash is caught by I9 (durable quorum)', async () => {
    const { code, lines } = await cli(['--seeds', '4', '--start', '3', '--bug', 'lying-fsync']);
    assert.equal(code, 1);
    assert.ok(
      lines.some((l) =>
        /^FAIL seed=0x0000000[3-6] ev=\d{7} invariant=I9 detail="committed \d+\/\d+ durable on/.test(l),
      ),
      lines.filter((l) => l.startsWith('FAIL')).join('\n'),
    );
  });

  test('serving reads from any replica without ReadIndex is caught by the linearizability check', async () => {
    const { code, lines } = await cli(['--seeds', '4', '--bug', 'stale-read']);
    assert.equal(code, 1);
    assert.ok(
      lines.some((l) => /^FAIL seed=0x\d{8} ev=\d{7} invariant=LIN detail="key=\S+ not linearizable/.test(l)),
    );
    assert.ok(
      lines.some((l) => /^c\d+ +\|--/.test(l)),
      'per-client timelines are printed',
    );
  });
});
