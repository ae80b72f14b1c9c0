import type { GcCursor, Mvcc } from '../storage/index.ts';
import type { DirtyKeys, ReadPins } from './gc-tracking.ts';
import { successor } from './overlay.ts';

export interface GcOptions {
  mvcc: Mvcc;
  /** Commit timestamp of the newest applied request (the read point of transactions). */
  lastCommitTs: () => bigint;
  /** Wall clock in ms. */
  nowMs: () => number;
  /** Versions older than this much history behind the newest commit are collected. */
  retentionMs: number;
  /** Versions examined per slice (default 4096). */
  sliceRows?: number;
  /** Read timestamps still in use; GC keeps what they can see. */
  pins?: ReadPins;
  /** Checked between slices: true ends the pass early (the node is stopping). */
  stopped?: () => boolean;
}

/** Expiry decisions lag the wall clock by this much, so a reader whose clock is a little behind never misses a live value. */
const EXPIRY_MARGIN_MS = 5000;

/** Versions examined per slice; each slice is one batch, then the event loop gets a turn. */
const SLICE_ROWS = 4096;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One MVCC garbage-collection pass of this replica's store. Transaction bodies
 * read synchronously at the newest applied commit timestamp and OCC validation
 * looks only at the newest version, so no read needs versions older than the
 * retention point; GC is local to each replica and never changes what a read
 * at or after it returns.
 *
 * The pass walks the key space in slices with a turn of the event loop in
 * between: a single synchronous sweep of a million keys held the node's
 * ticks and sockets for seconds.
 */
export async function collectGarbage(o: GcOptions): Promise<number> {
  const retentionTs = retentionPoint(o);
  if (retentionTs <= 0n) return 0;
  const nowMs = BigInt(o.nowMs() - EXPIRY_MARGIN_MS);
  let removed = 0;
  let resume: GcCursor | undefined;
  do {
    const batch = o.mvcc.batch();
    const slice = o.mvcc.gcSlice(batch, {
      retentionTs,
      nowMs,
      maxRows: o.sliceRows ?? SLICE_ROWS,
      ...(resume === undefined ? {} : { resume }),
    });
    if (slice.removed > 0) await o.mvcc.commit(batch, { sync: false });
    removed += slice.removed;
    resume = slice.next;
    if (resume !== undefined) await nextTurn();
  } while (resume !== undefined && o.stopped?.() !== true);
  return removed;
}

/** Versions no read needs any more lie at or before this point. */
function retentionPoint(o: GcOptions): bigint {
  const byAge = o.lastCommitTs() - (BigInt(o.retentionMs) << 16n);
  const pinned = o.pins?.oldest();
  return pinned !== undefined && pinned < byAge ? pinned : byAge;
}

/** Dirty keys taken from the tracker at a time. */
const TAKE_KEYS = 256;

/**
 * A pass over the keys written since GC last visited them, instead of the whole
 * store: only such keys can have gained garbage. A key still being written is
 * visited again at the next pass, so its history is trimmed every pass. Keys
 * share batches of about `sliceRows` versions, with a turn of the event loop
 * between batches, however long one key's history is.
 */
export async function collectDirty(o: GcOptions, dirty: DirtyKeys): Promise<number> {
  const retentionTs = retentionPoint(o);
  if (retentionTs <= 0n) return 0;
  const nowMs = BigInt(o.nowMs() - EXPIRY_MARGIN_MS);
  const sliceRows = o.sliceRows ?? SLICE_ROWS;
  dirty.beginPass();
  let removed = 0;
  let batch = o.mvcc.batch();
  let pending = 0;
  let budget = sliceRows;
  const endSlice = async () => {
    if (pending > 0) await o.mvcc.commit(batch, { sync: false });
    removed += pending;
    batch = o.mvcc.batch();
    pending = 0;
    budget = sliceRows;
    await nextTurn();
  };
  while (o.stopped?.() !== true) {
    const keys = dirty.takeUpTo(retentionTs, TAKE_KEYS);
    if (keys.length === 0) break;
    for (const { key } of keys) {
      const range = { start: key, end: successor(key) };
      let resume: GcCursor | undefined;
      do {
        const slice = o.mvcc.gcSlice(batch, {
          retentionTs,
          nowMs,
          ...range,
          maxRows: budget,
          ...(resume === undefined ? {} : { resume }),
        });
        pending += slice.removed;
        budget -= slice.visited;
        resume = slice.next;
        if (budget <= 0) await endSlice();
      } while (resume !== undefined);
      const newest = o.mvcc.newestCommitTs(key);
      if (newest !== undefined && newest > retentionTs) dirty.revisit(key, newest);
    }
  }
  if (pending > 0) await endSlice();
  return removed;
}

export interface GcLoopOptions extends GcOptions {
  /** How often a pass runs. */
  intervalMs: number;
  /** Keys written since their last visit; without it every pass walks the store. */
  dirty?: DirtyKeys;
  /**
   * How often a pass walks the whole store anyway, for expired keys nobody
   * rewrites and for keys the tracker dropped when it overflowed.
   */
  fullIntervalMs: number;
  /**
   * Once the tracker overflowed (it then tracks nothing), a full pass runs as
   * soon as this long passed since the last one, rather than after
   * `fullIntervalMs` (default 30 s).
   */
  overflowFullIntervalMs?: number;
  onError: (e: unknown) => void;
  /** Told of each finished pass and what it removed. */
  onPass?: (kind: 'dirty' | 'full', removed: number) => void;
}

const OVERFLOW_FULL_INTERVAL_MS = 30_000;

/**
 * Runs a GC pass every `intervalMs`, never two at once: over the dirty keys, or
 * over the whole store once `fullIntervalMs` passed since the last full pass
 * (or `overflowFullIntervalMs`, when the tracker overflowed and tracks nothing).
 * Returns the stop function.
 */
export function startGcLoop(o: GcLoopOptions): () => Promise<void> {
  let running: Promise<void> | undefined;
  let stopped = false;
  let lastFullMs = o.nowMs();
  const pass: GcOptions = { ...o, stopped: () => stopped };
  const timer = setInterval(() => {
    if (running !== undefined) return;
    const dirty = o.dirty;
    const sinceFullMs = o.nowMs() - lastFullMs;
    const full =
      dirty === undefined ||
      sinceFullMs >= o.fullIntervalMs ||
      (dirty.overflowed && sinceFullMs >= (o.overflowFullIntervalMs ?? OVERFLOW_FULL_INTERVAL_MS));
    if (full) {
      lastFullMs = o.nowMs();
      // Tracking restarts now; what it dropped before is older than this pass.
      dirty?.takeOverflow();
    }
    const kind = full ? 'full' : 'dirty';
    running = (dirty === undefined || full ? collectGarbage(pass) : collectDirty(pass, dirty))
      .then((removed) => o.onPass?.(kind, removed))
      .catch(o.onError)
      .finally(() => {
        running = undefined;
      });
  }, o.intervalMs);
  timer.unref();
  // Stopping ends a pass at its next slice and resolves once it has, so the
  // store can close under no GC batch.
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
