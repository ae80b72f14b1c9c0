import assert from 'node:assert/strict';
import { NodeClock } from '../../sim/clock.ts';
import { Prng } from '../../sim/prng.ts';
import { Scheduler } from '../../sim/queue.ts';
import { Ghost } from '../../sim/raft/ghost.ts';
import { SimRaftNode } from '../../sim/raft/node.ts';
import type { Wire } from '../../sim/raft/wire.ts';
import { settle } from '../../sim/raft/world.ts';

// A one-voter simulated node on the real core and WAL, driven event by event with the
// ghost checks after each, for tests that inspect or tamper with a single node.

export const SEGMENT_BYTES = 1024;

export function oneNode(opts: { snapEvery?: number } = {}) {
  const sched = new Scheduler();
  const ghost = new Ghost(() => sched.eventCount);
  const replies: { to: number; w: Wire }[] = [];
  const node = new SimRaftNode(
    1,
    { voters: ['1'], learners: [] },
    {
      sched,
      clock: new NodeClock(sched, 1),
      send: (_from, to, w) => replies.push({ to, w }),
      ghost,
      jitter: new Prng(1),
      disk: new Prng(2),
      salt: new Prng(3),
      maxFsyncMs: 3,
      segmentBytes: SEGMENT_BYTES,
      snapEvery: opts.snapEvery ?? 0,
      snapRetain: 0,
      snapConcurrent: false,
      leaseShare: 0,
      lease: new Prng(4),
      bug: undefined,
      followerReads: false,
      log: () => {},
      diskFault: () => undefined,
      onDeath: (_n, verb, detail) => assert.fail(`unexpected ${verb} ${detail}`),
    },
  );
  const run = async (untilMs: number): Promise<void> => {
    await settle([node]);
    while ((sched.nextTimeMs() ?? Number.POSITIVE_INFINITY) <= untilMs) {
      sched.step();
      await settle([node]);
      node.check();
    }
  };
  return { sched, ghost, node, replies, run };
}
