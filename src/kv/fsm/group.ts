/**
 * One storage batch of the FSM: the effects of consecutive entries plus the
 * applied index (and, when set, the lease ceiling, `!encryption|sidecar-index`,
 * one dedup row per entry and dedup pruning), committed atomically.
 */
import { SIDECAR_INDEX_KEY } from '../../encryption/registry/store.ts';
import { type Engine, WriteBatch } from '../../storage/engine.ts';
import type { MvccBatch } from '../../storage/mvcc/mvcc.ts';
import { u64be } from '../../util/bytes.ts';
import {
  APPLIED_KEY,
  DEDUP_LOG_PREFIX,
  decodeCeiling,
  decodeLastCommitTs,
  dedupLogKey,
  encodeApplied,
  encodeDedupRow,
  HLC_CEILING_KEY,
  LAST_COMMIT_TS_KEY,
} from './meta.ts';
import { Staging } from './staging.ts';
import type { EntryResult } from './types.ts';

export class ApplyGroup {
  readonly staging = new Staging();
  readonly results: EntryResult[] = [];
  readonly #batch = new WriteBatch();
  #applied: { index: bigint; term: bigint } | undefined;
  #firstIndex: bigint | undefined;
  #ceiling = 0;
  #sidecarIndex: bigint | undefined;
  #maxCommitTs: bigint | undefined;

  /** Appends a successful entry's MVCC writes (its own MvccBatch, so a failed entry adds nothing). */
  absorb(entry: MvccBatch): void {
    this.#batch.append(entry.engineBatch);
  }

  advance(index: bigint, term: bigint, result: EntryResult): void {
    this.#firstIndex ??= index;
    this.#applied = { index, term };
    this.results.push(result);
  }

  lease(ceilingMs: number): void {
    if (ceilingMs > this.#ceiling) this.#ceiling = ceilingMs;
  }

  sidecarIndex(index: bigint): void {
    this.#sidecarIndex = index;
  }

  observeCommitTs(ts: bigint): void {
    if (this.#maxCommitTs === undefined || ts > this.#maxCommitTs) this.#maxCommitTs = ts;
  }

  get isEmpty(): boolean {
    return this.#applied === undefined;
  }

  get firstIndex(): bigint | undefined {
    return this.#firstIndex;
  }

  get lastIndex(): bigint | undefined {
    return this.#applied?.index;
  }

  get ceilingMs(): number {
    return this.#ceiling;
  }

  get maxCommitTs(): bigint | undefined {
    return this.#maxCommitTs;
  }

  /** The complete engine batch: entry writes, dedup table, lease, sidecar index, applied index last. */
  finish(engine: Engine, dedupWindow: bigint): WriteBatch {
    const b = this.#batch;
    const applied = this.#applied;
    if (applied === undefined) return b;
    for (const [at, records] of this.staging.dedupRows) {
      b.put('meta', dedupLogKey(at), encodeDedupRow(records));
    }
    prune(engine, b, applied.index, dedupWindow);
    if (this.#ceiling > decodeCeiling(engine.get('meta', HLC_CEILING_KEY))) {
      b.put('meta', HLC_CEILING_KEY, u64be(BigInt(this.#ceiling)));
    }
    if (this.#sidecarIndex !== undefined) b.put('encryption', SIDECAR_INDEX_KEY, u64be(this.#sidecarIndex));
    if (
      this.#maxCommitTs !== undefined &&
      this.#maxCommitTs > decodeLastCommitTs(engine.get('meta', LAST_COMMIT_TS_KEY))
    ) {
      b.put('meta', LAST_COMMIT_TS_KEY, u64be(this.#maxCommitTs));
    }
    b.put('meta', APPLIED_KEY, encodeApplied(applied));
    return b;
  }
}

/** Drops the dedup rows of entries that left the window (they no longer count, see RequestContext.dedupWindow). */
function prune(engine: Engine, b: WriteBatch, index: bigint, window: bigint): void {
  if (index <= window) return;
  for (const row of engine.range('meta', { start: DEDUP_LOG_PREFIX, end: dedupLogKey(index - window) })) {
    b.delete('meta', row.key);
  }
}
