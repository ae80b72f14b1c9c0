import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { AdmittedRpc, CallContext, ClusterAdminHandler, EncryptionAdminHandler } from './handlers.ts';
import { adminServices } from './proto.ts';
import { grpcCodeNumber, META_ERR, META_LEADER_ADDR, META_LEADER_ID, statusPartsOf } from './status.ts';
import {
  checkMemberId,
  validateAddLearner,
  validateBootstrap,
  validateEnableEnvelope,
  validateRegisterWriter,
  validateResyncSidecar,
  validateRotateDek,
} from './validate.ts';
import * as wire from './wire.ts';

export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  encryption: EncryptionAdminHandler;
  cluster: ClusterAdminHandler;
}

export interface AdminServer {
  /** The bound port. */
  readonly port: number;
  /** Stops accepting, lets in-flight calls finish for a moment, then cancels the rest. */
  close(): Promise<void>;
}

type Call = ServerUnaryCall<unknown, unknown>;
type Reply = sendUnaryData<unknown>;

function contextOf(call: Call): CallContext {
  const controller = new AbortController();
  if (call.cancelled) controller.abort();
  else call.once('cancelled', () => controller.abort());
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return { signal: controller.signal, deadline: Number.isFinite(ms) ? new Date(ms) : undefined };
}

/** Runs one call and turns any failure into a status whose details start with the Err… name. */
function serve(run: (request: unknown, ctx: CallContext) => Promise<unknown>) {
  return (call: Call, reply: Reply): void => {
    run(call.request, contextOf(call)).then(
      (response) => reply(null, response),
      (e: unknown) => {
        const parts = statusPartsOf(e);
        const metadata = new Metadata();
        metadata.set(META_ERR, parts.errName);
        if (parts.leaderId !== undefined) metadata.set(META_LEADER_ID, parts.leaderId);
        if (parts.leaderAddr !== undefined) metadata.set(META_LEADER_ADDR, parts.leaderAddr);
        reply({
          code: grpcCodeNumber(parts.code),
          details: `${parts.errName}: ${parts.message}`,
          metadata,
        });
      },
    );
  };
}

/**
 * An admitted RPC: the node's gate/leadership hook, then pure input
 * validation, then the node's method (the order of encryption.md §8.3).
 */
function admitted<Req>(
  h: EncryptionAdminHandler,
  rpc: AdmittedRpc,
  decode: (v: unknown) => Req,
  validate: (r: Req) => void,
  invoke: (r: Req, ctx: CallContext) => Promise<unknown>,
) {
  return serve(async (request, ctx) => {
    await h.admit(rpc, ctx);
    const req = decode(request);
    validate(req);
    return invoke(req, ctx);
  });
}

function encryptionImpl(h: EncryptionAdminHandler): UntypedServiceImplementation {
  return {
    GetCapability: serve(async (_r, ctx) => wire.encodeCapability(await h.getCapability(ctx))),
    GetSidecarState: serve(async (_r, ctx) => wire.encodeSidecarState(await h.getSidecarState(ctx))),
    ResyncSidecar: admitted(
      h,
      'ResyncSidecar',
      wire.decodeResyncRequest,
      validateResyncSidecar,
      async (r, ctx) => wire.encodeResyncResponse(await h.resyncSidecar(r, ctx)),
    ),
    BootstrapEncryption: admitted(
      h,
      'BootstrapEncryption',
      wire.decodeBootstrapRequest,
      validateBootstrap,
      async (r, ctx) => wire.encodeAppliedIndex(await h.bootstrapEncryption(r, ctx)),
    ),
    RotateDEK: admitted(h, 'RotateDEK', wire.decodeRotateRequest, validateRotateDek, async (r, ctx) =>
      wire.encodeAppliedIndex(await h.rotateDek(r, ctx)),
    ),
    RegisterEncryptionWriter: admitted(
      h,
      'RegisterEncryptionWriter',
      wire.decodeRegisterRequest,
      validateRegisterWriter,
      async (r, ctx) => wire.encodeAppliedIndex(await h.registerEncryptionWriter(r, ctx)),
    ),
    EnableStorageEnvelope: admitted(
      h,
      'EnableStorageEnvelope',
      wire.decodeEnableRequest,
      validateEnableEnvelope,
      async (r, ctx) => wire.encodeEnableStorageResponse(await h.enableStorageEnvelope(r, ctx)),
    ),
    EnableRaftEnvelope: admitted(
      h,
      'EnableRaftEnvelope',
      wire.decodeEnableRequest,
      validateEnableEnvelope,
      async (r, ctx) => wire.encodeEnableRaftResponse(await h.enableRaftEnvelope(r, ctx)),
    ),
  };
}

function clusterImpl(h: ClusterAdminHandler): UntypedServiceImplementation {
  return {
    Status: serve(async (_r, ctx) => wire.encodeClusterStatus(await h.status(ctx))),
    AddLearner: serve(async (request, ctx) => {
      const req = wire.decodeAddLearnerRequest(request);
      validateAddLearner(req);
      return wire.encodeConfChange(await h.addLearner(req, ctx));
    }),
    Promote: serve(async (request, ctx) => {
      const id = wire.decodeIdField(request, 'id');
      checkMemberId('id', id);
      return wire.encodeConfChange(await h.promote(id, ctx));
    }),
    Remove: serve(async (request, ctx) => {
      const id = wire.decodeIdField(request, 'id');
      checkMemberId('id', id);
      return wire.encodeConfChange(await h.remove(id, ctx));
    }),
    TransferLeader: serve(async (request, ctx) => {
      const to = wire.decodeIdField(request, 'to');
      checkMemberId('to', to);
      return wire.encodeTransferLeader(await h.transferLeader(to, ctx));
    }),
  };
}

const CLOSE_GRACE_MS = 2000;

/** Binds EncryptionAdmin and ClusterAdmin on `host:port` (plaintext, like the Raft transport). */
export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const services = adminServices();
  const server = new Server();
  server.addService(services.encryption, encryptionImpl(opts.encryption));
  server.addService(services.cluster, clusterImpl(opts.cluster));
  const host = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port}`, ServerCredentials.createInsecure(), (err, bound) =>
      err === null ? resolve(bound) : reject(err),
    );
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), CLOSE_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
