import { Err } from '../util/codes.ts';
import { SealError } from '../util/errors.ts';

/**
 * Mapping between `Err…` names and gRPC status codes (encryption.md §8.8).
 * The status details string is always `<Err…>: <message>`, so the name
 * crosses the wire verbatim and clients can recover it.
 */

/** Trailing metadata keys a failed call may carry next to the status. */
export const META_ERR = 'sealkv-err';
export const META_LEADER_ID = 'sealkv-leader-id';
export const META_LEADER_ADDR = 'sealkv-leader-addr';

/** gRPC status code names in the CamelCase spelling the CLI prints. */
export const GRPC_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

export type GrpcCodeName = (typeof GRPC_CODE_NAMES)[number];

export function grpcCodeName(code: number): GrpcCodeName {
  return GRPC_CODE_NAMES[code] ?? 'Unknown';
}

export function grpcCodeNumber(name: GrpcCodeName): number {
  return GRPC_CODE_NAMES.indexOf(name);
}

const INVALID_ARGUMENT: readonly string[] = [
  Err.LocalEpochOutOfRange,
  Err.ReservedKeyID,
  Err.KEKMismatch,
  Err.InvalidArgument,
];

const FAILED_PRECONDITION: readonly string[] = [
  Err.EncryptionMutatorsDisabled,
  Err.NotLeader,
  Err.EncryptionNotBootstrapped,
  Err.AlreadyBootstrapped,
  Err.DEKIDExists,
  Err.ProposerMismatch,
  Err.WriterUint16Collision,
  Err.LocalEpochRollback,
  Err.CapabilityCheckFailed,
  Err.CutoverDEKIDStale,
  Err.SidecarMissing,
  Err.SidecarVersion,
  Err.RaftEnvelopeScope,
  Err.CutoverOutcomeUnsafe,
  Err.PeerNotEncryptionCapable,
  Err.NodeIDCollision,
  Err.LeaderTransferring,
  Err.ConfChangePending,
  Err.LearnerNotReady,
  Err.DisableUnsupported,
];

const UNAVAILABLE: readonly string[] = [
  Err.EnvelopeCutoverInProgress,
  Err.WriterNotRegistered,
  Err.StartupRotationPending,
  Err.ProposalFailed,
  Err.ProposalDropped,
];

/**
 * The gRPC code for a named error. Everything unlisted — ErrEncryptionApply,
 * the ErrSidecar… read/validation failures, bugs — is Internal. A SealError may
 * force Canceled or DeadlineExceeded through `details.rpcCode` when it reports
 * the caller's own cancellation.
 */
export function rpcCodeForErr(code: string, details: Readonly<Record<string, unknown>> = {}): GrpcCodeName {
  if (details.rpcCode === 'Canceled' || details.rpcCode === 'DeadlineExceeded') return details.rpcCode;
  if (INVALID_ARGUMENT.includes(code)) return 'InvalidArgument';
  if (FAILED_PRECONDITION.includes(code)) return 'FailedPrecondition';
  if (UNAVAILABLE.includes(code)) return 'Unavailable';
  return 'Internal';
}

/** The message of a SealError without its `<Err…>: ` prefix. */
export function bareMessage(e: SealError): string {
  const prefix = `${e.code}: `;
  return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
}

export interface StatusParts {
  code: GrpcCodeName;
  errName: string;
  message: string;
  leaderId?: string;
  leaderAddr?: string;
}

/** Splits any thrown value into the parts a status carries; foreign errors are Internal ErrInternal. */
export function statusPartsOf(e: unknown): StatusParts {
  if (e instanceof SealError) {
    const parts: StatusParts = {
      code: rpcCodeForErr(e.code, e.details),
      errName: e.code,
      message: bareMessage(e),
    };
    if (typeof e.details.leaderId === 'string') parts.leaderId = e.details.leaderId;
    if (typeof e.details.leaderAddr === 'string') parts.leaderAddr = e.details.leaderAddr;
    return parts;
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'Internal', errName: Err.Internal, message: `unexpected failure: ${message}` };
}

const ERR_PREFIX = /^(Err[A-Za-z0-9]+):? ?([\s\S]*)$/;

/** Recovers `<Err…>` and the message from a status details string; ErrRpcFailed when none is named. */
export function parseStatusDetails(details: string): { errName: string; message: string } {
  const m = ERR_PREFIX.exec(details);
  if (m === null) return { errName: Err.RpcFailed, message: details };
  return { errName: m[1] ?? Err.RpcFailed, message: m[2] ?? '' };
}
