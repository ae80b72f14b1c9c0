import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import type { LogStorage } from './storage.ts';
import type { NodeId } from './types.ts';

export interface RaftConfig {
  id: NodeId;
  storage: LogStorage;
  /** Random source: a float in [0, 1) or a uint32 (D4: election jitter). */
  rand: () => number;
  /** Monotonic milliseconds; only lease reads use it (P34). */
  now?: () => number;
  /** Index the application has durably applied (P22: commit starts at max(hs.commit, applied)). */
  applied?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Lease reads; require checkQuorum (D3). */
  leaseReads?: boolean;
  tickMs?: number;
  /** Maximum relative clock-rate error ρ between nodes. */
  maxClockDrift?: number;
  leaseMarginMs?: number;
  maxInflightMsgs?: number;
  maxInflightBytes?: number;
  /** Cap on the entries of one MsgApp (at least one entry is always sent). */
  maxMsgBytes?: number;
  /** Proposals larger than this (the transport frame limit) are refused at once. */
  maxProposalBytes?: number;
  /** Bound on the leader's appended-but-uncommitted payload bytes. */
  maxUncommittedBytes?: number;
  /** A learner may be promoted once its match is within this many entries of the log. */
  promoteSlack?: number;
  /** Receives INFO lines ("2 became follower t2 lead=1"). */
  logger?: (line: string) => void;
}

export type ResolvedConfig = Required<Omit<RaftConfig, 'logger' | 'applied'>> & {
  logger: ((line: string) => void) | undefined;
  applied: number | undefined;
};

export function resolveConfig(c: RaftConfig): ResolvedConfig {
  const r: ResolvedConfig = {
    id: c.id,
    storage: c.storage,
    rand: c.rand,
    now: c.now ?? (() => 0),
    applied: c.applied,
    electionTicks: c.electionTicks ?? 10,
    heartbeatTicks: c.heartbeatTicks ?? 1,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    leaseReads: c.leaseReads ?? false,
    tickMs: c.tickMs ?? 100,
    maxClockDrift: c.maxClockDrift ?? 0.01,
    leaseMarginMs: c.leaseMarginMs ?? 50,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 32 * 1024 * 1024,
    maxMsgBytes: c.maxMsgBytes ?? 1024 * 1024,
    maxProposalBytes: c.maxProposalBytes ?? 16 * 1024 * 1024,
    maxUncommittedBytes: c.maxUncommittedBytes ?? 64 * 1024 * 1024,
    promoteSlack: c.promoteSlack ?? 10,
    logger: c.logger,
  };
  const bad = (msg: string) => sealError(Err.InvalidArgument, msg, { id: c.id });
  if (c.id === '') throw bad('raft config: the node id must not be empty');
  if (r.heartbeatTicks <= 0 || r.electionTicks <= r.heartbeatTicks)
    throw bad('raft config: electionTicks must exceed heartbeatTicks > 0');
  if (r.maxInflightMsgs <= 0) throw bad('raft config: maxInflightMsgs must be positive');
  if (r.leaseReads && !r.checkQuorum) throw bad('raft config: lease reads require checkQuorum (D3)');
  if (r.maxClockDrift < 0 || r.maxClockDrift >= 1) throw bad('raft config: maxClockDrift must be in [0, 1)');
  return r;
}

/** Lease length in ms: E·(1−ρ)/(1+ρ) − margin (P34). */
export function leaseMs(c: ResolvedConfig): number {
  const e = c.electionTicks * c.tickMs;
  return (e * (1 - c.maxClockDrift)) / (1 + c.maxClockDrift) - c.leaseMarginMs;
}
