import type {
  AddLearnerRequest,
  AdmittedRpc,
  AppliedIndexResponse,
  BootstrapEncryptionRequest,
  CapabilityReport,
  CapabilityVerdict,
  ClusterAdminHandler,
  ClusterMember,
  ClusterStatus,
  ConfChangeResponse,
  EnableEnvelopeRequest,
  EnableRaftEnvelopeResponse,
  EnableStorageEnvelopeResponse,
  EncryptionAdminHandler,
  RegisterEncryptionWriterRequest,
  ResyncSidecarRequest,
  ResyncSidecarResponse,
  RotateDekRequest,
  SidecarStateReport,
  TransferLeaderResponse,
} from '../../src/admin/handlers.ts';
import { type AdminServer, startAdminServer } from '../../src/admin/server.ts';
import { nodeId16 } from '../../src/encryption/identity.ts';
import { Err } from '../../src/util/codes.ts';
import { sealError } from '../../src/util/errors.ts';

/**
 * An in-memory stand-in for a node behind the admin API: enough leader state
 * (sidecar, writer registry, applied index) to exercise the wire and the CLI.
 * Every handler call is logged, so tests can prove an RPC was never made.
 */

export interface FakeKey {
  purpose: 'storage' | 'raft';
  wrapped: Uint8Array;
}

export interface FakeSidecar {
  keys: Map<number, FakeKey>;
  active: { storage: number; raft: number };
  storageEnvelopeActive: boolean;
  storageCutover: bigint;
  raftCutover: bigint;
  raftAppliedIndex: bigint;
}

export interface FakeOptions {
  fullNodeId: bigint;
  /** The three encryption flags are set (§8.3). */
  enabled?: boolean;
  leader?: boolean;
  leaderId?: string;
  leaderAddr?: string;
  buildSha?: string;
  localEpoch?: number;
  raftLocalEpoch?: number;
  /** The verdicts the cutover fan-out reports. */
  members?: CapabilityVerdict[];
}

interface Row {
  full: bigint;
  first: number;
  last: number;
}

export class FakeEncryptionNode implements EncryptionAdminHandler {
  readonly calls: string[] = [];
  sidecar: FakeSidecar | undefined;
  readonly registry = new Map<string, Row>();
  appliedIndex = 10n;
  /** Thrown by the next call of the named method instead of running it. */
  readonly failures = new Map<string, Error>();

  constructor(readonly opts: FakeOptions) {}

  private enter(method: string): void {
    this.calls.push(method);
    const f = this.failures.get(method);
    if (f !== undefined) {
      this.failures.delete(method);
      throw f;
    }
  }

  private get enabled(): boolean {
    return this.opts.enabled ?? true;
  }

  async admit(rpc: AdmittedRpc): Promise<void> {
    this.enter(`admit:${rpc}`);
    if (rpc !== 'ResyncSidecar' && !this.enabled) {
      throw sealError(Err.EncryptionMutatorsDisabled, 'encryption mutators are disabled on this node');
    }
    if (this.opts.leader === false) {
      const id = this.opts.leaderId;
      const addr = this.opts.leaderAddr;
      throw sealError(
        Err.NotLeader,
        id === undefined ? 'not the leader; no known leader' : `not the leader; leader is ${id} at ${addr}`,
        id === undefined ? {} : { leaderId: id, leaderAddr: addr },
      );
    }
  }

  async getCapability(): Promise<CapabilityReport> {
    this.enter('GetCapability');
    if (!this.enabled) {
      return {
        encryptionCapable: false,
        buildSha: this.opts.buildSha ?? '',
        sidecarPresent: false,
        fullNodeId: 0n,
        localEpoch: 0,
        raftLocalEpoch: 0,
      };
    }
    return {
      encryptionCapable: true,
      buildSha: this.opts.buildSha ?? '',
      sidecarPresent: this.sidecar !== undefined,
      fullNodeId: this.opts.fullNodeId,
      localEpoch: this.pinnedEpoch('storage'),
      raftLocalEpoch: this.pinnedEpoch('raft'),
    };
  }

  /** Epochs are 0 until the node holds keys; afterwards the configured (restart-bumped) values. */
  private pinnedEpoch(purpose: 'storage' | 'raft'): number {
    if (this.sidecar === undefined) return 0;
    return (purpose === 'storage' ? this.opts.localEpoch : this.opts.raftLocalEpoch) ?? 0;
  }

  private requireSidecar(): FakeSidecar {
    if (this.sidecar === undefined) throw sealError(Err.SidecarMissing, 'no sidecar file on this node');
    return this.sidecar;
  }

  private ownRegistry(): Map<number, number> {
    const own = new Map<number, number>();
    for (const [key, row] of this.registry) {
      if (row.full === this.opts.fullNodeId) own.set(Number(key.split('|')[0]), row.last);
    }
    return own;
  }

  async getSidecarState(): Promise<SidecarStateReport> {
    this.enter('GetSidecarState');
    const s = this.requireSidecar();
    return {
      wrappedDeksById: new Map([...s.keys].map(([id, k]) => [id, k.wrapped])),
      activeStorageId: s.active.storage,
      activeRaftId: s.active.raft,
      storageEnvelopeActive: s.storageEnvelopeActive,
      raftEnvelopeCutoverIndex: s.raftCutover,
      latestAppliedIndex: this.appliedIndex,
      writerRegistryForCaller: this.opts.leader === false ? new Map() : this.ownRegistry(),
    };
  }

  async resyncSidecar(req: ResyncSidecarRequest): Promise<ResyncSidecarResponse> {
    this.enter('ResyncSidecar');
    const s = this.requireSidecar();
    const mine = new Map<number, number>();
    for (const [key, row] of this.registry) {
      const [dek, short] = key.split('|').map(Number);
      if (short !== nodeId16(req.callerFullNodeId)) continue;
      if (row.full !== req.callerFullNodeId) {
        throw sealError(Err.WriterUint16Collision, `row ${key} is owned by ${row.full}`);
      }
      mine.set(dek ?? 0, row.last);
    }
    return {
      wrappedDeksById: new Map([...s.keys].map(([id, k]) => [id, k.wrapped])),
      activeStorageId: s.active.storage,
      activeRaftId: s.active.raft,
      leaderLatestAppliedIndex: this.appliedIndex,
      writerRegistryForCaller: mine,
      storageEnvelopeActive: s.storageEnvelopeActive,
      storageEnvelopeCutoverIndex: s.storageCutover,
      raftEnvelopeCutoverIndex: s.raftCutover,
      purposeById: new Map([...s.keys].map(([id, k]) => [id, k.purpose])),
    };
  }

  private put(dek: number, full: bigint, epoch: number): void {
    const key = `${dek}|${nodeId16(full)}`;
    const row = this.registry.get(key);
    if (row === undefined) this.registry.set(key, { full, first: epoch, last: epoch });
    else row.last = Math.max(row.last, epoch);
  }

  private apply(): bigint {
    this.appliedIndex += 1n;
    if (this.sidecar !== undefined) this.sidecar.raftAppliedIndex = this.appliedIndex;
    return this.appliedIndex;
  }

  async bootstrapEncryption(req: BootstrapEncryptionRequest): Promise<AppliedIndexResponse> {
    this.enter('BootstrapEncryption');
    if (this.sidecar !== undefined && this.sidecar.active.storage !== 0) {
      throw sealError(Err.AlreadyBootstrapped, 'the sidecar already has active keys');
    }
    this.sidecar = {
      keys: new Map([
        [req.storageDekId, { purpose: 'storage', wrapped: req.wrappedStorageDek }],
        [req.raftDekId, { purpose: 'raft', wrapped: req.wrappedRaftDek }],
      ]),
      active: { storage: req.storageDekId, raft: req.raftDekId },
      storageEnvelopeActive: false,
      storageCutover: 0n,
      raftCutover: 0n,
      raftAppliedIndex: 0n,
    };
    for (const w of req.writerBatch) {
      this.put(req.storageDekId, w.fullNodeId, w.localEpoch);
      this.put(req.raftDekId, w.fullNodeId, w.localEpoch);
    }
    return { appliedIndex: this.apply() };
  }

  private checkProposer(id: bigint, epoch: number, purpose: 'storage' | 'raft'): void {
    const want = this.pinnedEpoch(purpose);
    if (id !== this.opts.fullNodeId || epoch !== want) {
      throw sealError(
        Err.ProposerMismatch,
        `proposer must be ${this.opts.fullNodeId} at epoch ${want}, got ${id} at ${epoch}`,
      );
    }
  }

  async rotateDek(req: RotateDekRequest): Promise<AppliedIndexResponse> {
    this.enter('RotateDEK');
    const s = this.sidecar;
    if (s === undefined || s.active.storage === 0) {
      throw sealError(Err.EncryptionNotBootstrapped, 'bootstrap first');
    }
    if (s.keys.has(req.newDekId)) throw sealError(Err.DEKIDExists, `key id ${req.newDekId} exists`);
    const purpose = req.purpose === 'STORAGE' ? 'storage' : 'raft';
    this.checkProposer(req.proposerNodeId, req.proposerLocalEpoch, purpose);
    s.keys.set(req.newDekId, { purpose, wrapped: req.wrappedNewDek });
    s.active[purpose] = req.newDekId;
    this.put(req.newDekId, req.proposerNodeId, req.proposerLocalEpoch);
    return { appliedIndex: this.apply() };
  }

  async registerEncryptionWriter(req: RegisterEncryptionWriterRequest): Promise<AppliedIndexResponse> {
    this.enter('RegisterEncryptionWriter');
    const w = req.writers[0];
    if (w === undefined) throw new Error('validation let an empty writer list through');
    const row = this.registry.get(`${req.dekId}|${nodeId16(w.fullNodeId)}`);
    if (row !== undefined && row.full !== w.fullNodeId) {
      throw sealError(Err.WriterUint16Collision, `row owned by ${row.full}`);
    }
    if (row !== undefined && row.last > w.localEpoch) {
      throw sealError(Err.LocalEpochRollback, `last_seen ${row.last} > ${w.localEpoch}`);
    }
    this.put(req.dekId, w.fullNodeId, w.localEpoch);
    return { appliedIndex: this.apply() };
  }

  async enableStorageEnvelope(req: EnableEnvelopeRequest): Promise<EnableStorageEnvelopeResponse> {
    this.enter('EnableStorageEnvelope');
    const s = this.sidecar;
    if (s === undefined || s.active.storage === 0) {
      throw sealError(Err.EncryptionNotBootstrapped, 'bootstrap first');
    }
    this.checkProposer(req.proposerNodeId, req.proposerLocalEpoch, 'storage');
    if (s.storageEnvelopeActive) {
      const unknown = s.storageCutover === 0n;
      return {
        appliedIndex: unknown ? s.raftAppliedIndex : s.storageCutover,
        capabilitySummary: [],
        cutoverIndexUnknown: unknown,
        wasAlreadyActive: true,
      };
    }
    const summary = this.fanOut();
    s.storageEnvelopeActive = true;
    s.storageCutover = this.apply();
    return {
      appliedIndex: s.storageCutover,
      capabilitySummary: summary,
      cutoverIndexUnknown: false,
      wasAlreadyActive: false,
    };
  }

  private fanOut(): CapabilityVerdict[] {
    this.calls.push('fan-out');
    const members = this.opts.members ?? [];
    const bad = members.find((m) => !m.encryptionCapable);
    if (members.length === 0 || bad !== undefined) {
      throw sealError(Err.CapabilityCheckFailed, `member ${bad?.fullNodeId ?? '<none>'} is not capable`);
    }
    return members;
  }

  async enableRaftEnvelope(req: EnableEnvelopeRequest): Promise<EnableRaftEnvelopeResponse> {
    this.enter('EnableRaftEnvelope');
    const s = this.sidecar;
    if (s === undefined || s.active.raft === 0)
      throw sealError(Err.EncryptionNotBootstrapped, 'bootstrap first');
    this.checkProposer(req.proposerNodeId, req.proposerLocalEpoch, 'raft');
    if (s.raftCutover !== 0n)
      return { appliedIndex: s.raftCutover, capabilitySummary: [], wasAlreadyActive: true };
    const summary = this.fanOut();
    s.raftCutover = this.apply();
    return { appliedIndex: s.raftCutover, capabilitySummary: summary, wasAlreadyActive: false };
  }
}

export class FakeClusterNode implements ClusterAdminHandler {
  readonly calls: string[] = [];
  members: ClusterMember[];
  leaderId: string;
  term = 3n;
  index = 20n;
  /** Thrown by every mutating call when set. */
  refuse: Error | undefined;

  constructor(
    readonly nodeId: string,
    members: ClusterMember[],
  ) {
    this.members = members;
    this.leaderId = nodeId;
  }

  async status(): Promise<ClusterStatus> {
    this.calls.push('Status');
    return {
      members: this.members,
      leaderId: this.leaderId,
      term: this.term,
      commitIndex: this.index,
      appliedIndex: this.index,
      nodeId: this.nodeId,
      redisAddr: '127.0.0.1:6379',
    };
  }

  private change(call: string): ConfChangeResponse {
    this.calls.push(call);
    if (this.refuse !== undefined) throw this.refuse;
    this.index += 1n;
    return { appliedIndex: this.index };
  }

  async addLearner(req: AddLearnerRequest): Promise<ConfChangeResponse> {
    const res = this.change(`AddLearner:${req.id}`);
    this.members.push({
      id: req.id,
      raftAddr: req.raftAddr,
      adminAddr: req.adminAddr,
      role: 'learner',
      fullNodeId: 7n,
    });
    return res;
  }

  async promote(id: string): Promise<ConfChangeResponse> {
    const res = this.change(`Promote:${id}`);
    for (const m of this.members) if (m.id === id) m.role = 'voter';
    return res;
  }

  async remove(id: string): Promise<ConfChangeResponse> {
    const res = this.change(`Remove:${id}`);
    this.members = this.members.filter((m) => m.id !== id);
    return res;
  }

  async transferLeader(to: string): Promise<TransferLeaderResponse> {
    this.calls.push(`TransferLeader:${to}`);
    if (this.refuse !== undefined) throw this.refuse;
    this.leaderId = to;
    return { leaderId: to };
  }
}

export interface FakeServer {
  server: AdminServer;
  enc: FakeEncryptionNode;
  cluster: FakeClusterNode;
  endpoint: string;
}

export async function startFake(opts: FakeOptions, nodeId = 'n1'): Promise<FakeServer> {
  const enc = new FakeEncryptionNode(opts);
  const cluster = new FakeClusterNode(nodeId, [
    {
      id: nodeId,
      raftAddr: '127.0.0.1:7001',
      adminAddr: '127.0.0.1:50051',
      role: 'voter',
      fullNodeId: opts.fullNodeId,
    },
  ]);
  const server = await startAdminServer({ host: '127.0.0.1', port: 0, encryption: enc, cluster });
  return { server, enc, cluster, endpoint: `127.0.0.1:${server.port}` };
}
