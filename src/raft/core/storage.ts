import type { ConfState, Entry, HardState, Snapshot } from './types.ts';

/**
 * Read-only view of the durable log that the driver implements (over the WAL in
 * production, over memory in tests). The core never writes through it: new entries,
 * hard state and snapshots leave through Ready, and the driver updates this view after
 * persisting them (D1).
 */
export interface LogStorage {
  /** Hard state and membership as recovered at startup. */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Index of the first entry still held (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry held (the snapshot index when the log is empty). */
  lastIndex(): number;
  /**
   * Term of the entry at `i`, for `firstIndex() - 1 <= i <= lastIndex()` (the lower end
   * is the snapshot's term); undefined outside that range.
   */
  term(i: number): number | undefined;
  /** Entries in [lo, hi), firstIndex() <= lo; at most `maxBytes` (but at least one entry). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The latest snapshot, sent to followers that fell behind the compaction point. */
  snapshot(): Snapshot;
}
