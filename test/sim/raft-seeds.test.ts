import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../../sim/cli.ts';

// The fixed CI set: 100 seeds of the Raft model under swarm faults; every ghost invariant,
// liveness after the faults stop (I21) and linearizability must hold.
test('100 fixed seeds of the raft model pass', async () => {
  const lines: string[] = [];
  const code = await runCli(['--seeds', '100', '--start', '1'], { print: (l) => lines.push(l) });
  const failures = lines.filter((l) => l.startsWith('FAIL ') || l.startsWith('failing seed'));
  assert.deepEqual(failures, []);
  assert.equal(code, 0);
  assert.equal(lines.filter((l) => l.startsWith('PASS ')).length, 100);
  assert.match(lines.at(-1)!, /^sim seeds=100 violations=0 ops=\d+ trace=[0-9a-f]{64}$/);
});
