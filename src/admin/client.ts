import {
  Client,
  credentials,
  Metadata,
  type MethodDefinition,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { SealError } from '../util/errors.ts';
import type {
  AddLearnerRequest,
  AppliedIndexResponse,
  BootstrapEncryptionRequest,
  CapabilityReport,
  ClusterStatus,
  ConfChangeResponse,
  EnableEnvelopeRequest,
  EnableRaftEnvelopeResponse,
  EnableStorageEnvelopeResponse,
  RegisterEncryptionWriterRequest,
  ResyncSidecarRequest,
  ResyncSidecarResponse,
  RotateDekRequest,
  SidecarStateReport,
  TransferLeaderResponse,
} from './handlers.ts';
import { adminServices } from './proto.ts';
import {
  type GrpcCodeName,
  grpcCodeName,
  META_LEADER_ADDR,
  META_LEADER_ID,
  parseStatusDetails,
} from './status.ts';
import * as wire from './wire.ts';

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_ENDPOINT = '127.0.0.1:50051';

/**
 * A failed admin RPC, recovered from its status: `code` is the Err… name the
 * server put first in the details (ErrRpcFailed when none, e.g. unreachable),
 * `grpcCode` the status code name. ErrNotLeader carries the leader's id and
 * address when the server knew them.
 */
export class AdminRpcError extends SealError {
  readonly grpcCode: GrpcCodeName;
  readonly endpoint: string;
  readonly leaderId: string | undefined;
  readonly leaderAddr: string | undefined;
  readonly detail: string;

  constructor(endpoint: string, grpcCode: GrpcCodeName, errName: string, message: string, meta?: Metadata) {
    super(errName, message, { endpoint, grpcCode });
    this.name = 'AdminRpcError';
    this.endpoint = endpoint;
    this.grpcCode = grpcCode;
    this.detail = message;
    this.leaderId = metaString(meta, META_LEADER_ID);
    this.leaderAddr = metaString(meta, META_LEADER_ADDR);
  }
}

function metaString(meta: Metadata | undefined, key: string): string | undefined {
  const v = meta?.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number';
}

export interface AdminClientOptions {
  /** Per-RPC deadline in milliseconds (default 5 s). */
  timeoutMs?: number;
}

/** Shared plumbing: one channel per endpoint, one deadline per RPC. */
class UnaryClient {
  private readonly client: Client;
  private readonly timeoutMs: number;

  constructor(
    readonly endpoint: string,
    private readonly service: ServiceDefinition,
    opts: AdminClientOptions,
  ) {
    this.client = new Client(endpoint, credentials.createInsecure());
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  call(method: string, request: wire.WireObject): Promise<unknown> {
    const def: MethodDefinition<unknown, unknown> | undefined = this.service[method];
    if (def === undefined) throw new Error(`unknown admin method ${method}`);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err, value) => {
          if (err === null) resolve(value);
          else reject(this.toError(err));
        },
      );
    });
  }

  private toError(err: unknown): Error {
    if (!isServiceError(err)) return err instanceof Error ? err : new Error(String(err));
    const { errName, message } = parseStatusDetails(err.details ?? err.message);
    return new AdminRpcError(this.endpoint, grpcCodeName(err.code), errName, message, err.metadata);
  }

  close(): void {
    this.client.close();
  }
}

/** Typed client of EncryptionAdmin (encryption.md §8). */
export class EncryptionAdminClient {
  private readonly rpc: UnaryClient;

  constructor(endpoint: string, opts: AdminClientOptions = {}) {
    this.rpc = new UnaryClient(endpoint, adminServices().encryption, opts);
  }

  get endpoint(): string {
    return this.rpc.endpoint;
  }

  async getCapability(): Promise<CapabilityReport> {
    return wire.decodeCapability(await this.rpc.call('GetCapability', {}));
  }

  async getSidecarState(): Promise<SidecarStateReport> {
    return wire.decodeSidecarState(await this.rpc.call('GetSidecarState', {}));
  }

  async resyncSidecar(req: ResyncSidecarRequest): Promise<ResyncSidecarResponse> {
    return wire.decodeResyncResponse(await this.rpc.call('ResyncSidecar', wire.encodeResyncRequest(req)));
  }

  async bootstrapEncryption(req: BootstrapEncryptionRequest): Promise<AppliedIndexResponse> {
    return wire.decodeAppliedIndex(
      await this.rpc.call('BootstrapEncryption', wire.encodeBootstrapRequest(req)),
    );
  }

  async rotateDek(req: RotateDekRequest): Promise<AppliedIndexResponse> {
    return wire.decodeAppliedIndex(await this.rpc.call('RotateDEK', wire.encodeRotateRequest(req)));
  }

  async registerEncryptionWriter(req: RegisterEncryptionWriterRequest): Promise<AppliedIndexResponse> {
    return wire.decodeAppliedIndex(
      await this.rpc.call('RegisterEncryptionWriter', wire.encodeRegisterRequest(req)),
    );
  }

  async enableStorageEnvelope(req: EnableEnvelopeRequest): Promise<EnableStorageEnvelopeResponse> {
    return wire.decodeEnableStorageResponse(
      await this.rpc.call('EnableStorageEnvelope', wire.encodeEnableRequest(req)),
    );
  }

  async enableRaftEnvelope(req: EnableEnvelopeRequest): Promise<EnableRaftEnvelopeResponse> {
    return wire.decodeEnableRaftResponse(
      await this.rpc.call('EnableRaftEnvelope', wire.encodeEnableRequest(req)),
    );
  }

  close(): void {
    this.rpc.close();
  }
}

/** Typed client of ClusterAdmin. */
export class ClusterAdminClient {
  private readonly rpc: UnaryClient;

  constructor(endpoint: string, opts: AdminClientOptions = {}) {
    this.rpc = new UnaryClient(endpoint, adminServices().cluster, opts);
  }

  get endpoint(): string {
    return this.rpc.endpoint;
  }

  async status(): Promise<ClusterStatus> {
    return wire.decodeClusterStatus(await this.rpc.call('Status', {}));
  }

  async addLearner(req: AddLearnerRequest): Promise<ConfChangeResponse> {
    return wire.decodeConfChange(await this.rpc.call('AddLearner', wire.encodeAddLearnerRequest(req)));
  }

  async promote(id: string): Promise<ConfChangeResponse> {
    return wire.decodeConfChange(await this.rpc.call('Promote', { id }));
  }

  async remove(id: string): Promise<ConfChangeResponse> {
    return wire.decodeConfChange(await this.rpc.call('Remove', { id }));
  }

  async transferLeader(to: string): Promise<TransferLeaderResponse> {
    return wire.decodeTransferLeader(await this.rpc.call('TransferLeader', { to }));
  }

  close(): void {
    this.rpc.close();
  }
}
