import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseArgs, runCli } from '../../sim/cli.ts';
import { runSeed } from '../../sim/run.ts';

async function cli(argv: string[], outDir?: string): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runCli(
    argv,
    outDir === undefined ? { print: (l) => lines.push(l) } : { print: (l) => lines.push(l), outDir },
  );
  return { code, lines };
}

describe('sim run (harness smoke model)', () => {
  test('the same seed gives the same trace hash; another seed does not', async () => {
    const a = await runSeed(0x5eed0042);
    const b = await runSeed(0x5eed0042);
    assert.equal(a.traceHash, b.traceHash);
    assert.equal(a.summary, b.summary);
    assert.deepEqual(a.history, b.history);
    assert.notEqual((await runSeed(0x5eed0043)).traceHash, a.traceHash);
    assert.equal(a.verdict, 'ok');
    assert.ok(a.ops > 50, `ops ${a.ops}`);
    assert.match(a.summary, /^PASS seed=0x5eed0042 events=\d+ vtime=\d{7}\.\d{3} ops=\d+$/);
  });

  test('--until-ev stops at that event and keeps the log lines just before it', async () => {
    const r = await runSeed(7, { untilEv: 500 });
    assert.equal(r.events, 500);
    assert.ok(r.keptLines.length > 0);
    const last = r.keptLines[r.keptLines.length - 1]!;
    assert.match(last, /^t=\d{7}\.\d{3} ev=0000500 /);
  });

  test('cli prints one summary per seed and the final line; exit 0 without violations', async () => {
    const { code, lines } = await cli(['--seeds', '3', '--start', '10']);
    assert.equal(code, 0);
    assert.equal(lines.filter((l) => l.startsWith('PASS ')).length, 3);
    assert.match(lines[0]!, /^PASS seed=0x0000000a /);
    assert.match(lines[lines.length - 1]!, /^sim seeds=3 violations=0 ops=\d+ trace=[0-9a-f]{64}$/);
    assert.equal((await cli(['--seeds', '3', '--start', '10'])).lines.at(-1), lines.at(-1));
  });

  test('a broken model is caught: FAIL line, counterexample, replay command, exit 1', async () => {
    const out = mkdtempSync(join(tmpdir(), 'sealkv-sim-'));
    try {
      const { code, lines } = await cli(['--seeds', '2', '--bug', 'stale-read'], out);
      assert.equal(code, 1);
      const fail = lines.find((l) => l.startsWith('FAIL '))!;
      assert.match(fail, /^FAIL seed=0x0000000\d ev=\d{7} invariant=LIN detail="key=\S+ not linearizable/);
      const replay = lines.find((l) => l.startsWith('failing seed'))!;
      const m = /--seed (0x[0-9a-f]{8}) --until-ev (\d+)$/.exec(replay)!;
      assert.ok(m, replay);
      assert.match(lines.at(-1)!, /^sim seeds=2 violations=[12] /);
      assert.ok(
        lines.some((l) => /^c\d+ +\|--/.test(l)),
        'per-client timelines are printed',
      );
      assert.ok(existsSync(join(out, m[1]!, 'history.txt')));
      assert.match(readFileSync(join(out, m[1]!, 'counterexample.txt'), 'utf8'), /^FAIL /);
      // The replay stops where the violation became visible and still fails there. Ops still
      // open at that event are cut, so the checker may shrink to an earlier counterexample.
      const again = await cli(['--seed', m[1]!, '--until-ev', m[2]!, '--bug', 'stale-read']);
      assert.equal(again.code, 1);
      const ev = again.lines
        .map((l) => /^FAIL seed=\S+ ev=(\d{7}) invariant=LIN /.exec(l)?.[1])
        .find(Boolean);
      assert.ok(ev !== undefined && Number(ev) <= Number(m[2]), again.lines.join('\n'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('argument parsing', () => {
    assert.deepEqual(parseArgs([]).seeds, [1]);
    assert.deepEqual(parseArgs(['--seeds', '2', '--start', '0x10']).seeds, [16, 17]);
    assert.deepEqual(parseArgs(['--seed', '0x5eed0042', '--until-ev', '9']), {
      seeds: [0x5eed0042],
      untilEv: 9,
    });
    assert.throws(() => parseArgs(['--seeds', 'x']), RangeError);
    assert.throws(() => parseArgs(['--frobnicate']), /unknown argument/);
  });
});
