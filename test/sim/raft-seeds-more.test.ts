import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../../sim/cli.ts';

// With raft-seeds.test.ts, CI runs 300 fixed seeds of the Raft model; this file holds seeds
// 101-300 so the two halves run in parallel with the rest of the suite.
test('seeds 101-300 of the raft model pass', async () => {
  const lines: string[] = [];
  const code = await runCli(['--seeds', '200', '--start', '101'], { print: (l) => lines.push(l) });
  const failures = lines.filter((l) => l.startsWith('FAIL ') || l.startsWith('failing seed'));
  assert.deepEqual(failures, []);
  assert.equal(code, 0);
  assert.equal(lines.filter((l) => l.startsWith('PASS ')).length, 200);
});
