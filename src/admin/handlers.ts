/**
 * The admin API as plain TypeScript: the messages of encryption.md §8.2 and of
 * cluster.proto, with uint64 values as bigint and epochs/key ids as number.
 * The node implements the two handler interfaces; server.ts binds them to gRPC
 * and client.ts speaks the same types from the other side.
 */

export type RotatePurpose = 'UNSPECIFIED' | 'STORAGE' | 'RAFT';

export interface CapabilityReport {
  encryptionCapable: boolean;
  buildSha: string;
  sidecarPresent: boolean;
  fullNodeId: bigint;
  localEpoch: number;
  raftLocalEpoch: number;
}

export interface SidecarStateReport {
  wrappedDeksById: ReadonlyMap<number, Uint8Array>;
  activeStorageId: number;
  activeRaftId: number;
  storageEnvelopeActive: boolean;
  raftEnvelopeCutoverIndex: bigint;
  latestAppliedIndex: bigint;
  /** dek id → this node's own last_seen epoch; empty unless the leader fence passed. */
  writerRegistryForCaller: ReadonlyMap<number, number>;
}

export interface WriterRegistryEntry {
  fullNodeId: bigint;
  localEpoch: number;
}

export interface BootstrapEncryptionRequest {
  wrappedStorageDek: Uint8Array;
  wrappedRaftDek: Uint8Array;
  storageDekId: number;
  raftDekId: number;
  writerBatch: readonly WriterRegistryEntry[];
}

export interface RotateDekRequest {
  /** Anything but STORAGE/RAFT (including unknown enum values) arrives as UNSPECIFIED. */
  purpose: RotatePurpose;
  wrappedNewDek: Uint8Array;
  newDekId: number;
  proposerNodeId: bigint;
  proposerLocalEpoch: number;
}

export interface RegisterEncryptionWriterRequest {
  dekId: number;
  writers: readonly WriterRegistryEntry[];
}

/** The response of BootstrapEncryption, RotateDEK and RegisterEncryptionWriter. */
export interface AppliedIndexResponse {
  appliedIndex: bigint;
}

export interface ResyncSidecarRequest {
  callerFullNodeId: bigint;
}

export interface ResyncSidecarResponse {
  wrappedDeksById: ReadonlyMap<number, Uint8Array>;
  activeStorageId: number;
  activeRaftId: number;
  leaderLatestAppliedIndex: bigint;
  writerRegistryForCaller: ReadonlyMap<number, number>;
  storageEnvelopeActive: boolean;
  storageEnvelopeCutoverIndex: bigint;
  raftEnvelopeCutoverIndex: bigint;
  /** dek id → "storage" | "raft" (a string on the wire; the resync tool checks it). */
  purposeById: ReadonlyMap<number, string>;
}

/** EnableStorageEnvelopeRequest and EnableRaftEnvelopeRequest share this shape. */
export interface EnableEnvelopeRequest {
  proposerNodeId: bigint;
  proposerLocalEpoch: number;
}

export interface CapabilityVerdict {
  fullNodeId: bigint;
  encryptionCapable: boolean;
  buildSha: string;
  sidecarPresent: boolean;
}

export interface EnableStorageEnvelopeResponse {
  appliedIndex: bigint;
  capabilitySummary: readonly CapabilityVerdict[];
  cutoverIndexUnknown: boolean;
  wasAlreadyActive: boolean;
}

export interface EnableRaftEnvelopeResponse {
  appliedIndex: bigint;
  capabilitySummary: readonly CapabilityVerdict[];
  wasAlreadyActive: boolean;
}

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** Aborted when the caller cancels or its deadline passes. */
  readonly signal: AbortSignal;
  /** The caller's deadline, if it sent one. */
  readonly deadline: Date | undefined;
}

export type EncryptionMutatorRpc =
  | 'BootstrapEncryption'
  | 'RotateDEK'
  | 'RegisterEncryptionWriter'
  | 'EnableStorageEnvelope'
  | 'EnableRaftEnvelope';

/** RPCs that pass through `admit` before their inputs are validated. */
export type AdmittedRpc = EncryptionMutatorRpc | 'ResyncSidecar';

/**
 * The node side of EncryptionAdmin. Check order (encryption.md §8.3) as split
 * between the server layer and the node:
 *
 *   1. `admit(rpc)` — node: the mutator gate (ErrEncryptionMutatorsDisabled,
 *      mutators only) then leadership (ErrNotLeader with leader id/address,
 *      including the quorum read-index confirmation of §8.4).
 *   2. input validation — server layer (validate.ts), pure, InvalidArgument.
 *   3. the RPC method — node: mutator lock, state preconditions, KEK unwrap
 *      check, propose, wait for apply, post-apply check.
 *
 * GetCapability and GetSidecarState are never admitted (any node answers).
 * Failures are SealErrors; server.ts maps their `Err…` code to a gRPC status
 * (§8.8). An error whose details carry `leaderId` / `leaderAddr` (ErrNotLeader)
 * also sends them as trailing metadata.
 */
export interface EncryptionAdminHandler {
  admit(rpc: AdmittedRpc, ctx: CallContext): Promise<void>;
  getCapability(ctx: CallContext): Promise<CapabilityReport>;
  getSidecarState(ctx: CallContext): Promise<SidecarStateReport>;
  resyncSidecar(req: ResyncSidecarRequest, ctx: CallContext): Promise<ResyncSidecarResponse>;
  bootstrapEncryption(req: BootstrapEncryptionRequest, ctx: CallContext): Promise<AppliedIndexResponse>;
  rotateDek(req: RotateDekRequest, ctx: CallContext): Promise<AppliedIndexResponse>;
  registerEncryptionWriter(
    req: RegisterEncryptionWriterRequest,
    ctx: CallContext,
  ): Promise<AppliedIndexResponse>;
  enableStorageEnvelope(req: EnableEnvelopeRequest, ctx: CallContext): Promise<EnableStorageEnvelopeResponse>;
  enableRaftEnvelope(req: EnableEnvelopeRequest, ctx: CallContext): Promise<EnableRaftEnvelopeResponse>;
}

export type MemberRole = 'voter' | 'learner';

export interface ClusterMember {
  id: string;
  raftAddr: string;
  adminAddr: string;
  role: MemberRole;
  fullNodeId: bigint;
}

export interface ClusterStatus {
  members: readonly ClusterMember[];
  /** Empty when no leader is known. */
  leaderId: string;
  term: bigint;
  commitIndex: bigint;
  appliedIndex: bigint;
  /** The node that answered. */
  nodeId: string;
  /** Redis listener of the node that answered; followers forward client commands to the leader's. */
  redisAddr: string;
}

export interface AddLearnerRequest {
  id: string;
  raftAddr: string;
  adminAddr: string;
}

export interface ConfChangeResponse {
  appliedIndex: bigint;
}

export interface TransferLeaderResponse {
  leaderId: string;
}

/**
 * The node side of ClusterAdmin. The server layer validates the request shape
 * (validate.ts) first; leadership, the pending-conf-change check and the
 * encryption pre-registration of encryption.md §12.5 are the node's.
 */
export interface ClusterAdminHandler {
  status(ctx: CallContext): Promise<ClusterStatus>;
  addLearner(req: AddLearnerRequest, ctx: CallContext): Promise<ConfChangeResponse>;
  promote(id: string, ctx: CallContext): Promise<ConfChangeResponse>;
  remove(id: string, ctx: CallContext): Promise<ConfChangeResponse>;
  transferLeader(to: string, ctx: CallContext): Promise<TransferLeaderResponse>;
}
