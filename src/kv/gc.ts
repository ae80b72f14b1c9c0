import type { GcCursor, Mvcc } from '../storage/index.ts';

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
  const retentionTs = o.lastCommitTs() - (BigInt(o.retentionMs) << 16n);
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
  } while (resume !== undefined);
  return removed;
}

/** Runs collectGarbage every `intervalMs`, never two passes at once. */
export function startGcLoop(
  o: GcOptions & { intervalMs: number; onError: (e: unknown) => void },
): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    collectGarbage(o)
      .catch(o.onError)
      .finally(() => {
        running = false;
      });
  }, o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
