import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../../sim/cli.ts';

// The fixed CI set: 100 seeds of the Raft model under swarm faults; every ghost invariant,
// liveness after the faults stop (I21) and linearizability must hold. The set must also keep
// exercising every fault class of raft.md §4 that the model injects, or passing means little.
const MUST_OCCUR = [
  'crash',
  'kill.wal.beforeWrite',
  'kill.wal.beforeSync',
  'kill.wal.afterSync',
  'kill.segment.rotate',
  'kill.recovery.beforeSync',
  'tear.zeros',
  'tear.garbage',
  'EIO',
  'ENOSPC',
  'repairs',
  'recover.unsynced-batch-kept',
  'wal.rotations',
  'kill.snap.afterFile',
  'kill.snap.beforeMarker',
  'snap.taken',
  'snap.taken.concurrent',
  'snap.sent',
  'snap.installed',
  'snap.recovered',
  'transfer.caught-up',
  'transfer.any',
  'transfer.won',
  'lease.served',
  'lease.refused',
  'ops.multi',
  'kill.send.mid',
  'kill.apply.beforeBatch',
  'kill.apply.afterBatch',
  'halt',
  'conf.add-learner',
  'conf.promote',
  'conf.remove',
  'conf.readd-learner',
  'conf.applied',
  'conf.snap-recovered',
  'conf.remove.leader',
  'conf.refused',
  'conf.add-voter',
  'conf.remove-learner',
];

test('100 fixed seeds of the raft model pass', async () => {
  const lines: string[] = [];
  const code = await runCli(['--seeds', '100', '--start', '1', '--stats'], { print: (l) => lines.push(l) });
  const failures = lines.filter((l) => l.startsWith('FAIL ') || l.startsWith('failing seed'));
  assert.deepEqual(failures, []);
  assert.equal(code, 0);
  assert.equal(lines.filter((l) => l.startsWith('PASS ')).length, 100);
  assert.match(lines.at(-1)!, /^sim seeds=100 violations=0 ops=\d+ trace=[0-9a-f]{64}$/);
  const stats = new Map(
    (lines.find((l) => l.startsWith('sim stats ')) ?? '')
      .split(' ')
      .slice(2)
      .map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])] as const),
  );
  for (const k of MUST_OCCUR) assert.ok((stats.get(k) ?? 0) > 0, `no ${k} in 100 seeds: ${[...stats]}`);
});

test('30 seeds with follower reads pass, and followers serve reads through a forwarded ReadIndex', async () => {
  const lines: string[] = [];
  const code = await runCli(['--seeds', '30', '--start', '5001', '--follower-reads', '--stats'], {
    print: (l) => lines.push(l),
  });
  const failures = lines.filter((l) => l.startsWith('FAIL ') || l.startsWith('failing seed'));
  assert.deepEqual(failures, []);
  assert.equal(code, 0);
  const served = Number(
    / reads\.follower=(\d+)/.exec(lines.find((l) => l.startsWith('sim stats ')) ?? '')?.[1],
  );
  assert.ok(served > 100, `followers served ${served} reads`);
  const leased = Number(
    / lease\.served=(\d+)/.exec(lines.find((l) => l.startsWith('sim stats ')) ?? '')?.[1],
  );
  assert.ok(leased > 0, 'some seeds ran with lease reads on, where a valid lease answers forwarded reads');
});
