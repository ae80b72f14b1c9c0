/** The surfaces RaftNode is given (injected) and the outcomes it reports. */
import type { RaftConfig } from '../core/config.ts';
import type { ConfChange, ConfState, Entry, NodeId, SnapshotMeta } from '../core/types.ts';
import type { Disk } from '../disk/disk.ts';
import type { WalCrashPoint } from '../wal/wal.ts';

/** What the node needs from the peer transport (the real Transport satisfies it). */
export interface NodeTransport {
  send(to: string, payload: Uint8Array): boolean;
  onMessage(handler: (from: string, payload: Uint8Array) => void): void;
  onUnreachable(handler: (peer: string) => void): void;
  sendSnapshot(to: string, meta: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  onSnapshot(
    handler: (from: string, meta: Uint8Array, chunks: AsyncIterable<Uint8Array>) => Promise<void>,
  ): void;
  close(): Promise<void>;
}

/** A halt reported by the state machine (raft.md P45, I19): entry `index` wrote nothing. */
export interface HaltInfo {
  index: number;
  code: string;
  detail: string;
}

export interface ApplyResult {
  halt?: HaltInfo;
}

/**
 * The replicated state machine as the node drives it. Every call is awaited before the
 * next one, in index order.
 */
export interface StateMachine {
  /** The durably applied index (P22: the node starts with commit = max(hs.commit, applied)). */
  appliedIndex(): number | Promise<number>;
  /**
   * Applies committed entries (conf changes and empty term-start entries included: the
   * applied index moves over them too). A halt at index i means entries below i were
   * applied and i was not; the node then stops without advancing.
   */
  apply(entries: readonly Entry[]): ApplyResult | undefined | Promise<ApplyResult | undefined>;
  /**
   * Pins the state as of its applied index before resolving and streams it. Absent:
   * the node never snapshots and its log is never compacted.
   */
  snapshot?(): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }>;
  /** Replaces the whole state by a snapshot's; afterwards appliedIndex() is meta.index. */
  restore?(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;
}

/** Calls `onTick` every `ms` milliseconds until the returned function is called. */
export type TickSource = (onTick: () => void, ms: number) => () => void;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type NodeLogger = (level: LogLevel, msg: string, details?: Record<string, unknown>) => void;

export type StopReason =
  | { kind: 'stopped' }
  | { kind: 'aborted' }
  | { kind: 'halt'; halt: HaltInfo }
  | { kind: 'fatal'; error: unknown };

export type CoreOptions = Omit<
  RaftConfig,
  'id' | 'storage' | 'rand' | 'now' | 'applied' | 'logger' | 'tickMs'
>;

export interface RaftNodeOptions {
  id: NodeId;
  /** Voters of a brand-new cluster; used only when the WAL holds no snapshot. */
  voters: NodeId[];
  dir: string;
  disk: Disk;
  transport: NodeTransport;
  fsm: StateMachine;
  /** Monotonic milliseconds (lease reads). Default: performance.now. */
  clock?: () => number;
  /** Default: setInterval. */
  ticker?: TickSource;
  /** Tick length in ms (D4: 100). */
  tickMs?: number;
  /** Election jitter source. Default: Math.random. */
  rand?: () => number;
  logger?: NodeLogger;
  raft?: CoreOptions;
  /** Take a snapshot once this many entries were applied since the last one (default 10,000). */
  snapshotEvery?: number;
  /** ... or once the in-memory log holds this many payload bytes (default 64 MiB). */
  snapshotBytes?: number;
  /** Entries kept before a snapshot, so slightly lagging followers need no snapshot (default 1,000). */
  snapshotRetain?: number;
  /** ...and at most this many payload bytes of them (default 8 MiB), whichever keeps fewer. */
  snapshotRetainBytes?: number;
  /** Chunk size of outgoing snapshot streams (default 256 KiB). */
  snapshotChunkBytes?: number;
  /**
   * Largest snapshot image accepted from a leader, a guard for the disk the staged file fills
   * (default: no limit). Images are streamed, never held in memory, so this is no memory bound.
   */
  maxSnapshotBytes?: number;
  /** ReadIndex requests not answered within this many ticks fail (default 3 election timeouts). */
  readTimeoutTicks?: number;
  /** Called after a conf change took effect (D2), e.g. to add or remove the peer's address. */
  onConfChange?: (cc: ConfChange, conf: ConfState) => void;
  segmentBytes?: number;
  /** WAL crash-point hook (tests). */
  walHook?: (point: WalCrashPoint) => void;
}
