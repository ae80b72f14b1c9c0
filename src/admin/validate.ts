import { nodeId16 } from '../encryption/identity.ts';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import type {
  AddLearnerRequest,
  BootstrapEncryptionRequest,
  EnableEnvelopeRequest,
  RegisterEncryptionWriterRequest,
  ResyncSidecarRequest,
  RotateDekRequest,
  WriterRegistryEntry,
} from './handlers.ts';

/**
 * Input validation of the admin mutators (encryption.md §8.5), pure and shared
 * by the server layer and the CLI's client-side checks. Each function throws
 * the first violation as a SealError whose code maps to InvalidArgument (§8.8):
 * ErrReservedKeyID for a zero key id, ErrLocalEpochOutOfRange for an epoch
 * above 0xFFFF, ErrInvalidArgument for everything else.
 */

export const MAX_WRAPPED_DEK_BYTES = 4096;
export const MAX_LOCAL_EPOCH = 0xffff;
/** Each bootstrap batch entry becomes two registry rows; the entry caps the rows. */
export const MAX_BOOTSTRAP_ROWS = 16384;
const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

function invalid(message: string, details: Record<string, unknown> = {}): never {
  throw sealError(Err.InvalidArgument, message, details);
}

export function checkKeyId(name: string, id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > U32_MAX)
    invalid(`${name} ${id} is not a uint32`, { [name]: id });
  if (id === 0) {
    throw sealError(Err.ReservedKeyID, `${name} must be non-zero (0 is reserved for "unset")`, { [name]: 0 });
  }
}

export function checkEpoch(name: string, epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0) invalid(`${name} ${epoch} is not an unsigned integer`);
  if (epoch > MAX_LOCAL_EPOCH) {
    throw sealError(Err.LocalEpochOutOfRange, `${name} ${epoch} exceeds 0xFFFF`, { [name]: epoch });
  }
}

export function checkNodeId(name: string, id: bigint): void {
  if (id < 0n || id > U64_MAX) invalid(`${name} ${id} is not a uint64`);
  if (id === 0n) invalid(`${name} must be non-zero (0 means "not encryption-capable")`, { [name]: '0' });
}

export function checkWrappedDek(name: string, blob: Uint8Array): void {
  if (blob.length === 0) invalid(`${name} is empty`);
  if (blob.length > MAX_WRAPPED_DEK_BYTES) {
    invalid(`${name} has ${blob.length} bytes, more than ${MAX_WRAPPED_DEK_BYTES}`, { length: blob.length });
  }
}

function checkWriter(where: string, w: WriterRegistryEntry | null | undefined): WriterRegistryEntry {
  if (w === null || w === undefined) invalid(`${where} is null`);
  checkNodeId(`${where}.full_node_id`, w.fullNodeId);
  checkEpoch(`${where}.local_epoch`, w.localEpoch);
  return w;
}

export function validateBootstrap(req: BootstrapEncryptionRequest): void {
  checkKeyId('storage_dek_id', req.storageDekId);
  checkKeyId('raft_dek_id', req.raftDekId);
  if (req.storageDekId === req.raftDekId) {
    invalid(`storage_dek_id and raft_dek_id are both ${req.storageDekId}; they must differ`);
  }
  checkWrappedDek('wrapped_storage_dek', req.wrappedStorageDek);
  checkWrappedDek('wrapped_raft_dek', req.wrappedRaftDek);
  const batch = req.writerBatch;
  if (batch.length === 0) invalid('writer_batch is empty; list every member of the cluster');
  if (2 * batch.length > MAX_BOOTSTRAP_ROWS) {
    invalid(`writer_batch has ${batch.length} entries, more than ${MAX_BOOTSTRAP_ROWS / 2}`);
  }
  const fulls = new Set<bigint>();
  const shorts = new Map<number, bigint>();
  batch.forEach((entry, i) => {
    const w = checkWriter(`writer_batch[${i}]`, entry);
    if (w.localEpoch !== 0) {
      invalid(`writer_batch[${i}].local_epoch is ${w.localEpoch}; new DEKs start at epoch 0 on every node`);
    }
    if (fulls.has(w.fullNodeId)) invalid(`writer_batch lists full_node_id ${w.fullNodeId} twice`);
    fulls.add(w.fullNodeId);
    const short = nodeId16(w.fullNodeId);
    const other = shorts.get(short);
    if (other !== undefined) {
      invalid(
        `writer_batch full_node_ids ${other} and ${w.fullNodeId} share node_id16 ${short}; ` +
          'nonces and registry rows would collide',
        { nodeId16: short },
      );
    }
    shorts.set(short, w.fullNodeId);
  });
}

export function validateRotateDek(req: RotateDekRequest): void {
  if (req.purpose !== 'STORAGE' && req.purpose !== 'RAFT') invalid('purpose must be STORAGE or RAFT');
  checkKeyId('new_dek_id', req.newDekId);
  checkWrappedDek('wrapped_new_dek', req.wrappedNewDek);
  checkEpoch('proposer_local_epoch', req.proposerLocalEpoch);
  checkNodeId('proposer_node_id', req.proposerNodeId);
}

export function validateRegisterWriter(req: RegisterEncryptionWriterRequest): void {
  checkKeyId('dek_id', req.dekId);
  if (req.writers.length !== 1) {
    invalid(`writers has ${req.writers.length} entries; exactly one writer registers per call`);
  }
  checkWriter('writers[0]', req.writers[0]);
}

export function validateEnableEnvelope(req: EnableEnvelopeRequest): void {
  checkNodeId('proposer_node_id', req.proposerNodeId);
  checkEpoch('proposer_local_epoch', req.proposerLocalEpoch);
}

export function validateResyncSidecar(req: ResyncSidecarRequest): void {
  checkNodeId('caller_full_node_id', req.callerFullNodeId);
}

/** `host:port` with a non-empty host and a port in 1..65535 (IPv6 hosts in brackets). */
export function checkAddress(name: string, addr: string): void {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):([0-9]{1,5})$/.exec(addr);
  const port = m === null ? 0 : Number(m[2]);
  if (m === null || port < 1 || port > 65535) invalid(`${name} "${addr}" is not host:port`);
}

export function checkMemberId(name: string, id: string): void {
  if (id.length === 0 || /\s/.test(id)) invalid(`${name} must be a non-empty raft id without whitespace`);
}

export function validateAddLearner(req: AddLearnerRequest): void {
  checkMemberId('id', req.id);
  checkAddress('raft_addr', req.raftAddr);
  checkAddress('admin_addr', req.adminAddr);
}
