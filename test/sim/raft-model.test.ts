import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseArgs, runCli } from '../../sim/cli.ts';
import { DurableLog } from '../../sim/raft/disk.ts';
import { Ghost } from '../../sim/raft/ghost.ts';
import { decodeOp, encodeOp, KvMachine } from '../../sim/raft/kv.ts';
import { runSeed } from '../../sim/run.ts';
import { EntryType } from '../../src/raft/core/types.ts';

function cli(argv: string[]): { code: number; lines: string[] } {
  const lines: string[] = [];
  const code = runCli(argv, { print: (l) => lines.push(l) });
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

  test('a crash keeps synced writes and a prefix of the unsynced ones', () => {
    const d = new DurableLog();
    d.writeEntries([ent(1, 1), ent(2, 1)]);
    d.writeHardState({ term: 1, vote: '1', commit: 0 });
    d.sync();
    d.writeEntries([ent(3, 1)]);
    d.writeHardState({ term: 2, vote: '2', commit: 2 });
    d.crash(1);
    assert.equal(d.lastIndex, 3);
    assert.deepEqual(d.hardState, { term: 1, vote: '1', commit: 0 });
    d.writeEntries([ent(3, 2), ent(4, 2)]);
    d.crash(0);
    assert.equal(d.termAt(3), 1);
    assert.equal(d.lastIndex, 3);
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
  test('same seed → same trace hash and history; another seed differs', () => {
    const a = runSeed(0x5eed0042);
    const b = runSeed(0x5eed0042);
    assert.equal(a.traceHash, b.traceHash);
    assert.deepEqual(a.history, b.history);
    assert.equal(a.summary, b.summary);
    assert.notEqual(runSeed(0x5eed0043).traceHash, a.traceHash);
    assert.equal(a.verdict, 'ok', a.summary);
    assert.match(a.summary, /^PASS seed=0x5eed0042 events=\d+ vtime=\d{7}\.\d{3} ops=\d+$/);
    assert.ok(a.ops > 50, `ops ${a.ops}`);
    assert.ok(a.history.some((o) => o.outcome === 'ok' && o.input.f === 'get' && o.output !== null));
  });

  test('the smoke model stays selectable and differs from the raft model', () => {
    const raft = runSeed(9);
    const smoke = runSeed(9, { model: 'smoke' });
    assert.notEqual(raft.traceHash, smoke.traceHash);
    assert.equal(parseArgs(['--model', 'smoke']).model, 'smoke');
    assert.throws(() => parseArgs(['--model', 'smoke', '--bug', 'ack-before-persist']), /unknown --bug/);
    assert.equal(cli(['--model', 'smoke', '--seeds', '2']).code, 0);
  });

  test('acking before persisting is caught by I12 at the exact event; the replay fails there too', () => {
    const { code, lines } = cli(['--seeds', '2', '--bug', 'ack-before-persist']);
    assert.equal(code, 1);
    const fail = lines.find((l) => l.startsWith('FAIL '))!;
    const m = /^FAIL seed=(0x[0-9a-f]{8}) ev=(\d{7}) invariant=I12 detail="n\d sent \w+/.exec(fail);
    assert.ok(m, fail);
    assert.ok(lines.some((l) => l.includes(`--seed ${m[1]} --until-ev ${Number(m[2])}`)));
    assert.match(lines.at(-1)!, /^sim seeds=2 violations=2 ops=\d+ trace=[0-9a-f]{64}$/);
    const again = cli(['--seed', m[1]!, '--until-ev', String(Number(m[2])), '--bug', 'ack-before-persist']);
    assert.equal(again.code, 1);
    assert.ok(again.lines.some((l) => l.startsWith(`FAIL seed=${m[1]} ev=${m[2]} invariant=I12`)));
    assert.ok(
      again.lines.some((l) => l.includes(`ev=${m[2]} == [n1 `)),
      'status line at the failing event',
    );
  });

  test("a failing run carries every node's durable disk image", () => {
    const r = runSeed(3, { bug: 'lying-fsync' });
    assert.equal(r.verdict, 'illegal');
    const disk = r.artifacts?.get('disk-n1.txt') ?? '';
    assert.match(disk, /^hardstate term=\d+ vote=\S+ commit=\d+\n/);
    assert.match(disk, /unsynced writes: \d+\n$/);
    assert.equal(runSeed(3).artifacts, undefined);
  });

  test('a disk that loses fsynced entries on a crash is caught by I9 (durable quorum)', () => {
    const { code, lines } = cli(['--seeds', '4', '--start', '3', '--bug', 'lying-fsync']);
    assert.equal(code, 1);
    assert.ok(
      lines.some((l) =>
        /^FAIL seed=0x0000000[3-6] ev=\d{7} invariant=I9 detail="committed \d+\/\d+ durable on/.test(l),
      ),
      lines.filter((l) => l.startsWith('FAIL')).join('\n'),
    );
  });

  test('serving reads from any replica without ReadIndex is caught by the linearizability check', () => {
    const { code, lines } = cli(['--seeds', '4', '--bug', 'stale-read']);
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
