import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AdminRpcError, ClusterAdminClient, EncryptionAdminClient } from '../../src/admin/client.ts';
import type {
  AdmittedRpc,
  CallContext,
  CapabilityReport,
  ClusterAdminHandler,
  ClusterStatus,
  EnableRaftEnvelopeResponse,
  EnableStorageEnvelopeResponse,
  EncryptionAdminHandler,
  ResyncSidecarResponse,
  SidecarStateReport,
} from '../../src/admin/handlers.ts';
import { type AdminServer, startAdminServer } from '../../src/admin/server.ts';
import { Err } from '../../src/util/codes.ts';
import { sealError } from '../../src/util/errors.ts';

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffffffff;
const blob = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill);

/** Records every request it sees and answers with extreme values; `fail` overrides any method. */
class EchoHandler implements EncryptionAdminHandler, ClusterAdminHandler {
  readonly seen: Array<[string, unknown]> = [];
  fail: Error | undefined;
  admitFail: Error | undefined;

  private hit<T>(name: string, req: unknown, res: T): T {
    this.seen.push([name, req]);
    if (this.fail !== undefined) throw this.fail;
    return res;
  }

  capability: CapabilityReport = {
    encryptionCapable: true,
    buildSha: 'abc123',
    sidecarPresent: true,
    fullNodeId: U64_MAX,
    localEpoch: 0xffff,
    raftLocalEpoch: 1,
  };
  sidecarState: SidecarStateReport = {
    wrappedDeksById: new Map([
      [1, blob(60, 1)],
      [U32_MAX, blob(4096, 2)],
    ]),
    activeStorageId: U32_MAX,
    activeRaftId: 1,
    storageEnvelopeActive: true,
    raftEnvelopeCutoverIndex: U64_MAX - 1n,
    latestAppliedIndex: U64_MAX,
    writerRegistryForCaller: new Map([
      [1, 0],
      [U32_MAX, 0xffff],
    ]),
  };
  resync: ResyncSidecarResponse = {
    wrappedDeksById: new Map([[5, blob(60)]]),
    activeStorageId: 5,
    activeRaftId: 0,
    leaderLatestAppliedIndex: U64_MAX,
    writerRegistryForCaller: new Map([[5, 9]]),
    storageEnvelopeActive: false,
    storageEnvelopeCutoverIndex: 2n ** 63n,
    raftEnvelopeCutoverIndex: 2n ** 53n + 1n,
    purposeById: new Map([[5, 'storage']]),
  };
  storageResp: EnableStorageEnvelopeResponse = {
    appliedIndex: U64_MAX,
    capabilitySummary: [
      { fullNodeId: U64_MAX, encryptionCapable: true, buildSha: 's', sidecarPresent: true },
      { fullNodeId: 1n, encryptionCapable: false, buildSha: '', sidecarPresent: false },
    ],
    cutoverIndexUnknown: true,
    wasAlreadyActive: true,
  };
  raftResp: EnableRaftEnvelopeResponse = {
    appliedIndex: 2n ** 60n,
    capabilitySummary: [{ fullNodeId: 3n, encryptionCapable: true, buildSha: 'x', sidecarPresent: true }],
    wasAlreadyActive: false,
  };
  clusterStatus: ClusterStatus = {
    members: [
      { id: 'n1', raftAddr: 'h:1', adminAddr: 'h:2', role: 'voter', fullNodeId: U64_MAX },
      { id: 'n2', raftAddr: 'h:3', adminAddr: 'h:4', role: 'learner', fullNodeId: 0n },
    ],
    leaderId: 'n1',
    term: U64_MAX,
    commitIndex: U64_MAX - 5n,
    appliedIndex: 2n ** 53n + 3n,
    nodeId: 'n2',
    redisAddr: '127.0.0.1:7002',
  };

  async admit(rpc: AdmittedRpc): Promise<void> {
    this.seen.push([`admit:${rpc}`, undefined]);
    if (this.admitFail !== undefined) throw this.admitFail;
  }
  getCapability = async () => this.hit('GetCapability', undefined, this.capability);
  getSidecarState = async (_ctx: CallContext) => this.hit('GetSidecarState', undefined, this.sidecarState);
  resyncSidecar = async (r: unknown) => this.hit('ResyncSidecar', r, this.resync);
  bootstrapEncryption = async (r: unknown) => this.hit('BootstrapEncryption', r, { appliedIndex: U64_MAX });
  rotateDek = async (r: unknown) => this.hit('RotateDEK', r, { appliedIndex: 2n ** 64n - 2n });
  registerEncryptionWriter = async (r: unknown) =>
    this.hit('RegisterEncryptionWriter', r, { appliedIndex: 1n });
  enableStorageEnvelope = async (r: unknown) => this.hit('EnableStorageEnvelope', r, this.storageResp);
  enableRaftEnvelope = async (r: unknown) => this.hit('EnableRaftEnvelope', r, this.raftResp);
  status = async () => this.hit('Status', undefined, this.clusterStatus);
  addLearner = async (r: unknown) => this.hit('AddLearner', r, { appliedIndex: U64_MAX });
  promote = async (id: string) => this.hit('Promote', id, { appliedIndex: 2n });
  remove = async (id: string) => this.hit('Remove', id, { appliedIndex: 3n });
  transferLeader = async (to: string) => this.hit('TransferLeader', to, { leaderId: to });

  last(): [string, unknown] {
    const l = this.seen.at(-1);
    assert.ok(l !== undefined);
    return l;
  }
}

const h = new EchoHandler();
let server: AdminServer;
let enc: EncryptionAdminClient;
let cluster: ClusterAdminClient;

before(async () => {
  server = await startAdminServer({ host: '127.0.0.1', port: 0, encryption: h, cluster: h });
  enc = new EncryptionAdminClient(`127.0.0.1:${server.port}`);
  cluster = new ClusterAdminClient(`127.0.0.1:${server.port}`);
});
after(async () => {
  enc.close();
  cluster.close();
  await server.close();
});

async function rejects(
  p: Promise<unknown>,
  grpcCode: string,
  errName: string,
  pattern?: RegExp,
): Promise<AdminRpcError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof AdminRpcError, `want AdminRpcError, got ${String(caught)}`);
  assert.equal(caught.grpcCode, grpcCode, caught.message);
  assert.equal(caught.code, errName, caught.message);
  if (pattern !== undefined) assert.match(caught.detail, pattern);
  return caught;
}

describe('every message round-trips with exact uint64 values', () => {
  test('responses', async () => {
    assert.deepEqual(await enc.getCapability(), h.capability);
    assert.deepEqual(await enc.getSidecarState(), h.sidecarState);
    assert.deepEqual(await enc.resyncSidecar({ callerFullNodeId: U64_MAX }), h.resync);
    assert.deepEqual(
      await enc.enableStorageEnvelope({ proposerNodeId: U64_MAX, proposerLocalEpoch: 0xffff }),
      h.storageResp,
    );
    assert.deepEqual(await enc.enableRaftEnvelope({ proposerNodeId: 1n, proposerLocalEpoch: 0 }), h.raftResp);
    assert.deepEqual(await cluster.status(), h.clusterStatus);
  });

  test('requests reach the handler unchanged', async () => {
    const boot = {
      wrappedStorageDek: blob(4096, 3),
      wrappedRaftDek: blob(1, 4),
      storageDekId: U32_MAX,
      raftDekId: 1,
      writerBatch: [
        { fullNodeId: U64_MAX, localEpoch: 0 },
        { fullNodeId: 0x1_0000n + 1n, localEpoch: 0 },
      ],
    };
    assert.deepEqual(await enc.bootstrapEncryption(boot), { appliedIndex: U64_MAX });
    assert.deepEqual(h.last(), ['BootstrapEncryption', boot]);

    const rot = {
      purpose: 'RAFT' as const,
      wrappedNewDek: blob(60),
      newDekId: 9,
      proposerNodeId: U64_MAX,
      proposerLocalEpoch: 0xffff,
    };
    assert.deepEqual(await enc.rotateDek(rot), { appliedIndex: 2n ** 64n - 2n });
    assert.deepEqual(h.last(), ['RotateDEK', rot]);

    const reg = { dekId: 4, writers: [{ fullNodeId: U64_MAX, localEpoch: 0xffff }] };
    assert.deepEqual(await enc.registerEncryptionWriter(reg), { appliedIndex: 1n });
    assert.deepEqual(h.last(), ['RegisterEncryptionWriter', reg]);

    await enc.resyncSidecar({ callerFullNodeId: U64_MAX });
    assert.deepEqual(h.last(), ['ResyncSidecar', { callerFullNodeId: U64_MAX }]);
    await enc.enableStorageEnvelope({ proposerNodeId: U64_MAX, proposerLocalEpoch: 3 });
    assert.deepEqual(h.last(), ['EnableStorageEnvelope', { proposerNodeId: U64_MAX, proposerLocalEpoch: 3 }]);

    const learner = { id: 'n9', raftAddr: '10.0.0.9:7000', adminAddr: '10.0.0.9:50051' };
    assert.deepEqual(await cluster.addLearner(learner), { appliedIndex: U64_MAX });
    assert.deepEqual(h.last(), ['AddLearner', learner]);
    assert.deepEqual(await cluster.promote('n9'), { appliedIndex: 2n });
    assert.deepEqual(h.last(), ['Promote', 'n9']);
    assert.deepEqual(await cluster.remove('n9'), { appliedIndex: 3n });
    assert.deepEqual(await cluster.transferLeader('n2'), { leaderId: 'n2' });
    assert.deepEqual(h.last(), ['TransferLeader', 'n2']);
  });

  test('a response epoch above 0xFFFF is rejected at decode, never truncated', async () => {
    h.capability = { ...h.capability, localEpoch: 0x10000 };
    try {
      await assert.rejects(
        enc.getCapability(),
        (e: unknown) => e instanceof Error && /ErrLocalEpochOutOfRange/.test(e.message),
      );
    } finally {
      h.capability = { ...h.capability, localEpoch: 0xffff };
    }
  });
});

describe('input validation runs in the server layer, after admit, before the handler', () => {
  const ok = {
    wrappedStorageDek: blob(60),
    wrappedRaftDek: blob(60),
    storageDekId: 1,
    raftDekId: 2,
    writerBatch: [{ fullNodeId: 5n, localEpoch: 0 }],
  };

  async function invalid(p: Promise<unknown>, rpc: string, errName: string, pattern?: RegExp): Promise<void> {
    const before = h.seen.length;
    await rejects(p, 'InvalidArgument', errName, pattern);
    assert.deepEqual(
      h.seen.slice(before).map(([n]) => n),
      [`admit:${rpc}`],
      'the handler method must not run',
    );
  }

  test('scenario 25: equal dek ids', async () => {
    await invalid(
      enc.bootstrapEncryption({ ...ok, raftDekId: 1 }),
      'BootstrapEncryption',
      Err.InvalidArgument,
    );
  });

  test('scenario 28: 16-bit colliding writers', async () => {
    const writerBatch = [
      { fullNodeId: 0x1_0000_0042n, localEpoch: 0 },
      { fullNodeId: 0x2_0000_0042n, localEpoch: 0 },
    ];
    await invalid(
      enc.bootstrapEncryption({ ...ok, writerBatch }),
      'BootstrapEncryption',
      Err.InvalidArgument,
      /node_id16/,
    );
  });

  test('scenario 29: local_epoch 65536', async () => {
    const writerBatch = [{ fullNodeId: 5n, localEpoch: 65536 }];
    await invalid(
      enc.bootstrapEncryption({ ...ok, writerBatch }),
      'BootstrapEncryption',
      Err.LocalEpochOutOfRange,
    );
  });

  test('scenario 31: purpose UNSPECIFIED, proposer 0', async () => {
    const rot = {
      purpose: 'STORAGE' as const,
      wrappedNewDek: blob(60),
      newDekId: 3,
      proposerNodeId: 1n,
      proposerLocalEpoch: 0,
    };
    await invalid(
      enc.rotateDek({ ...rot, purpose: 'UNSPECIFIED' }),
      'RotateDEK',
      Err.InvalidArgument,
      /purpose/,
    );
    await invalid(
      enc.rotateDek({ ...rot, proposerNodeId: 0n }),
      'RotateDEK',
      Err.InvalidArgument,
      /proposer_node_id/,
    );
  });

  test('scenario 32: two writers', async () => {
    const w = { fullNodeId: 5n, localEpoch: 0 };
    await invalid(
      enc.registerEncryptionWriter({ dekId: 1, writers: [w, w] }),
      'RegisterEncryptionWriter',
      Err.InvalidArgument,
    );
  });

  test('scenario 33: a 4097-byte wrapped DEK, on every mutator that carries one', async () => {
    await invalid(
      enc.bootstrapEncryption({ ...ok, wrappedStorageDek: blob(4097) }),
      'BootstrapEncryption',
      Err.InvalidArgument,
      /4097/,
    );
    await invalid(
      enc.rotateDek({
        purpose: 'RAFT',
        wrappedNewDek: blob(4097),
        newDekId: 3,
        proposerNodeId: 1n,
        proposerLocalEpoch: 0,
      }),
      'RotateDEK',
      Err.InvalidArgument,
      /4097/,
    );
  });

  test('cutovers and resync', async () => {
    await invalid(
      enc.enableStorageEnvelope({ proposerNodeId: 0n, proposerLocalEpoch: 0 }),
      'EnableStorageEnvelope',
      Err.InvalidArgument,
    );
    await invalid(
      enc.enableRaftEnvelope({ proposerNodeId: 1n, proposerLocalEpoch: 0x10000 }),
      'EnableRaftEnvelope',
      Err.LocalEpochOutOfRange,
    );
    await invalid(enc.resyncSidecar({ callerFullNodeId: 0n }), 'ResyncSidecar', Err.InvalidArgument);
  });

  test('the gate and leadership come first: a follower answers ErrNotLeader even to invalid input', async () => {
    h.admitFail = sealError(Err.NotLeader, 'not the leader; leader is n2 at 10.0.0.2:50051', {
      leaderId: 'n2',
      leaderAddr: '10.0.0.2:50051',
    });
    try {
      const e = await rejects(
        enc.bootstrapEncryption({ ...ok, raftDekId: 1 }),
        'FailedPrecondition',
        Err.NotLeader,
        /10\.0\.0\.2:50051/,
      );
      assert.equal(e.leaderId, 'n2');
      assert.equal(e.leaderAddr, '10.0.0.2:50051');
      h.admitFail = sealError(Err.EncryptionMutatorsDisabled, 'mutators are off');
      await rejects(
        enc.enableRaftEnvelope({ proposerNodeId: 0n, proposerLocalEpoch: 0 }),
        'FailedPrecondition',
        Err.EncryptionMutatorsDisabled,
      );
    } finally {
      h.admitFail = undefined;
    }
  });

  test('cluster requests are validated too', async () => {
    await rejects(
      cluster.addLearner({ id: 'n5', raftAddr: 'nope', adminAddr: 'h:1' }),
      'InvalidArgument',
      Err.InvalidArgument,
      /raft_addr/,
    );
    await rejects(cluster.promote(''), 'InvalidArgument', Err.InvalidArgument);
    await rejects(cluster.transferLeader(''), 'InvalidArgument', Err.InvalidArgument);
  });
});

describe('handler errors map to the status codes of §8.8', () => {
  const cases: Array<[string, string]> = [
    [Err.AlreadyBootstrapped, 'FailedPrecondition'],
    [Err.ProposerMismatch, 'FailedPrecondition'],
    [Err.LocalEpochRollback, 'FailedPrecondition'],
    [Err.CapabilityCheckFailed, 'FailedPrecondition'],
    [Err.SidecarMissing, 'FailedPrecondition'],
    [Err.KEKMismatch, 'InvalidArgument'],
    [Err.ProposalFailed, 'Unavailable'],
    [Err.EnvelopeCutoverInProgress, 'Unavailable'],
    [Err.StartupRotationPending, 'Unavailable'],
    [Err.EncryptionApply, 'Internal'],
    [Err.SidecarInvalid, 'Internal'],
    [Err.PeerNotEncryptionCapable, 'FailedPrecondition'],
  ];
  for (const [name, code] of cases) {
    test(`${name} → ${code}`, async () => {
      h.fail = sealError(name, `detail of ${name}`);
      try {
        await rejects(enc.getCapability(), code, name, new RegExp(`detail of ${name}`));
      } finally {
        h.fail = undefined;
      }
    });
  }

  test('a foreign error is Internal ErrInternal; a cancelled proposal can say so', async () => {
    h.fail = new TypeError('boom');
    try {
      await rejects(cluster.status(), 'Internal', Err.Internal, /boom/);
      h.fail = sealError(Err.ProposalFailed, 'caller went away', { rpcCode: 'DeadlineExceeded' });
      await rejects(cluster.promote('n2'), 'DeadlineExceeded', Err.ProposalFailed);
    } finally {
      h.fail = undefined;
    }
  });

  test('the handler sees the caller deadline and an abort when it passes', async () => {
    const client = new EncryptionAdminClient(`127.0.0.1:${server.port}`, { timeoutMs: 150 });
    const original = h.getSidecarState;
    let sawDeadline = false;
    const aborted = new Promise<void>((resolve) => {
      h.getSidecarState = async (ctx) => {
        sawDeadline = ctx.deadline !== undefined;
        ctx.signal.addEventListener('abort', () => resolve());
        return new Promise<never>(() => {});
      };
    });
    try {
      await rejects(client.getSidecarState(), 'DeadlineExceeded', Err.RpcFailed);
      await aborted;
      assert.ok(sawDeadline);
    } finally {
      h.getSidecarState = original;
      client.close();
    }
  });

  test('an unreachable endpoint is Unavailable ErrRpcFailed; a slow handler hits the client deadline', async () => {
    const dead = new EncryptionAdminClient('127.0.0.1:1', { timeoutMs: 2000 });
    try {
      await rejects(dead.getCapability(), 'Unavailable', Err.RpcFailed);
    } finally {
      dead.close();
    }
    const slow = new EncryptionAdminClient(`127.0.0.1:${server.port}`, { timeoutMs: 100 });
    const original = h.getCapability;
    h.getCapability = () => new Promise((r) => setTimeout(() => r(h.capability), 400));
    try {
      await rejects(slow.getCapability(), 'DeadlineExceeded', Err.RpcFailed);
    } finally {
      h.getCapability = original;
      slow.close();
    }
  });
});
