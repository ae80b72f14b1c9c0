import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { EncryptionApplier } from '../../src/encryption/applier/index.ts';
import type { ApplierFaultPoint } from '../../src/encryption/applier/types.ts';
import { RaftEnvelope } from '../../src/encryption/envelope/raft.ts';
import { Keystore } from '../../src/encryption/keystore.ts';
import { NonceFactory } from '../../src/encryption/nonce.ts';
import { registryKey } from '../../src/encryption/registry/codec.ts';
import {
  REGISTRY_INDEX_KEY,
  type RegistryFaultPoint,
  SIDECAR_INDEX_KEY,
} from '../../src/encryption/registry/store.ts';
import type { SidecarFaultPoint } from '../../src/encryption/sidecar/file.ts';
import { parseSidecar } from '../../src/encryption/sidecar/schema.ts';
import { APPLIED_KEY } from '../../src/kv/fsm/meta.ts';
import { type ApplyReport, Fsm, type FsmEntry, type FsmFaultPoint } from '../../src/kv/fsm.ts';
import { encodeProposal } from '../../src/kv/proposal.ts';
import { LmdbRegistryStore } from '../../src/kv/registry-store.ts';
import { encodeRequests } from '../../src/kv/request.ts';
import type { Engine } from '../../src/storage/engine.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { bytesEqual, readU64be } from '../../src/util/bytes.ts';
import { Err } from '../../src/util/codes.ts';
import { A, B, boot, C, enableRaft, kek, MemFs, reg } from '../encryption/state/helpers.ts';
import {
  cleanupDirs,
  dump,
  entry,
  put,
  RecordingEngine,
  readAt,
  req,
  tmpLmdb,
  userEntry,
} from './fsm-helpers.ts';

after(cleanupDirs);

type Point = ApplierFaultPoint | RegistryFaultPoint | SidecarFaultPoint | FsmFaultPoint;

/**
 * One replica: an lmdb store (registry rows, applied index, data), a sidecar
 * on an in-memory filesystem, and a process (keystore, applier, wrap state,
 * Fsm) that `restart()` rebuilds from that durable state.
 */
class Replica {
  readonly engine: RecordingEngine;
  readonly fs = new MemFs();
  readonly path = '/data/encryption/keys.json';
  readonly registry: LmdbRegistryStore;
  crashAt: ((p: Point, index: bigint) => boolean) | undefined;
  keystore = new Keystore();
  cutover = 0n;
  raftKey = 0;
  fsm: Fsm;

  constructor(engine: Engine = tmpLmdb()) {
    this.engine = new RecordingEngine(engine);
    this.registry = new LmdbRegistryStore(this.engine);
    this.fsm = this.restart();
  }

  /** A new process over the same disk; as at start-up, keys and the wrap come from the sidecar. */
  restart(): Fsm {
    this.keystore = new Keystore();
    this.cutover = 0n;
    this.raftKey = 0;
    const raw = this.fs.readFile(this.path);
    if (raw !== undefined) {
      const sc = parseSidecar(raw);
      for (const [id, k] of sc.keys) this.keystore.set(id, kek.unwrap(k.wrapped));
      // Start-up installs the wrap only when the sidecar has a raft cutover (§3.5).
      if (sc.raftEnvelopeCutoverIndex !== 0n) {
        this.cutover = sc.raftEnvelopeCutoverIndex;
        this.raftKey = sc.active.raft;
      }
    }
    let current = 0n;
    const crash = (p: Point, index = current) => {
      if (this.crashAt?.(p, index)) throw new Error(`simulated crash at ${p}`);
    };
    this.registry.faults = (p) => crash(p);
    const applier = new EncryptionApplier({
      registry: this.registry,
      kek,
      keystore: this.keystore,
      sidecarPath: this.path,
      sidecarIo: { fs: this.fs, faults: (p) => crash(p) },
      clock: () => 1_700_000_000_000,
      installer: {
        install: (cutover, raftKeyId) => {
          this.cutover = cutover;
          this.raftKey = raftKeyId;
        },
      },
      faults: (p, index) => crash(p, index),
    });
    const tracking = {
      applyEntry: (index: bigint, payload: Uint8Array) => {
        current = index;
        return applier.applyEntry(index, payload);
      },
    };
    this.fsm = new Fsm({
      mvcc: new Mvcc(this.engine),
      engine: this.engine,
      applier: tracking,
      raftEnvelope: new RaftEnvelope(this.keystore, new NonceFactory(0xaaaa, 1), () => this.raftKey),
      raftCutoverIndex: () => this.cutover,
      faults: (p, index) => crash(p, index),
    });
    return this.fsm;
  }

  /** Raft entry data for `body` as the leader would submit it at `index`. */
  wrap(index: number, body: Uint8Array): FsmEntry {
    const sealed =
      BigInt(index) > this.cutover && this.cutover !== 0n ? this.envelope().wrapRaftPayload(body) : body;
    return { index, term: 1, type: 0, data: encodeProposal(BigInt(index), sealed) };
  }

  envelope(): RaftEnvelope {
    return new RaftEnvelope(this.keystore, new NonceFactory(0xbbbb, 1), () => this.raftKey);
  }

  state(): unknown {
    const raw = this.fs.readFile(this.path);
    return {
      store: dump(this.engine),
      sidecar: raw === undefined ? undefined : Buffer.from(raw).toString('utf8'),
      keys: this.keystore.ids(),
      wrap: [this.cutover, this.raftKey],
    };
  }
}

function noHalt(rep: ApplyReport): ApplyReport {
  assert.equal(
    rep.halt,
    undefined,
    `unexpected halt: ${rep.halt?.code} ${rep.halt?.inner} ${rep.halt?.detail}`,
  );
  return rep;
}

const user = (i: number) => userEntry(i, [req(BigInt(i), BigInt(i * 10), [put(`k${i}`, `v${i}`)])]);
// 1 user, 2 bootstrap, 3 registration, 4 user.
const LOG: FsmEntry[] = [user(1), entry(2, boot(1, 2)), entry(3, reg(1, A, 1)), user(4)];

describe('Fsm with the encryption applier and the lmdb registry', () => {
  test('registration and bootstrap apply; rows, sidecar and indexes land where §5 puts them', async () => {
    const r = new Replica();
    const rep = noHalt(await r.fsm.apply(LOG));
    assert.deepEqual(
      rep.results.map((x) => (x.kind === 'encryption' ? `${x.outcome.op}:${x.outcome.effect}` : x.kind)),
      ['requests', 'bootstrap:applied', 'registration:applied', 'requests'],
    );
    assert.equal(r.fsm.appliedIndex(), 4n);
    assert.equal(r.registry.registryIndex(), 3n);
    assert.equal(r.registry.sidecarIndex(), 2n);
    for (const m of [A, B, C]) assert.ok(r.registry.get(registryKey(2, Number(m & 0xffffn))) !== undefined);
    const sc = parseSidecar(r.fs.readFile(r.path)!);
    assert.deepEqual(sc.active, { storage: 1, raft: 2 });
    assert.equal(sc.raftAppliedIndex, 2n);
    assert.equal(readAt(r.engine, 'k4', 40n), 'v4');
  });

  test('!encryption|sidecar-index is written in the same batch as the applied index of its entry', async () => {
    const r = new Replica();
    noHalt(await r.fsm.apply(LOG));
    const appliedOf = (batch: (typeof r.engine.batches)[number]) => {
      const op = batch.ops.find((o) => o.kind === 'put' && o.ns === 'meta' && bytesEqual(o.key, APPLIED_KEY));
      return op?.kind === 'put' ? readU64be(op.value, 0) : undefined;
    };
    const withSidecar = r.engine.batches.filter((batch) =>
      batch.ops.some((o) => o.ns === 'encryption' && bytesEqual(o.key, SIDECAR_INDEX_KEY)),
    );
    assert.equal(withSidecar.length, 1);
    assert.equal(appliedOf(withSidecar[0]!), 2n);
    const sidecarOp = withSidecar[0]!.ops.find((o) => bytesEqual(o.key, SIDECAR_INDEX_KEY));
    assert.ok(sidecarOp?.kind === 'put');
    assert.equal(readU64be(sidecarOp.value, 0), 2n);
    // The registry rows went in their own batch with the registry index, before it.
    const rowsBatch = r.engine.batches.findIndex((batch) =>
      batch.ops.some((o) => bytesEqual(o.key, REGISTRY_INDEX_KEY)),
    );
    assert.ok(rowsBatch >= 0 && rowsBatch < r.engine.batches.indexOf(withSidecar[0]!));
    assert.equal(appliedOf(r.engine.batches[rowsBatch]!), undefined);
  });

  const POINTS: Point[] = [
    'fsm.beforeApplier',
    'applier.afterUnwrap',
    'registry.beforeCommit',
    'registry.afterCommit',
    'applier.afterRows',
    'applier.afterKeystore',
    'sidecar.tmpWritten',
    'sidecar.afterRename',
    'applier.afterSidecar',
    'applier.afterCache',
    'fsm.beforeCommit',
    'fsm.afterCommit',
  ];

  for (const k of [2n, 3n]) {
    test(`a crash at every point of entry ${k} halts without advancing; the restart converges`, async () => {
      const ref = new Replica();
      noHalt(await ref.fsm.apply(LOG));
      const want = ref.state();
      let reached = 0;
      for (const point of POINTS) {
        const r = new Replica();
        // The FSM's commit hooks name the batch's last index, which may lie past k.
        const late = point === 'fsm.beforeCommit' || point === 'fsm.afterCommit';
        r.crashAt = (p, index) => p === point && (late ? index >= k : index === k);
        const rep = await r.fsm.apply(LOG);
        if (rep.halt === undefined) continue; // this entry never passes that point
        reached++;
        assert.equal(rep.halt.index, rep.appliedIndex + 1n, point);
        assert.equal(rep.appliedIndex, r.fsm.appliedIndex(), point);
        if (point !== 'fsm.afterCommit') assert.equal(rep.halt.index, k, point);
        if (point === 'fsm.afterCommit') assert.ok(r.fsm.appliedIndex() >= k, point);
        else assert.equal(r.fsm.appliedIndex(), k - 1n, point);
        r.crashAt = undefined;
        noHalt(await r.restart().apply(LOG));
        assert.deepEqual(r.state(), want, point);
      }
      assert.ok(reached >= (k === 2n ? 10 : 5), `only ${reached} crash points reached`);
    });
  }

  test('raft cutover through the log: later entries are wrapped, applied, and replay after restart', async () => {
    const r = new Replica();
    noHalt(await r.fsm.apply([user(1), entry(2, boot(1, 2)), entry(3, enableRaft(2, A, 0))]));
    assert.deepEqual([r.cutover, r.raftKey], [3n, 2]);
    const body = encodeRequests([req(40n, 400n, [put('secret', 'yes')])]);
    const wrapped = r.wrap(4, body);
    assert.ok(!bytesEqual(wrapped.data.subarray(9), body), 'the body is sealed above the cutover');
    noHalt(await r.fsm.apply([wrapped]));
    assert.equal(readAt(r.engine, 'secret', 400n), 'yes');
    // A restart loads the key and the cutover from the sidecar and replays from the durable index.
    const fsm = r.restart();
    const again = noHalt(await fsm.apply([wrapped]));
    assert.deepEqual(
      again.results.map((x) => x.kind),
      ['skipped'],
    );
    // Tampering with a wrapped entry past the cutover halts with the raft code.
    const bad = r.wrap(5, encodeRequests([req(50n, 500n, [put('x', 'y')])]));
    bad.data[20]! ^= 0x40;
    const rep = await fsm.apply([bad]);
    assert.equal(rep.halt?.code, Err.RaftUnwrapFailed);
    assert.equal(r.fsm.appliedIndex(), 4n);
  });

  test('reserved 0x06 reaches the applier and halts with ErrEncryptionApply', async () => {
    const r = new Replica();
    const rep = await r.fsm.apply([user(1), entry(2, Uint8Array.of(0x06, 0x01))]);
    assert.equal(rep.halt?.code, Err.EncryptionApply);
    assert.equal(rep.halt?.index, 2n);
    assert.equal(r.fsm.appliedIndex(), 1n);
  });

  test('an applier halt (16-bit writer collision) writes nothing and recurs after restart', async () => {
    const r = new Replica();
    const A2 = 0x4444_0000_0000_aaaan;
    const log = [...LOG, entry(5, reg(1, A2, 1))];
    const rep = await r.fsm.apply(log);
    assert.equal(rep.halt?.code, Err.EncryptionApply);
    assert.equal(rep.halt?.inner, Err.WriterUint16Collision);
    assert.equal(r.fsm.appliedIndex(), 4n);
    const again = await r.restart().apply(log);
    assert.equal(again.halt?.index, 5n);
    assert.equal(again.halt?.inner, Err.WriterUint16Collision);
    assert.equal(r.fsm.appliedIndex(), 4n);
    assert.equal(readU64be(r.registry.get(registryKey(1, 0xaaaa))!, 0), A, 'the owner row is untouched');
  });
});
