import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { RaftEnvelope } from '../../src/encryption/envelope/raft.ts';
import { Keystore } from '../../src/encryption/keystore.ts';
import { NonceFactory } from '../../src/encryption/nonce.ts';
import type { ApplyReport, EntryResult, Halt, RequestResult } from '../../src/kv/fsm.ts';
import { encodeHlcLease } from '../../src/kv/hlc-lease.ts';
import { encodeProposal } from '../../src/kv/proposal.ts';
import { createMemoryEngine } from '../../src/storage/memory-engine.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { utf8 } from '../../src/util/bytes.ts';
import { Err } from '../../src/util/codes.ts';
import {
  b,
  cleanupDirs,
  del,
  dump,
  entry,
  flush,
  fsmOver,
  put,
  RecordingEngine,
  rawEntry,
  readAt,
  req,
  retry,
  tmpLmdb,
  userEntry,
} from './fsm-helpers.ts';

after(cleanupDirs);

function requests(r: EntryResult | undefined): readonly RequestResult[] {
  assert.ok(
    r !== undefined && r.kind === 'requests',
    `expected a requests result, got ${JSON.stringify(r?.kind)}`,
  );
  return r.results;
}

function noHalt(rep: ApplyReport): ApplyReport {
  assert.equal(rep.halt, undefined, `unexpected halt: ${rep.halt?.code} ${rep.halt?.detail}`);
  return rep;
}

describe('Fsm: user requests', () => {
  test('every key given a version is reported with its commit ts, conflicts and replays not', async () => {
    const engine = tmpLmdb();
    const seen: string[] = [];
    const fsm = fsmOver(engine, {
      written: (key, ts) => seen.push(`${new TextDecoder().decode(key)}@${ts}`),
    });
    const log = [
      userEntry(1, [req(11n, 100n, [put('a', '1'), put('b', '2')])]),
      userEntry(2, [req(12n, 200n, [del('a')]), req(13n, 210n, [put('c', '3')], ['b'], 150n)]),
      userEntry(3, [req(14n, 300n, [flush()])]),
    ];
    noHalt(await fsm.apply(log));
    // Request 13 read b at 150, and b last changed at 100: no conflict, it applies.
    assert.deepEqual(seen.slice(0, 4), ['a@100', 'b@100', 'a@200', 'c@210']);
    assert.deepEqual(seen.slice(4).sort(), ['b@300', 'c@300'], 'a flush tombstones the live keys');
    const before = seen.length;
    noHalt(await fsm.apply(log));
    assert.equal(seen.length, before, 'a replayed entry writes nothing');
    noHalt(await fsm.apply([userEntry(4, [req(15n, 400n, [put('d', '4')], ['b'], 250n)])]));
    assert.equal(seen.length, before, 'a request that conflicts writes nothing');
    await engine.close();
  });

  test('writes are readable at their commit ts, with the applied index in the same store', async () => {
    const engine = tmpLmdb();
    const fsm = fsmOver(engine);
    assert.equal(fsm.appliedIndex(), 0n);
    const rep = noHalt(
      await fsm.apply([
        userEntry(1, [req(11n, 100n, [put('a', '1'), put('b', '2')])], 7n),
        userEntry(2, [req(12n, 200n, [put('a', '3'), del('b')])]),
      ]),
    );
    assert.equal(rep.appliedIndex, 2n);
    assert.equal(fsm.appliedIndex(), 2n);
    const first = rep.results[0];
    assert.ok(first?.kind === 'requests');
    assert.equal(first.proposalId, 7n);
    assert.deepEqual(requests(first), [{ requestId: 11n, status: 'ok', commitTs: 100n }]);
    assert.equal(readAt(engine, 'a', 99n), undefined);
    assert.equal(readAt(engine, 'a', 100n), '1');
    assert.equal(readAt(engine, 'a', 250n), '3');
    assert.equal(readAt(engine, 'b', 150n), '2');
    assert.equal(readAt(engine, 'b', 200n), undefined);
    assert.equal(fsm.lastCommitTs(), 200n);
    await engine.close();
    assert.equal(fsmOver(tmpLmdb()).lastCommitTs(), 0n);
  });

  test('TTL is stored, not judged at apply: the expireAt travels to reads', async () => {
    const engine = createMemoryEngine();
    const fsm = fsmOver(engine);
    noHalt(await fsm.apply([userEntry(1, [req(1n, 10n, [put('t', 'v', 500n)])])]));
    const mvcc = new Mvcc(engine);
    assert.equal(mvcc.get(b('t'), { ts: 10n, nowMs: 499n })?.expireAt, 500n);
    assert.equal(mvcc.get(b('t'), { ts: 10n, nowMs: 500n }), undefined);
  });

  test('replaying applied entries is a no-op: same bytes in every namespace', async () => {
    const engine = tmpLmdb();
    const log = [
      userEntry(1, [req(1n, 10n, [put('x', '1')])]),
      entry(2, encodeHlcLease(1000)),
      userEntry(3, [req(2n, 20n, [put('y', '2')]), req(3n, 21n, [del('x')])]),
    ];
    noHalt(await fsmOver(engine).apply(log));
    const before = dump(engine);
    const again = noHalt(await fsmOver(engine).apply(log));
    assert.deepEqual(
      again.results.map((r) => r.kind),
      ['skipped', 'skipped', 'skipped'],
    );
    assert.deepEqual(dump(engine), before);
    // Overlapping: a prefix replayed together with a new entry applies only the new one.
    noHalt(await fsmOver(engine).apply([...log, userEntry(4, [req(4n, 30n, [put('z', '3')])])]));
    assert.equal(readAt(engine, 'z', 30n), '3');
    assert.equal(readAt(engine, 'x', 30n), undefined);
    await engine.close();
  });

  test('OCC: a read key written after readTs conflicts and writes nothing; its neighbour applies', async () => {
    const engine = createMemoryEngine();
    const fsm = fsmOver(engine);
    noHalt(await fsm.apply([userEntry(1, [req(1n, 50n, [put('k', 'v1')])])]));
    const rep = noHalt(
      await fsm.apply([
        userEntry(2, [
          req(2n, 60n, [put('stale', 'no')], ['k'], 40n),
          req(3n, 61n, [put('fresh', 'yes')], ['k'], 50n),
        ]),
      ]),
    );
    const [stale, fresh] = requests(rep.results[0]);
    assert.equal(stale?.status, 'conflict');
    assert.ok(stale?.status === 'conflict' && Buffer.from(stale.key).toString() === 'k');
    assert.equal(fresh?.status, 'ok');
    assert.equal(readAt(engine, 'stale', 100n), undefined);
    assert.equal(readAt(engine, 'fresh', 100n), 'yes');
  });

  test('OCC sees writes of earlier entries in the same batch, and tombstones count as writes', async () => {
    const engine = createMemoryEngine();
    const fsm = fsmOver(engine);
    const rep = noHalt(
      await fsm.apply([
        userEntry(1, [req(1n, 50n, [put('k', 'v')])]),
        userEntry(2, [req(2n, 70n, [del('k')])]),
        userEntry(3, [req(3n, 80n, [put('w', 'x')], ['k'], 60n)]),
        userEntry(4, [req(4n, 81n, [put('u', 'x')], ['k'], 70n)]),
        // Within one entry, a later request sees the earlier one's write.
        userEntry(5, [req(5n, 90n, [put('m', '1')]), req(6n, 91n, [put('n', '1')], ['m'], 85n)]),
      ]),
    );
    assert.equal(requests(rep.results[2])[0]?.status, 'conflict');
    assert.equal(requests(rep.results[3])[0]?.status, 'ok');
    assert.deepEqual(
      requests(rep.results[4]).map((r) => r.status),
      ['ok', 'conflict'],
    );
    assert.equal(readAt(engine, 'w', 100n), undefined);
    assert.equal(readAt(engine, 'n', 100n), undefined);
  });

  test('dedup: a re-submitted request found at an earlier attempt is not applied again and reports its outcome', async () => {
    const engine = createMemoryEngine();
    const fsm = fsmOver(engine);
    noHalt(
      await fsm.apply([
        userEntry(1, [req(42n, 10n, [put('a', 'first')])]),
        userEntry(2, [req(43n, 11n, [put('c', 'x')], ['a'], 5n)]),
      ]),
    );
    // Retried ambiguous writes: same requestId, later commitTs, naming where the attempts went.
    const rep = noHalt(
      await fsmOver(engine).apply([
        userEntry(3, [
          retry(req(42n, 20n, [put('a', 'second')]), 1n),
          retry(req(43n, 21n, [put('c', 'y')]), 2n),
        ]),
      ]),
    );
    const [r42, r43] = requests(rep.results[0]);
    assert.deepEqual(r42, {
      requestId: 42n,
      status: 'duplicate',
      original: 'ok',
      appliedAt: 1n,
      commitTs: 20n,
    });
    assert.equal(r43?.status, 'duplicate');
    assert.ok(r43?.status === 'duplicate' && r43.original === 'conflict');
    assert.equal(readAt(engine, 'a', 30n), 'first');
    assert.equal(readAt(engine, 'c', 30n), undefined);
    // Inside one apply group: the earlier attempt is still staged, not committed.
    const staged = noHalt(
      await fsmOver(engine).apply([
        userEntry(4, [req(50n, 30n, [put('d', '1')])]),
        userEntry(5, [retry(req(50n, 31n, [put('d', '2')]), 4n)]),
      ]),
    );
    assert.deepEqual(
      staged.results.map((r) => requests(r)[0]?.status),
      ['ok', 'duplicate'],
    );
    assert.equal(readAt(engine, 'd', 40n), '1');
  });

  test('dedup looks only where the retry says its attempts went; a first attempt is never a duplicate', async () => {
    const engine = createMemoryEngine();
    const fsm = fsmOver(engine);
    noHalt(
      await fsm.apply([userEntry(1, [req(7n, 10n, [put('a', '1')])]), userEntry(2, [req(0n, 10n, [])])]),
    );
    const rep = noHalt(
      await fsm.apply([
        // Attempts named at entries that do not hold the request: it was not applied there.
        userEntry(3, [retry(req(7n, 11n, [put('a', '2')]), 2n)]),
        // A repeated id without priorAt is a new request (only the coordinator re-submits).
        userEntry(4, [req(7n, 12n, [put('a', '3')])]),
        // An index at or after the retry's own entry is no earlier attempt.
        userEntry(5, [retry(req(9n, 13n, [put('b', '1')]), 5n, 6n)]),
        // The first match in priorAt order counts.
        userEntry(6, [retry(req(7n, 14n, [put('a', '4')]), 2n, 4n, 1n)]),
      ]),
    );
    assert.deepEqual(
      rep.results.map((r) => requests(r)[0]?.status),
      ['ok', 'ok', 'ok', 'duplicate'],
    );
    const dup = requests(rep.results[3])[0];
    assert.ok(dup?.status === 'duplicate' && dup.appliedAt === 4n);
    assert.equal(readAt(engine, 'a', 20n), '3');
  });

  test('dedup rows leave the window and are pruned; requestId 0 is never recorded', async () => {
    const engine = createMemoryEngine();
    const fsm = fsmOver(engine, { dedupWindow: 2n });
    noHalt(await fsm.apply([userEntry(1, [req(9n, 10n, [put('a', '1')]), req(0n, 11n, [put('z', '1')])])]));
    const rep = noHalt(
      await fsm.apply([
        userEntry(2, [req(0n, 12n, [put('z', '2')])]),
        userEntry(3, [retry(req(9n, 13n, [put('a', 'dup')]), 1n)]),
        userEntry(4, [req(7n, 14n, [put('b', '1')])]),
        userEntry(5, [retry(req(7n, 15n, [put('b', 'dup')]), 4n)]),
      ]),
    );
    assert.equal(requests(rep.results[0])[0]?.status, 'ok');
    assert.equal(requests(rep.results[1])[0]?.status, 'duplicate'); // 1 + 2 >= 3
    assert.equal(requests(rep.results[3])[0]?.status, 'duplicate');
    assert.equal(readAt(engine, 'z', 20n), '2');
    // Index 4 is past 1 + 2: the attempt at 1 no longer counts, so requestId 9 is applied again.
    noHalt(
      await fsm.apply([
        userEntry(6, [req(1n, 16n, [put('q', '1')]), req(2n, 16n, [], ['q'], 1n)]),
        userEntry(7, [retry(req(9n, 17n, [put('a', 'again')]), 1n)]),
      ]),
    );
    assert.equal(readAt(engine, 'a', 20n), 'again');
    const rows = [...engine.range('meta', { start: utf8('_meta_dedup'), end: utf8('_meta_dedup~') })];
    // Window 2 at index 7: rows of entries 5..7 remain. Entry 5's request was a duplicate and
    // recorded nothing; entry 6 holds two records (17 bytes each).
    assert.deepEqual(
      rows.map((r) => [Buffer.from(r.key).subarray(-8).readBigUInt64BE(), r.value.length]),
      [
        [6n, 34],
        [7n, 17],
      ],
    );
  });

  test('flush hides every live key at its commit ts; later ops of the same request survive', async () => {
    const engine = createMemoryEngine();
    const fsm = fsmOver(engine);
    noHalt(
      await fsm.apply([
        userEntry(1, [req(1n, 10n, [put('a', '1'), put('b', '2'), put('e', '0', 5n)])]),
        userEntry(2, [req(2n, 20n, [put('c', '3')])]),
        userEntry(3, [req(3n, 30n, [put('d', '4'), flush(), put('after', 'x')])]),
        userEntry(4, [req(4n, 40n, [put('late', 'y')])]),
      ]),
    );
    const mvcc = new Mvcc(engine);
    const live = (ts: bigint) => mvcc.scan({ ts, nowMs: 0n }).map((v) => Buffer.from(v.key).toString());
    assert.deepEqual(live(29n), ['a', 'b', 'c', 'e']);
    assert.deepEqual(live(30n), ['after']);
    assert.deepEqual(live(40n), ['after', 'late']);
  });

  test('consecutive user entries share batches up to maxBatchEntries', async () => {
    const inner = createMemoryEngine();
    const engine = new RecordingEngine(inner);
    const fsm = fsmOver(engine, { maxBatchEntries: 3 });
    const log = [1, 2, 3, 4, 5, 6, 7].map((i) =>
      userEntry(i, [req(BigInt(i), BigInt(i), [put(`k${i}`, 'v')])]),
    );
    noHalt(await fsm.apply(log));
    assert.equal(engine.batches.length, 3);
    assert.equal(fsm.appliedIndex(), 7n);
    assert.equal(readAt(inner, 'k7', 7n), 'v');
  });

  test('conf-change and term-start entries move only the applied index', async () => {
    const engine = createMemoryEngine();
    const fsm = fsmOver(engine);
    const rep = noHalt(
      await fsm.apply([rawEntry(1, new Uint8Array(0)), rawEntry(2, Uint8Array.of(9, 9, 9), 1)]),
    );
    assert.deepEqual(
      rep.results.map((r) => r.kind),
      ['noop', 'conf-change'],
    );
    assert.equal(fsm.appliedIndex(), 2n);
    assert.deepEqual(dump(engine, ['mvcc']), []);
  });

  test('HLC: leases are kept as a maximum and passed on; applied commit stamps are observed', async () => {
    const engine = createMemoryEngine();
    const seen: string[] = [];
    const hlc = {
      observe: (ts: bigint) => seen.push(`observe ${ts}`),
      applyLease: (ms: number) => seen.push(`lease ${ms}`),
    };
    const fsm = fsmOver(engine, { hlc });
    noHalt(
      await fsm.apply([
        entry(1, encodeHlcLease(5000)),
        userEntry(2, [req(1n, 70n, [put('a', '1')]), req(2n, 65n, [put('b', '1')])]),
      ]),
    );
    noHalt(await fsm.apply([entry(3, encodeHlcLease(4000))]));
    assert.equal(fsm.hlcCeilingMs(), 5000);
    assert.deepEqual(seen, ['observe 70', 'lease 5000', 'lease 4000']);
    // A restart skips the applied lease entries, so the stored ceiling seeds the clock.
    seen.length = 0;
    noHalt(await fsmOver(engine, { hlc }).apply([entry(1, encodeHlcLease(5000))]));
    assert.deepEqual(seen, ['lease 5000']);
  });

  test('snapshot → restore carries the applied index and the data; apply continues on the copy', async () => {
    const source = tmpLmdb();
    const fsm = fsmOver(source);
    noHalt(
      await fsm.apply([
        userEntry(1, [req(1n, 10n, [put('a', '1')])]),
        { ...entry(2, encodeHlcLease(900)), term: 3 },
      ]),
    );
    const snap = await fsm.snapshot();
    assert.equal(snap.index, 2n);
    assert.equal(snap.term, 3n);
    // Applies after the snapshot was taken do not leak into it.
    noHalt(await fsm.apply([userEntry(3, [req(2n, 20n, [put('b', '2')])])]));
    const target = tmpLmdb();
    const leases: number[] = [];
    const copy = fsmOver(target, { hlc: { observe: () => {}, applyLease: (ms) => leases.push(ms) } });
    assert.equal(await copy.restore(snap.chunks), 2n);
    assert.equal(copy.appliedIndex(), 2n);
    assert.deepEqual(leases, [900]);
    assert.equal(readAt(target, 'a', 10n), '1');
    assert.equal(readAt(target, 'b', 30n), undefined);
    const rep = noHalt(await copy.apply([userEntry(3, [req(2n, 20n, [put('b', '2')])])]));
    assert.equal(rep.appliedIndex, 3n);
    assert.deepEqual(dump(target), dump(source));
    await source.close();
    await target.close();
  });

  test('sync policy: by default every batch is durable; unsynced batches replay after a crash', async () => {
    const log = [
      userEntry(1, [req(1n, 10n, [put('a', '1')])]),
      userEntry(2, [req(2n, 20n, [put('b', '2')])]),
    ];
    const synced = createMemoryEngine();
    noHalt(await fsmOver(synced).apply(log));
    const afterCrash = synced.simulateCrash();
    assert.equal(fsmOver(afterCrash).appliedIndex(), 2n);

    const lazy = createMemoryEngine();
    noHalt(await fsmOver(lazy, { sync: { syncEveryBatch: false } }).apply(log));
    const lost = lazy.simulateCrash();
    const restarted = fsmOver(lost, { sync: { syncEveryBatch: false } });
    assert.equal(restarted.appliedIndex(), 0n);
    noHalt(await restarted.apply(log));
    assert.deepEqual(dump(lost), dump(afterCrash));
  });

  test('a crash before the batch commit leaves nothing; a restart re-applies to the same state', async () => {
    const log = [
      userEntry(1, [req(1n, 10n, [put('a', '1')])]),
      userEntry(2, [req(2n, 20n, [put('b', '2')])]),
    ];
    const ref = createMemoryEngine();
    noHalt(await fsmOver(ref).apply(log));
    for (const point of ['fsm.beforeCommit', 'fsm.afterCommit'] as const) {
      const engine = createMemoryEngine();
      const faults = (p: string) => {
        if (p === point) throw new Error(`crash at ${p}`);
      };
      const rep = await fsmOver(engine, { faults }).apply(log);
      assert.ok(rep.halt !== undefined);
      if (point === 'fsm.beforeCommit') {
        assert.equal(rep.results.length, 0, 'no proposer is answered for an uncommitted batch');
        assert.equal(rep.halt.index, 1n);
      } else {
        assert.equal(rep.results.length, 2, 'a committed batch is answered');
        assert.equal(rep.halt.index, 3n, 'the halt lies above what was committed');
      }
      const disk = engine.simulateCrash();
      assert.equal(fsmOver(disk).appliedIndex(), point === 'fsm.beforeCommit' ? 0n : 2n);
      noHalt(await fsmOver(disk).apply(log));
      assert.deepEqual(dump(disk), dump(ref));
    }
  });
});

/** A halt at `index` with `code`: nothing of it written, everything before it durable, restart halts again. */
async function expectHalt(
  prefix: ReturnType<typeof userEntry>[],
  bad: ReturnType<typeof userEntry>,
  code: string,
  opts: Parameters<typeof fsmOver>[1] = {},
): Promise<Halt> {
  const engine = createMemoryEngine();
  const fsm = fsmOver(engine, opts);
  const index = BigInt(bad.index);
  const rep = await fsm.apply([
    ...prefix,
    bad,
    userEntry(Number(index) + 1, [req(999n, 999n, [put('never', 'x')])]),
  ]);
  assert.ok(rep.halt !== undefined, `expected a halt with ${code}`);
  assert.equal(rep.halt.code, code, rep.halt.detail);
  assert.equal(rep.halt.index, index);
  assert.equal(rep.appliedIndex, index - 1n);
  assert.equal(rep.results.length, prefix.length, 'entries before the halt are answered');
  const durable = engine.simulateCrash();
  assert.equal(
    fsmOver(durable).appliedIndex(),
    index - 1n,
    'I19: the durable applied index stays below the halt',
  );
  assert.equal(readAt(durable, 'never', 1000n), undefined);
  // The halted Fsm refuses further work.
  const refused = await fsm.apply([userEntry(Number(index), [req(5n, 5n, [put('x', 'y')])])]);
  assert.equal(refused.halt, rep.halt);
  await assert.rejects(fsm.snapshot(), (e: unknown) => e instanceof Error && e.message.includes('halted'));
  // A restart (new Fsm over the durable store) halts at the same entry again.
  const again = await fsmOver(durable, opts).apply([...prefix, bad]);
  assert.equal(again.halt?.index, index);
  assert.equal(again.halt?.code, code);
  assert.equal(fsmOver(durable).appliedIndex(), index - 1n);
  return rep.halt;
}

const ok = (i: number) => userEntry(i, [req(BigInt(i), BigInt(i * 10), [put(`k${i}`, 'v')])]);

describe('Fsm: halts (encryption.md §3.5, §6.3; raft.md P45, I19)', () => {
  test('malformed proposal header', async () => {
    await expectHalt(
      [ok(1)],
      rawEntry(2, Uint8Array.of(0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0)),
      Err.ProposalHeaderMalformed,
    );
    await expectHalt([ok(1)], rawEntry(2, Uint8Array.of(0x01, 0, 0)), Err.ProposalHeaderMalformed);
  });

  test('empty fsm_payload and unassigned opcodes: ErrFSMOpcodeUnknown', async () => {
    await expectHalt([ok(1)], entry(2, new Uint8Array(0)), Err.FSMOpcodeUnknown);
    await expectHalt([ok(1), ok(2)], entry(3, Uint8Array.of(0x08, 0x01)), Err.FSMOpcodeUnknown);
    await expectHalt([], entry(1, Uint8Array.of(0xff)), Err.FSMOpcodeUnknown);
  });

  test('reserved 0x06/0x07 and encryption entries without an applier: ErrEncryptionApply', async () => {
    await expectHalt([ok(1)], entry(2, Uint8Array.of(0x06, 0x01)), Err.EncryptionApply);
    await expectHalt([ok(1)], entry(2, Uint8Array.of(0x07, 0x01)), Err.EncryptionApply);
    const halt = await expectHalt(
      [ok(1)],
      entry(2, Uint8Array.of(0x03, 0x01, 0, 0, 0, 1)),
      Err.EncryptionApply,
    );
    assert.match(halt.detail, /no encryption applier/);
  });

  test('malformed user and lease payloads halt with the decoder code', async () => {
    await expectHalt([ok(1)], entry(2, Uint8Array.of(0x00, 0x02)), Err.FSMWireVersion);
    await expectHalt([ok(1)], entry(2, Uint8Array.of(0x00, 0x01, 1, 2)), Err.FSMWireMalformed);
    await expectHalt([ok(1)], entry(2, Uint8Array.of(0x02, 0x01, 0)), Err.FSMWireMalformed);
  });

  test('an entry failing half-way writes none of its requests', async () => {
    const tooLong = 'k'.repeat(3000);
    const bad = userEntry(2, [req(1n, 20n, [put('first', 'x')]), req(2n, 21n, [put(tooLong, 'y')])]);
    await expectHalt([ok(1)], bad, Err.InvalidArgument);
  });

  test('raft cutover active without a cipher: ErrRaftUnwrapFailed', async () => {
    await expectHalt([ok(1), ok(2)], ok(3), Err.RaftUnwrapFailed, { raftCutoverIndex: () => 2n });
  });

  test('raft envelope: the cutover entry is cleartext, later bodies unwrap, a tampered body halts', async () => {
    const keystore = new Keystore();
    keystore.set(5, new Uint8Array(32).fill(3));
    const env = new RaftEnvelope(keystore, new NonceFactory(1, 1), () => 5);
    const opts = { raftCutoverIndex: () => 2n, raftEnvelope: env };
    const wrapped = (i: number, body: Uint8Array) => ({
      index: i,
      term: 1,
      type: 0,
      data: encodeProposal(BigInt(i), env.wrapRaftPayload(body)),
    });
    const engine = createMemoryEngine();
    const rep = noHalt(
      await fsmOver(engine, opts).apply([
        ok(1),
        ok(2),
        wrapped(3, userEntry(0, [req(3n, 30n, [put('sealed', 'yes')])]).data.subarray(9)),
      ]),
    );
    assert.equal(rep.appliedIndex, 3n);
    assert.equal(readAt(engine, 'sealed', 30n), 'yes');

    const good = wrapped(3, userEntry(0, [req(3n, 30n, [put('sealed', 'yes')])]).data.subarray(9));
    const tampered = { ...good, data: Uint8Array.from(good.data) };
    tampered.data[tampered.data.length - 1]! ^= 1;
    const halt = await expectHalt([ok(1), ok(2)], tampered, Err.RaftUnwrapFailed, opts);
    assert.equal(halt.inner, Err.Integrity);
    // A cleartext body above the cutover is not an envelope either.
    await expectHalt([ok(1), ok(2)], ok(3), Err.RaftUnwrapFailed, opts);
  });

  test('a gap in the entry indexes halts instead of skipping entries', async () => {
    const engine = createMemoryEngine();
    const rep = await fsmOver(engine).apply([ok(1), ok(3)]);
    assert.equal(rep.halt?.index, 2n);
    assert.equal(rep.halt?.code, Err.InvalidArgument);
    assert.equal(rep.appliedIndex, 1n);
    assert.equal(readAt(engine, 'k3', 100n), undefined);
  });
});
