import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import type {
  AddLearnerRequest,
  AppliedIndexResponse,
  BootstrapEncryptionRequest,
  CapabilityReport,
  CapabilityVerdict,
  ClusterMember,
  ClusterStatus,
  ConfChangeResponse,
  EnableEnvelopeRequest,
  EnableRaftEnvelopeResponse,
  EnableStorageEnvelopeResponse,
  MemberRole,
  RegisterEncryptionWriterRequest,
  ResyncSidecarRequest,
  ResyncSidecarResponse,
  RotateDekRequest,
  RotatePurpose,
  SidecarStateReport,
  TransferLeaderResponse,
  WriterRegistryEntry,
} from './handlers.ts';
import { MAX_LOCAL_EPOCH } from './validate.ts';

/**
 * Conversion between proto-loader's plain objects (snake_case, uint64 as
 * decimal strings, bytes as Buffer, map keys as strings) and the typed
 * messages of handlers.ts. `decode*` accept `unknown` and never trust shapes;
 * response decoders also enforce the epoch range (§8.2: every decode site
 * rejects > 0xFFFF, never truncates).
 */

export type WireObject = Record<string, unknown>;

function malformed(what: string): never {
  throw sealError(Err.InvalidArgument, `malformed admin message: ${what}`);
}

function obj(v: unknown, what = 'message'): WireObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) malformed(`${what} is not an object`);
  return v as WireObject;
}

function u64(o: WireObject, k: string): bigint {
  const v = o[k];
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return malformed(`${k} is not a uint64`);
}

function u32(o: WireObject, k: string): number {
  const v = o[k];
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  return malformed(`${k} is not a uint32`);
}

function bool(o: WireObject, k: string): boolean {
  const v = o[k];
  return v === true;
}

function str(o: WireObject, k: string): string {
  const v = o[k];
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  return malformed(`${k} is not a string`);
}

function bytes(o: WireObject, k: string): Uint8Array {
  const v = o[k];
  if (v === undefined || v === null) return new Uint8Array(0);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  return malformed(`${k} is not bytes`);
}

function list(o: WireObject, k: string): unknown[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  return malformed(`${k} is not a list`);
}

function mapKey(key: string, field: string): number {
  if (!/^[0-9]+$/.test(key) || Number(key) > 0xffffffff) malformed(`${field} key ${key} is not a uint32`);
  return Number(key);
}

function mapOf<T>(o: WireObject, k: string, value: (v: unknown) => T): Map<number, T> {
  const out = new Map<number, T>();
  const v = o[k];
  if (v === undefined || v === null) return out;
  for (const [key, val] of Object.entries(obj(v, k))) out.set(mapKey(key, k), value(val));
  return out;
}

function checkedEpoch(field: string, v: number): number {
  if (v > MAX_LOCAL_EPOCH) {
    throw sealError(Err.LocalEpochOutOfRange, `${field} ${v} exceeds 0xFFFF`, { field, value: v });
  }
  return v;
}

function epochMap(o: WireObject, k: string): Map<number, number> {
  return mapOf(o, k, (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) malformed(`${k} value is not a uint32`);
    return checkedEpoch(k, v);
  });
}

function encodeMap<T, W>(m: ReadonlyMap<number, T>, f: (v: T) => W): Record<string, W> {
  const out: Record<string, W> = {};
  for (const [k, v] of m) out[String(k)] = f(v);
  return out;
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

// --- EncryptionAdmin requests -------------------------------------------------

function decodeWriter(v: unknown): WriterRegistryEntry {
  const o = obj(v, 'WriterRegistryEntry');
  return { fullNodeId: u64(o, 'full_node_id'), localEpoch: u32(o, 'local_epoch') };
}

function encodeWriter(w: WriterRegistryEntry): WireObject {
  return { full_node_id: w.fullNodeId.toString(), local_epoch: w.localEpoch };
}

export function decodeBootstrapRequest(v: unknown): BootstrapEncryptionRequest {
  const o = obj(v);
  return {
    wrappedStorageDek: bytes(o, 'wrapped_storage_dek'),
    wrappedRaftDek: bytes(o, 'wrapped_raft_dek'),
    storageDekId: u32(o, 'storage_dek_id'),
    raftDekId: u32(o, 'raft_dek_id'),
    writerBatch: list(o, 'writer_batch').map(decodeWriter),
  };
}

export function encodeBootstrapRequest(r: BootstrapEncryptionRequest): WireObject {
  return {
    wrapped_storage_dek: buf(r.wrappedStorageDek),
    wrapped_raft_dek: buf(r.wrappedRaftDek),
    storage_dek_id: r.storageDekId,
    raft_dek_id: r.raftDekId,
    writer_batch: r.writerBatch.map(encodeWriter),
  };
}

function decodePurpose(v: unknown): RotatePurpose {
  return v === 'STORAGE' || v === 'RAFT' ? v : 'UNSPECIFIED';
}

export function decodeRotateRequest(v: unknown): RotateDekRequest {
  const o = obj(v);
  return {
    purpose: decodePurpose(o.purpose),
    wrappedNewDek: bytes(o, 'wrapped_new_dek'),
    newDekId: u32(o, 'new_dek_id'),
    proposerNodeId: u64(o, 'proposer_node_id'),
    proposerLocalEpoch: u32(o, 'proposer_local_epoch'),
  };
}

export function encodeRotateRequest(r: RotateDekRequest): WireObject {
  return {
    purpose: r.purpose,
    wrapped_new_dek: buf(r.wrappedNewDek),
    new_dek_id: r.newDekId,
    proposer_node_id: r.proposerNodeId.toString(),
    proposer_local_epoch: r.proposerLocalEpoch,
  };
}

export function decodeRegisterRequest(v: unknown): RegisterEncryptionWriterRequest {
  const o = obj(v);
  return { dekId: u32(o, 'dek_id'), writers: list(o, 'writers').map(decodeWriter) };
}

export function encodeRegisterRequest(r: RegisterEncryptionWriterRequest): WireObject {
  return { dek_id: r.dekId, writers: r.writers.map(encodeWriter) };
}

export function decodeEnableRequest(v: unknown): EnableEnvelopeRequest {
  const o = obj(v);
  return { proposerNodeId: u64(o, 'proposer_node_id'), proposerLocalEpoch: u32(o, 'proposer_local_epoch') };
}

export function encodeEnableRequest(r: EnableEnvelopeRequest): WireObject {
  return { proposer_node_id: r.proposerNodeId.toString(), proposer_local_epoch: r.proposerLocalEpoch };
}

export function decodeResyncRequest(v: unknown): ResyncSidecarRequest {
  return { callerFullNodeId: u64(obj(v), 'caller_full_node_id') };
}

export function encodeResyncRequest(r: ResyncSidecarRequest): WireObject {
  return { caller_full_node_id: r.callerFullNodeId.toString() };
}

// --- EncryptionAdmin responses ------------------------------------------------

export function encodeCapability(r: CapabilityReport): WireObject {
  return {
    encryption_capable: r.encryptionCapable,
    build_sha: r.buildSha,
    sidecar_present: r.sidecarPresent,
    full_node_id: r.fullNodeId.toString(),
    local_epoch: r.localEpoch,
    raft_local_epoch: r.raftLocalEpoch,
  };
}

export function decodeCapability(v: unknown): CapabilityReport {
  const o = obj(v);
  return {
    encryptionCapable: bool(o, 'encryption_capable'),
    buildSha: str(o, 'build_sha'),
    sidecarPresent: bool(o, 'sidecar_present'),
    fullNodeId: u64(o, 'full_node_id'),
    localEpoch: checkedEpoch('local_epoch', u32(o, 'local_epoch')),
    raftLocalEpoch: checkedEpoch('raft_local_epoch', u32(o, 'raft_local_epoch')),
  };
}

export function encodeSidecarState(r: SidecarStateReport): WireObject {
  return {
    wrapped_deks_by_id: encodeMap(r.wrappedDeksById, buf),
    active_storage_id: r.activeStorageId,
    active_raft_id: r.activeRaftId,
    storage_envelope_active: r.storageEnvelopeActive,
    raft_envelope_cutover_index: r.raftEnvelopeCutoverIndex.toString(),
    latest_applied_index: r.latestAppliedIndex.toString(),
    writer_registry_for_caller: encodeMap(r.writerRegistryForCaller, (e) => e),
  };
}

function bytesValue(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) malformed('map value is not bytes');
  return new Uint8Array(v);
}

export function decodeSidecarState(v: unknown): SidecarStateReport {
  const o = obj(v);
  return {
    wrappedDeksById: mapOf(o, 'wrapped_deks_by_id', bytesValue),
    activeStorageId: u32(o, 'active_storage_id'),
    activeRaftId: u32(o, 'active_raft_id'),
    storageEnvelopeActive: bool(o, 'storage_envelope_active'),
    raftEnvelopeCutoverIndex: u64(o, 'raft_envelope_cutover_index'),
    latestAppliedIndex: u64(o, 'latest_applied_index'),
    writerRegistryForCaller: epochMap(o, 'writer_registry_for_caller'),
  };
}

export function encodeResyncResponse(r: ResyncSidecarResponse): WireObject {
  return {
    wrapped_deks_by_id: encodeMap(r.wrappedDeksById, buf),
    active_storage_id: r.activeStorageId,
    active_raft_id: r.activeRaftId,
    leader_latest_applied_index: r.leaderLatestAppliedIndex.toString(),
    writer_registry_for_caller: encodeMap(r.writerRegistryForCaller, (e) => e),
    storage_envelope_active: r.storageEnvelopeActive,
    storage_envelope_cutover_index: r.storageEnvelopeCutoverIndex.toString(),
    raft_envelope_cutover_index: r.raftEnvelopeCutoverIndex.toString(),
    purpose_by_id: encodeMap(r.purposeById, (p) => p),
  };
}

export function decodeResyncResponse(v: unknown): ResyncSidecarResponse {
  const o = obj(v);
  return {
    wrappedDeksById: mapOf(o, 'wrapped_deks_by_id', bytesValue),
    activeStorageId: u32(o, 'active_storage_id'),
    activeRaftId: u32(o, 'active_raft_id'),
    leaderLatestAppliedIndex: u64(o, 'leader_latest_applied_index'),
    writerRegistryForCaller: epochMap(o, 'writer_registry_for_caller'),
    storageEnvelopeActive: bool(o, 'storage_envelope_active'),
    storageEnvelopeCutoverIndex: u64(o, 'storage_envelope_cutover_index'),
    raftEnvelopeCutoverIndex: u64(o, 'raft_envelope_cutover_index'),
    purposeById: mapOf(o, 'purpose_by_id', (p) => {
      if (typeof p !== 'string') malformed('purpose_by_id value is not a string');
      return p;
    }),
  };
}

export function encodeAppliedIndex(r: AppliedIndexResponse): WireObject {
  return { applied_index: r.appliedIndex.toString() };
}

export function decodeAppliedIndex(v: unknown): AppliedIndexResponse {
  return { appliedIndex: u64(obj(v), 'applied_index') };
}

function encodeVerdict(c: CapabilityVerdict): WireObject {
  return {
    full_node_id: c.fullNodeId.toString(),
    encryption_capable: c.encryptionCapable,
    build_sha: c.buildSha,
    sidecar_present: c.sidecarPresent,
  };
}

function decodeVerdict(v: unknown): CapabilityVerdict {
  const o = obj(v, 'CapabilityVerdict');
  return {
    fullNodeId: u64(o, 'full_node_id'),
    encryptionCapable: bool(o, 'encryption_capable'),
    buildSha: str(o, 'build_sha'),
    sidecarPresent: bool(o, 'sidecar_present'),
  };
}

export function encodeEnableStorageResponse(r: EnableStorageEnvelopeResponse): WireObject {
  return {
    applied_index: r.appliedIndex.toString(),
    capability_summary: r.capabilitySummary.map(encodeVerdict),
    cutover_index_unknown: r.cutoverIndexUnknown,
    was_already_active: r.wasAlreadyActive,
  };
}

export function decodeEnableStorageResponse(v: unknown): EnableStorageEnvelopeResponse {
  const o = obj(v);
  return {
    appliedIndex: u64(o, 'applied_index'),
    capabilitySummary: list(o, 'capability_summary').map(decodeVerdict),
    cutoverIndexUnknown: bool(o, 'cutover_index_unknown'),
    wasAlreadyActive: bool(o, 'was_already_active'),
  };
}

export function encodeEnableRaftResponse(r: EnableRaftEnvelopeResponse): WireObject {
  return {
    applied_index: r.appliedIndex.toString(),
    capability_summary: r.capabilitySummary.map(encodeVerdict),
    was_already_active: r.wasAlreadyActive,
  };
}

export function decodeEnableRaftResponse(v: unknown): EnableRaftEnvelopeResponse {
  const o = obj(v);
  return {
    appliedIndex: u64(o, 'applied_index'),
    capabilitySummary: list(o, 'capability_summary').map(decodeVerdict),
    wasAlreadyActive: bool(o, 'was_already_active'),
  };
}

// --- ClusterAdmin ---------------------------------------------------------------

function encodeRole(r: MemberRole): string {
  return r === 'voter' ? 'VOTER' : 'LEARNER';
}

function decodeRole(v: unknown): MemberRole {
  if (v === 'VOTER') return 'voter';
  if (v === 'LEARNER') return 'learner';
  return malformed(`member role ${String(v)} is neither VOTER nor LEARNER`);
}

export function encodeClusterStatus(s: ClusterStatus): WireObject {
  return {
    members: s.members.map((m) => ({
      id: m.id,
      raft_addr: m.raftAddr,
      admin_addr: m.adminAddr,
      role: encodeRole(m.role),
      full_node_id: m.fullNodeId.toString(),
    })),
    leader_id: s.leaderId,
    term: s.term.toString(),
    commit_index: s.commitIndex.toString(),
    applied_index: s.appliedIndex.toString(),
    node_id: s.nodeId,
    redis_addr: s.redisAddr,
  };
}

export function decodeClusterStatus(v: unknown): ClusterStatus {
  const o = obj(v);
  const members: ClusterMember[] = list(o, 'members').map((m) => {
    const mo = obj(m, 'Member');
    return {
      id: str(mo, 'id'),
      raftAddr: str(mo, 'raft_addr'),
      adminAddr: str(mo, 'admin_addr'),
      role: decodeRole(mo.role),
      fullNodeId: u64(mo, 'full_node_id'),
    };
  });
  return {
    members,
    leaderId: str(o, 'leader_id'),
    term: u64(o, 'term'),
    commitIndex: u64(o, 'commit_index'),
    appliedIndex: u64(o, 'applied_index'),
    nodeId: str(o, 'node_id'),
    redisAddr: str(o, 'redis_addr'),
  };
}

export function decodeAddLearnerRequest(v: unknown): AddLearnerRequest {
  const o = obj(v);
  return { id: str(o, 'id'), raftAddr: str(o, 'raft_addr'), adminAddr: str(o, 'admin_addr') };
}

export function encodeAddLearnerRequest(r: AddLearnerRequest): WireObject {
  return { id: r.id, raft_addr: r.raftAddr, admin_addr: r.adminAddr };
}

export function decodeIdField(v: unknown, field: 'id' | 'to'): string {
  return str(obj(v), field);
}

export function encodeConfChange(r: ConfChangeResponse): WireObject {
  return { applied_index: r.appliedIndex.toString() };
}

export function decodeConfChange(v: unknown): ConfChangeResponse {
  return { appliedIndex: u64(obj(v), 'applied_index') };
}

export function encodeTransferLeader(r: TransferLeaderResponse): WireObject {
  return { leader_id: r.leaderId };
}

export function decodeTransferLeader(v: unknown): TransferLeaderResponse {
  return { leaderId: str(obj(v), 'leader_id') };
}
