import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Ghost, Violation } from '../../sim/raft/ghost.ts';
import { WAL_DIR } from '../../sim/raft/node.ts';
import { readWalView, viewLastIndex } from '../../sim/raft/wal-view.ts';
import { Wal } from '../../src/raft/wal/wal.ts';
import { isSealError } from '../../src/util/errors.ts';
import { oneNode, SEGMENT_BYTES } from './raft-one-node.ts';

// I20, second half: damage in synced data is a startup refusal, never a silent cut. A
// one-voter simulated node writes enough through the real WAL to close segments; a bit flip
// at rest in a closed segment must make recovery refuse with a typed error, and the simulated
// node must report it as I20 and stay down rather than start on a shortened log.

function violationOf(g: Ghost): Violation | undefined {
  return g.violation;
}

describe('WAL recovery of a simulated node (I20)', () => {
  test('a bit flip in a closed segment makes recovery refuse; the node stays down', async () => {
    const { sched, ghost, node, replies, run } = oneNode();
    await run(3000);
    assert.equal(node.roleLetter(), 'L', 'a one-voter cluster elects itself');
    for (let reqId = 1; reqId <= 60; reqId++) {
      node.receive(101, { t: 'req', reqId, cmd: { f: 'put', key: 'k0', value: `value-${reqId}` } });
      await run(sched.nowMs + 20);
    }
    assert.equal(replies.filter((r) => r.w.t === 'resp').length, 60, 'every write was acknowledged');
    assert.equal(ghost.violation, undefined);

    const segs = (await node.disk.list(WAL_DIR)).filter((n) => n.endsWith('.log'));
    assert.ok(segs.length >= 3, `segments rotated: ${segs.join(' ')}`);
    const closed = segs[1]!;
    const path = `${WAL_DIR}/${closed}`;
    const bytes = await node.disk.readFile(path);
    node.crash();
    const before = viewLastIndex(readWalView(node.disk.durableImage(), WAL_DIR));
    assert.ok(before >= 60, `every acknowledged entry is durable (last ${before})`);

    node.disk.flipBit(path, bytes.length >> 1, 5);
    await assert.rejects(
      Wal.open(node.disk, { dir: WAL_DIR, segmentBytes: SEGMENT_BYTES, salt: () => 7 }),
      (e: unknown) => isSealError(e, 'ErrWalCorrupt') && e.details.file === closed,
    );
    // Refusal touched nothing: the damaged bytes are still there for an operator to inspect.
    assert.equal((await node.disk.readFile(path)).length, bytes.length);

    node.restart();
    await run(sched.nowMs + 2000);
    assert.equal(node.alive, false, 'the node does not start on a log with a hole');
    // Read through a call: the earlier assertion narrowed the property to undefined.
    const v = violationOf(ghost);
    assert.equal(v?.invariant, 'I20');
    assert.match(v?.detail ?? '', new RegExp(`refused to start: ErrWalCorrupt: ${closed}`));
  });
});
