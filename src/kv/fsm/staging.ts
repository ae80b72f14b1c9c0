/**
 * What the FSM has decided but not yet committed: the newest pending version
 * timestamp per user key (for OCC), the keys written (for a flush), and the
 * dedup records. An entry stages into a child of its group's staging and is
 * merged only when the whole entry succeeded, so an entry that halts half-way
 * leaves nothing behind in the group batch.
 */
import type { Engine } from '../../storage/engine.ts';
import { newestCommitTs } from '../../storage/mvcc/mvcc.ts';
import { toHex } from '../../util/bytes.ts';
import { type DedupRecord, dedupLogKey, findInDedupRow } from './meta.ts';

export class Staging {
  readonly #parent: Staging | undefined;
  readonly #newest = new Map<string, bigint>();
  readonly #written = new Map<string, Uint8Array>();
  /** Dedup records by the entry that applied them, in apply order (the shape of their rows). */
  readonly #dedup = new Map<bigint, { requestId: bigint; rec: DedupRecord }[]>();

  constructor(parent?: Staging) {
    this.#parent = parent;
  }

  /** The newest pending version timestamp of `key`, if any. */
  pendingTs(hex: string): bigint | undefined {
    const own = this.#newest.get(hex);
    const up = this.#parent?.pendingTs(hex);
    if (own === undefined) return up;
    return up === undefined || own > up ? own : up;
  }

  noteWrite(key: Uint8Array, ts: bigint): void {
    const hex = toHex(key);
    const prev = this.#newest.get(hex);
    if (prev === undefined || ts > prev) this.#newest.set(hex, ts);
    this.#written.set(hex, key);
  }

  /** Every key written in this staging and its ancestors. */
  writtenKeys(out: Map<string, Uint8Array> = new Map()): Map<string, Uint8Array> {
    this.#parent?.writtenKeys(out);
    for (const [hex, key] of this.#written) out.set(hex, key);
    return out;
  }

  /** The record of `requestId` if the staged entry at `appliedAt` applied it. */
  pendingDedup(appliedAt: bigint, requestId: bigint): DedupRecord | undefined {
    const own = this.#dedup.get(appliedAt)?.find((r) => r.requestId === requestId);
    return own?.rec ?? this.#parent?.pendingDedup(appliedAt, requestId);
  }

  recordDedup(requestId: bigint, rec: DedupRecord): void {
    const list = this.#dedup.get(rec.appliedAt);
    if (list === undefined) this.#dedup.set(rec.appliedAt, [{ requestId, rec }]);
    else list.push({ requestId, rec });
  }

  /** Staged dedup records by applying entry, each list in apply order. */
  get dedupRows(): ReadonlyMap<bigint, readonly { requestId: bigint; rec: DedupRecord }[]> {
    return this.#dedup;
  }

  /** Folds this (child) staging into its parent once its entry succeeded. */
  mergeUp(): void {
    const p = this.#parent;
    if (p === undefined) return;
    for (const [hex, ts] of this.#newest) {
      const prev = p.#newest.get(hex);
      if (prev === undefined || ts > prev) p.#newest.set(hex, ts);
    }
    for (const [hex, key] of this.#written) p.#written.set(hex, key);
    for (const [at, list] of this.#dedup) {
      const up = p.#dedup.get(at);
      if (up === undefined) p.#dedup.set(at, [...list]);
      else up.push(...list);
    }
  }
}

/** Newest committed version timestamp of `key` (tombstones count: they are writes). */
export function committedTs(engine: Engine, key: Uint8Array): bigint | undefined {
  return newestCommitTs(engine, key);
}

/** The record of `requestId` if the committed entry at `appliedAt` applied it. */
export function storedDedup(engine: Engine, appliedAt: bigint, requestId: bigint): DedupRecord | undefined {
  const row = engine.get('meta', dedupLogKey(appliedAt));
  return row === undefined ? undefined : findInDedupRow(appliedAt, row, requestId);
}
