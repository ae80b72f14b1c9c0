/** Transport configuration, its defaults, and the small shared types. */
import { DEFAULT_MAX_FRAME_BYTES } from './frame.ts';

export interface PeerAddr {
  host: string;
  port: number;
}

/** Optional structured log sink: the transport never writes to stdout itself. */
export type TransportLog = (event: string, details: Record<string, unknown>) => void;

export interface TransportOptions {
  /** This node's id, sent in every hello. */
  id: string;
  /** Connections whose hello names another cluster are closed. */
  clusterId: string;
  /** Largest frame payload accepted or sent (default 16 MiB). */
  maxFrameBytes?: number;
  /** Per-peer outbound queue bound in bytes (default 8 MiB); past it, messages are dropped. */
  maxQueueBytes?: number;
  /** Per-peer outbound queue bound in messages (default 4096). */
  maxQueueMessages?: number;
  /** Upper bound of one batched socket write (default 256 KiB; one message may exceed it). */
  maxBatchBytes?: number;
  /** Reconnect backoff: base × 2^attempt, capped, then jittered to [½, 1] of that. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A connection that lived this long resets the backoff (default 2 s). */
  backoffStableMs?: number;
  /** Uniform [0,1) source for the jitter; injectable so tests are reproducible. */
  rand?: () => number;
  connectTimeoutMs?: number;
  /** An accepted connection that sends no hello within this time is closed (default 5 s). */
  helloTimeoutMs?: number;
  /** Snapshot chunks larger than this are split into several frames (default 256 KiB). */
  snapshotChunkBytes?: number;
  /** Receiver read-ahead of snapshot data before it stops reading the socket (default 1 MiB). */
  snapshotBufferBytes?: number;
  /** A snapshot transfer with no progress for this long fails (default 10 s). */
  snapshotIdleTimeoutMs?: number;
  log?: TransportLog;
}

export type ResolvedOptions = Required<Omit<TransportOptions, 'log'>> & { log: TransportLog };

export function resolveOptions(o: TransportOptions): ResolvedOptions {
  return {
    id: o.id,
    clusterId: o.clusterId,
    maxFrameBytes: o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    maxQueueBytes: o.maxQueueBytes ?? 8 * 1024 * 1024,
    maxQueueMessages: o.maxQueueMessages ?? 4096,
    maxBatchBytes: o.maxBatchBytes ?? 256 * 1024,
    backoffBaseMs: o.backoffBaseMs ?? 50,
    backoffMaxMs: o.backoffMaxMs ?? 2000,
    backoffStableMs: o.backoffStableMs ?? 2000,
    rand: o.rand ?? Math.random,
    connectTimeoutMs: o.connectTimeoutMs ?? 2000,
    helloTimeoutMs: o.helloTimeoutMs ?? 5000,
    snapshotChunkBytes: o.snapshotChunkBytes ?? 256 * 1024,
    snapshotBufferBytes: o.snapshotBufferBytes ?? 1024 * 1024,
    snapshotIdleTimeoutMs: o.snapshotIdleTimeoutMs ?? 10_000,
    log: o.log ?? (() => {}),
  };
}

/** Reconnect delay before attempt number `attempt` (0-based). */
export function backoffDelay(o: ResolvedOptions, attempt: number): number {
  const raw = Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** Math.min(attempt, 30));
  return Math.round(raw * (0.5 + 0.5 * o.rand()));
}

export interface PeerStats {
  /** Messages handed to the socket. */
  sent: number;
  /** Messages dropped because the queue was full, the message too large, or the peer removed. */
  dropped: number;
  queuedMessages: number;
  queuedBytes: number;
  connected: boolean;
  /** Failed dials plus lost connections. */
  failures: number;
}
