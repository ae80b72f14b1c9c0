import type { RaftNodeOptions } from './types.ts';

/** The node's tunables with their defaults filled in, so no module repeats a default. */
export interface ResolvedOptions {
  tickMs: number;
  snapshotEvery: number;
  snapshotBytes: number;
  snapshotRetain: number;
  snapshotRetainBytes: number;
  snapshotChunkBytes: number;
  maxSnapshotBytes: number;
  maxMsgBytes: number;
  readTimeoutTicks: number;
}

export function resolveOptions(o: RaftNodeOptions): ResolvedOptions {
  const election = o.raft?.electionTicks ?? 10;
  return {
    tickMs: o.tickMs ?? 100,
    snapshotEvery: o.snapshotEvery ?? 10_000,
    snapshotBytes: o.snapshotBytes ?? 64 * 1024 * 1024,
    snapshotRetain: o.snapshotRetain ?? 1_000,
    snapshotRetainBytes: o.snapshotRetainBytes ?? 8 * 1024 * 1024,
    snapshotChunkBytes: o.snapshotChunkBytes ?? 256 * 1024,
    maxSnapshotBytes: o.maxSnapshotBytes ?? Number.POSITIVE_INFINITY,
    maxMsgBytes: o.raft?.maxMsgBytes ?? 1024 * 1024,
    readTimeoutTicks: o.readTimeoutTicks ?? 3 * election,
  };
}
