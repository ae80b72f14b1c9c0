import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { StorageEnvelope } from '../../src/encryption/envelope/storage.ts';
import { Keystore } from '../../src/encryption/keystore.ts';
import { NonceFactory } from '../../src/encryption/nonce.ts';
import type { Reply } from '../../src/redis/commands/types.ts';
import { openSingleNode, type SingleNode, withSingleNode } from '../helpers/single-node.ts';

const b = (s: string) => Buffer.from(s);
const cmd = (...a: string[]) => a.map(b);

/** Runs `cmds` until their proposal is in the log and holds it there unapplied; the reply stays pending. */
async function proposedNotApplied(node: SingleNode, cmds: Buffer[][]): Promise<{ reply: Promise<Reply[]> }> {
  node.holdApplies = true;
  const before = node.proposed;
  const reply = node.backend.run(cmds);
  while (node.proposed === before) await new Promise((r) => setImmediate(r));
  return { reply };
}

describe('coordinator over FSM and MVCC', () => {
  test('concurrent read-modify-writes on one key never lose an update (OCC retries)', async () => {
    const { node, close } = openSingleNode();
    try {
      await Promise.all(Array.from({ length: 60 }, () => node.backend.run([cmd('INCR', 'counter')])));
      const [r] = await node.backend.run([cmd('GET', 'counter')]);
      assert.deepEqual(r, { t: 'bulk', b: b('60') });
    } finally {
      await close();
    }
  });

  test('a write whose outcome was lost is re-submitted naming its first attempt and applied once', async () => {
    const { node, close } = openSingleNode();
    try {
      await node.backend.run([cmd('SET', 'n', '0')]);
      const incr = await proposedNotApplied(node, [cmd('INCR', 'n')]);
      // The first attempt is in the log, unapplied; a leader change makes its outcome unknown.
      node.coordinator.onLeadershipLost();
      node.coordinator.onLeaderReady();
      await new Promise((r) => setTimeout(r, 20));
      await node.releaseApplies();
      assert.deepEqual(await incr.reply, [{ t: 'int', n: 1n }]);
      // The re-submission found the first attempt (index 3, after SET and the lease) applied.
      const attempts = node.results.slice(-2);
      assert.deepEqual(
        attempts.map((r) => [r.status, r.status === 'duplicate' ? r.appliedAt : undefined]),
        [
          ['ok', undefined],
          ['duplicate', 3n],
        ],
      );
      const [r] = await node.backend.run([cmd('GET', 'n')]);
      assert.deepEqual(r, { t: 'bulk', b: b('1') });
    } finally {
      await close();
    }
  });

  test('a read is served only once leadership held after the applied state was read (P34)', async () => {
    const { node, close } = openSingleNode();
    try {
      await node.backend.run([cmd('SET', 'r', 'v1')]);
      let checks = 0;
      node.stillValid = () => ++checks > 3;
      const [r] = await node.backend.run([cmd('GET', 'r')]);
      assert.deepEqual(r, { t: 'bulk', b: b('v1') });
      assert.equal(checks, 4, 'three lapsed checks were retried, the fourth served the read');
    } finally {
      await close();
    }
  });

  test('a read-only body at a confirmed timestamp is answered even if the lease lapses while it runs', async () => {
    const { node, close } = openSingleNode();
    try {
      await node.backend.run([cmd('SET', 'n', '0')]);
      // Every confirmation sees a newer timestamp than the body's first run,
      // because a write lands between each run and its confirmation.
      let runs = 0;
      let write: Promise<unknown> = Promise.resolve();
      // The lease lapses while the second run reads (a long body): that run
      // read a snapshot confirmed earlier, so its answer stands.
      node.stillValid = () => runs < 2;
      const result = await node.coordinator.transact((tx) => {
        runs++;
        if (runs === 1) write = node.backend.run([cmd('INCR', 'n')]);
        return tx.get(b('n')) !== undefined;
      });
      await write;
      assert.deepEqual(result, { ok: true, value: true });
      assert.ok(runs <= 2, `the body ran ${runs} times`);
    } finally {
      await close();
    }
  });

  test('DBSIZE counts in slices at one confirmed timestamp, letting the event loop run between them', async () => {
    const { node, close } = openSingleNode();
    try {
      for (let c = 0; c < 10; c++) {
        const mset = ['MSET'];
        for (let i = 0; i < 100; i++) mset.push(`k${c}-${i}`, 'v');
        await node.backend.run([cmd(...mset)]);
      }
      await node.backend.run([cmd('SET', 'gone', 'v', 'PX', '1'), cmd('DEL', 'k0-0')]);
      await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(await node.backend.run([cmd('DBSIZE')]), [{ t: 'int', n: 999 }]);
      let turns = 0;
      const pinned = new Set<bigint | undefined>();
      const ticker = setInterval(() => {
        turns++;
        pinned.add(node.pins.oldest());
      }, 0);
      try {
        assert.equal(await node.coordinator.countKeys(50), 999);
      } finally {
        clearInterval(ticker);
      }
      assert.ok(turns >= 3, `the event loop ran ${turns} timer turns during a count in 20 slices`);
      // GC keeps the versions the count reads: its timestamp is pinned while it runs.
      assert.ok(
        [...pinned].some((ts) => ts !== undefined && ts > 0n),
        'pinned during the count',
      );
      assert.equal(node.pins.oldest(), undefined, 'released after it');
      // Inside a pipeline or with arguments DBSIZE takes the ordinary path.
      const [size, err] = await node.backend.run([cmd('DBSIZE'), cmd('DBSIZE', 'extra')]);
      assert.deepEqual(size, { t: 'int', n: 999 });
      assert.equal(err?.t, 'error');
    } finally {
      await close();
    }
  });

  test('a pipeline segment sees its own earlier writes; a failing command changes nothing', async () => {
    const { node, close } = openSingleNode();
    try {
      const replies = await node.backend.run([
        cmd('SET', 'a', '1'),
        cmd('INCR', 'a'),
        cmd('LPUSH', 'a', 'x'),
        cmd('GET', 'a'),
      ]);
      assert.deepEqual(
        replies.map((r) => r.t),
        ['simple', 'int', 'error', 'bulk'],
      );
      assert.deepEqual(replies[3], { t: 'bulk', b: b('2') });
    } finally {
      await close();
    }
  });

  test('WATCH: EXEC fails when a watched key changed after the watch, succeeds otherwise', async () => {
    const { node, close } = openSingleNode();
    try {
      await node.backend.run([cmd('SET', 'w', '1')]);
      const w1 = await node.backend.watch([b('w')]);
      assert.deepEqual(await node.backend.transaction([cmd('SET', 'w', '2')], [w1]), [
        { t: 'simple', s: 'OK' },
      ]);
      const w2 = await node.backend.watch([b('w')]);
      await node.backend.run([cmd('SET', 'w', 'other')]);
      assert.equal(await node.backend.transaction([cmd('SET', 'w', '3')], [w2]), null);
      assert.deepEqual((await node.backend.run([cmd('GET', 'w')]))[0], { t: 'bulk', b: b('other') });
    } finally {
      await close();
    }
  });

  test('a concurrent MULTI transfer between two keys keeps the total (serializable)', async () => {
    const { node, close } = openSingleNode();
    try {
      await node.backend.run([cmd('SET', 'x', '100'), cmd('SET', 'y', '100')]);
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          node.backend.transaction(
            i % 2 === 0
              ? [cmd('DECRBY', 'x', '3'), cmd('INCRBY', 'y', '3')]
              : [cmd('DECRBY', 'y', '2'), cmd('INCRBY', 'x', '2')],
            [],
          ),
        ),
      );
      const [x, y] = await node.backend.run([cmd('GET', 'x'), cmd('GET', 'y')]);
      const total = Number((x as { b: Buffer }).b.toString()) + Number((y as { b: Buffer }).b.toString());
      assert.equal(total, 200);
    } finally {
      await close();
    }
  });

  test('SCAN pages through every key exactly once, and a body sees its own new and deleted keys', async () => {
    const { node, close } = openSingleNode();
    try {
      await node.backend.run(
        Array.from({ length: 20 }, (_, i) => cmd('SET', `k${String(i).padStart(2, '0')}`, 'v')),
      );
      const seen: string[] = [];
      let cursor = '0';
      do {
        const [r] = await node.backend.run([cmd('SCAN', cursor, 'COUNT', '3')]);
        assert.ok(r?.t === 'array' && r.items !== null);
        const [c, keys] = r.items;
        assert.ok(c?.t === 'bulk' && keys?.t === 'array' && keys.items !== null);
        cursor = c.b!.toString();
        for (const k of keys.items) if (k.t === 'bulk') seen.push(k.b!.toString());
      } while (cursor !== '0');
      assert.deepEqual(
        seen,
        Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`),
      );
      const replies = await node.backend.run([
        cmd('DEL', 'k00', 'k01'),
        cmd('SET', 'a', '1'),
        cmd('KEYS', '*'),
      ]);
      const keys = replies[2];
      assert.ok(keys?.t === 'array' && keys.items !== null);
      const names = keys.items.map((k) => (k.t === 'bulk' ? k.b!.toString() : ''));
      assert.equal(names.length, 19);
      assert.equal(names[0], 'a');
      assert.ok(!names.includes('k00') && !names.includes('k01'));
    } finally {
      await close();
    }
  });

  test('with the storage envelope active no value reaches the store files in cleartext', async () => {
    const keystore = new Keystore();
    keystore.set(7, new Uint8Array(32).fill(9));
    const sealer = new StorageEnvelope(keystore, new NonceFactory(1, 1), () => ({
      activeStorageKeyId: 7,
      envelopeActive: true,
    }));
    const { node, close } = openSingleNode(sealer);
    const canary = 'canary-7d1f0c2e-plaintext';
    try {
      await node.backend.run([
        cmd('SET', 'secret', canary),
        cmd('HSET', 'h', 'f', canary),
        cmd('RPUSH', 'l', canary),
      ]);
      const [got] = await node.backend.run([cmd('GET', 'secret')]);
      assert.deepEqual(got, { t: 'bulk', b: b(canary) });
      const dir = (node.engine as unknown as { path?: string }).path;
      if (dir !== undefined) {
        for (const f of readdirSync(dir)) assert.ok(!readFileSync(join(dir, f)).includes(canary), f);
      }
      const raw = [...node.engine.range('mvcc', {})].map((r) => Buffer.from(r.value));
      assert.ok(raw.length >= 3);
      for (const v of raw) assert.ok(!v.includes(canary));
    } finally {
      await close();
    }
  });
});

describe('follower reads', () => {
  test('a follower read waits until this node applied the read index, so it sees the write before it', () =>
    withSingleNode(async (node) => {
      await node.backend.run([cmd('SET', 'k', 'v1')]);
      const write = await proposedNotApplied(node, [cmd('SET', 'k', 'v2')]);
      node.leading = false;
      // The read index names the write's entry, which is committed but not applied here yet.
      let answered = false;
      const read = node.backend.runHere([cmd('GET', 'k')]).then((r) => {
        answered = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(answered, false, 'no answer before the write applied');
      await node.releaseApplies();
      assert.deepEqual(await read, [{ t: 'bulk', b: b('v2') }]);
      assert.deepEqual(await write.reply, [{ t: 'simple', s: 'OK' }]);
    }));

  test('an answer that depends on an expiry within the clock skew is left to the leader', () =>
    withSingleNode(async (node) => {
      await node.backend.run([
        cmd('SET', 'soon', 'x', 'PX', '200'),
        cmd('SET', 'later', 'y', 'PX', '60000'),
        cmd('SET', 'plain', 'z'),
      ]);
      node.leading = false;
      assert.equal(await node.backend.runHere([cmd('GET', 'soon')]), undefined);
      assert.equal(await node.backend.runHere([cmd('GET', 'plain'), cmd('EXISTS', 'soon')]), undefined);
      assert.deepEqual(await node.backend.runHere([cmd('GET', 'later'), cmd('GET', 'plain')]), [
        { t: 'bulk', b: b('y') },
        { t: 'bulk', b: b('z') },
      ]);
    }));

  test('batches with a write, a scan, a random pick or a clock-dependent command are left to the leader', () =>
    withSingleNode(async (node) => {
      await node.backend.run([cmd('SET', 'plain', 'z'), cmd('SADD', 's', 'a', 'b')]);
      node.leading = false;
      for (const batch of [
        [cmd('GET', 'plain'), cmd('INCR', 'n')],
        [cmd('SCAN', '0')],
        [cmd('SRANDMEMBER', 's')],
        [cmd('TTL', 'plain')],
        [cmd('DBSIZE')],
      ]) {
        assert.equal(await node.backend.runHere(batch), undefined, batch[0]![0]!.toString());
      }
      assert.equal(node.proposed, 2, 'nothing was proposed by the refused batches');
      assert.deepEqual(await node.backend.runHere([cmd('SMEMBERS', 's'), cmd('TYPE', 'plain')]), [
        {
          t: 'array',
          items: [
            { t: 'bulk', b: b('a') },
            { t: 'bulk', b: b('b') },
          ],
        },
        { t: 'simple', s: 'string' },
      ]);
    }));

  test('a body that writes is refused as a follower read (ErrInternal)', () =>
    withSingleNode(async (node) => {
      node.leading = false;
      await assert.rejects(
        node.coordinator.followerRead((tx) => tx.put(b('k'), b('v'), 0n)),
        /ErrInternal|follower read/,
      );
    }));

  test('a leader does not take the follower-read path (its reads re-check the lease, P34)', () =>
    withSingleNode(async (node) => {
      await node.backend.run([cmd('SET', 'plain', 'z')]);
      assert.equal(await node.backend.runHere([cmd('GET', 'plain')]), undefined);
    }));
});
