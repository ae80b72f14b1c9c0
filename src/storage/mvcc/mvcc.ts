/**
 * Multi-version key-value layer over an Engine: versioned puts/deletes with
 * TTL, snapshot reads at a timestamp, forward/reverse scans, GC, raw
 * (unversioned) namespaces, and whole-store snapshot/restore.
 *
 * No clock lives here: read time (`nowMs`) and timestamps are passed in, so
 * every replica makes the same decisions from the same inputs.
 */
import { concatBytes, u64be } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import type {
  Engine,
  KeyValue,
  Namespace,
  RangeOptions,
  ReadView,
  Snapshot,
  WriteOptions,
} from '../engine.ts';
import { WriteBatch } from '../engine.ts';
import type { ValueSealer } from '../sealer.ts';
import { restoreSnapshot, snapshotStream } from '../snapshot-stream.ts';
import { encodeLive, encodeTombstone, openVersion } from './codec.ts';
import { decodeHeader, isExpired } from './header.ts';
import {
  checkTimestamp,
  decodeEngineKey,
  engineBounds,
  engineKey,
  versionPrefixLength,
  versionRange,
  versionTs,
} from './keys.ts';
import { cacheKey, type NewestVersion, NewestVersionCache } from './newest-cache.ts';

const U64_MASK = (1n << 64n) - 1n;

/** Whether `key` starts with exactly `prefix`, whose length `plen` the caller measured on `key`. */
function hasPrefix(key: Uint8Array, prefix: Uint8Array, plen: number): boolean {
  if (prefix.length !== plen) return false;
  for (let i = plen - 1; i >= 0; i--) if (key[i] !== prefix[i]) return false;
  return true;
}

/** Versions of one key a scan steps over before it looks the visible one up directly. */
const SCAN_SEEK_AFTER = 8;

/** The smallest engine key after every version of the key with this version prefix. */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  const out = prefix.slice();
  out[out.length - 1]! += 1;
  return out;
}

/** The newest version at or before `ts` of the key with this version prefix. */
function versionAt(
  view: ReadView,
  prefix: Uint8Array,
  ts: bigint,
): { row: KeyValue; commitTs: bigint } | undefined {
  const start = concatBytes(prefix, u64be(~ts & U64_MASK));
  for (const row of view.range('mvcc', { start, end: prefixEnd(prefix), limit: 1 })) {
    return { row, commitTs: versionTs(row.key, prefix.length) };
  }
  return undefined;
}

const NO_VERSION: NewestVersion = { commitTs: 0n, absent: true, value: new Uint8Array(0), expireAt: 0n };

/** The namespaces outside the MVCC keyspace. */
export type RawNamespace = Exclude<Namespace, 'mvcc'>;

export interface MvccOptions {
  /** Seals values on write and opens them on read; absent = no cipher configured. */
  sealer?: ValueSealer;
  /**
   * Budget of the newest-version cache for point reads of the live engine, in
   * bytes (0 turns it off). Used only over an engine that offers observe().
   */
  newestCacheBytes?: number;
}

/** Tens of thousands of hot keys; small next to a node's 256 MB heap budget. */
export const DEFAULT_NEWEST_CACHE_BYTES = 16 * 1024 * 1024;

export interface PutOptions {
  /** Absolute expiry, ms since the epoch; 0n or absent = never expires. */
  expireAt?: bigint;
}

export interface ReadAt {
  /** Read timestamp: the newest version with commit_ts <= ts is visible. */
  ts: bigint;
  /** Read time in ms, for TTL: a version with 0 < expireAt <= nowMs is absent. */
  nowMs: bigint;
  /** Pinned view to read from; defaults to the live engine. */
  view?: ReadView;
}

export interface ScanOptions extends ReadAt {
  /** User-key range [start, end). */
  start?: Uint8Array;
  end?: Uint8Array;
  /** Walk from the highest key down. */
  reverse?: boolean;
  /** Maximum number of user keys returned. */
  limit?: number;
}

export interface VisibleValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly commitTs: bigint;
  readonly expireAt: bigint;
}

export interface GcOptions {
  /** Versions older than the newest one visible at this timestamp are removed. */
  retentionTs: bigint;
  /** Read time used to decide expiry; later reads must pass a nowMs >= this. */
  nowMs: bigint;
  /** Optional user-key range [start, end) to collect. */
  start?: Uint8Array;
  end?: Uint8Array;
  /**
   * Stop after this many versions visited and report where to resume, so a large
   * store is collected in slices. A slice may end inside one key's versions.
   */
  maxRows?: number;
  /** Where the previous slice stopped (its `next`); takes the place of `start`. */
  resume?: GcCursor;
}

/** A position inside a GC pass: the next row to visit and what was decided for its key. */
export interface GcCursor {
  /** Engine key of the first version not yet visited. */
  readonly at: Uint8Array;
  /** The version that stays visible at the retention point was already passed for at's key. */
  readonly pastBoundary: boolean;
}

export interface GcSlice {
  removed: number;
  /** Versions the slice read (at most maxRows). */
  visited: number;
  /** Pass as `resume` of the next slice; undefined when the range is done. */
  next: GcCursor | undefined;
}

/**
 * Versions newer than the retention point that a GC pass walks, in one key, before
 * it seeks straight to the point instead: a key written 80,000 times a second holds
 * millions of retained versions, and stepping over them one by one stalled the node.
 */
const GC_SEEK_AFTER = 32;

/**
 * A set of MVCC and raw writes committed atomically. The FSM adds its
 * applied index as a raw `meta` put in the same batch.
 */
export class MvccBatch {
  readonly #batch = new WriteBatch();
  readonly #sealer: ValueSealer | undefined;

  constructor(sealer: ValueSealer | undefined) {
    this.#sealer = sealer;
  }

  /** Writes a live version of `key` at `commitTs` (sealed if the sealer says so). */
  put(key: Uint8Array, value: Uint8Array, commitTs: bigint, opts: PutOptions = {}): this {
    const ek = engineKey(key, commitTs);
    this.#batch.put('mvcc', ek, encodeLive(value, opts.expireAt ?? 0n, ek, this.#sealer));
    return this;
  }

  /** Writes a tombstone version of `key` at `commitTs` (always cleartext, empty body). */
  delete(key: Uint8Array, commitTs: bigint): this {
    this.#batch.put('mvcc', engineKey(key, commitTs), encodeTombstone());
    return this;
  }

  putRaw(ns: RawNamespace, key: Uint8Array, value: Uint8Array): this {
    this.#batch.put(checkRaw(ns), key, value);
    return this;
  }

  deleteRaw(ns: RawNamespace, key: Uint8Array): this {
    this.#batch.delete(checkRaw(ns), key);
    return this;
  }

  /** Removes one stored version by engine key (used by GC). */
  removeVersion(engineKey: Uint8Array): this {
    this.#batch.delete('mvcc', engineKey);
    return this;
  }

  get size(): number {
    return this.#batch.size;
  }

  /** The engine batch, for Mvcc.commit. */
  get engineBatch(): WriteBatch {
    return this.#batch;
  }
}

function checkRaw(ns: RawNamespace): RawNamespace {
  if ((ns as Namespace) === 'mvcc') {
    throw sealError(Err.InvalidArgument, 'raw reads and writes cannot target the MVCC namespace');
  }
  return ns;
}

/**
 * The MVCC store of one engine. Reads are synchronous and take the read
 * timestamp and read time explicitly; writes go through `batch()` and
 * `commit()`. Pass the node's ValueSealer to seal and open values.
 */
export class Mvcc {
  readonly #engine: Engine;
  readonly #sealer: ValueSealer | undefined;
  readonly #cache: NewestVersionCache | undefined;

  constructor(engine: Engine, opts: MvccOptions = {}) {
    this.#engine = engine;
    this.#sealer = opts.sealer;
    const budget = opts.newestCacheBytes ?? DEFAULT_NEWEST_CACHE_BYTES;
    if (budget > 0 && engine.observe !== undefined) {
      this.#cache = new NewestVersionCache(budget);
      engine.observe(this.#cache);
    }
  }

  /** The newest-version cache's counters (undefined when it is off), for the node's metrics. */
  cacheStats(): { hits: number; misses: number; entries: number; bytes: number } | undefined {
    const c = this.#cache;
    return c === undefined ? undefined : { hits: c.hits, misses: c.misses, entries: c.size, bytes: c.bytes };
  }

  batch(): MvccBatch {
    return new MvccBatch(this.#sealer);
  }

  /** Commits a batch atomically; `sync: true` resolves once it is durable. */
  commit(batch: MvccBatch, opts: WriteOptions): Promise<void> {
    return this.#engine.write(batch.engineBatch, opts);
  }

  /** Pins a consistent view to pass as `view` to several reads. */
  snapshot(): Snapshot {
    return this.#engine.snapshot();
  }

  /** The newest version of `key` with commit_ts <= ts, unless it is a tombstone or expired. */
  get(key: Uint8Array, at: ReadAt): VisibleValue | undefined {
    checkTimestamp(at.ts);
    if (at.view === undefined && this.#cache !== undefined) {
      const newest = this.#newest(key, this.#cache);
      // Only a read at or after the newest version may take it; older reads need the log of versions.
      if (at.ts >= newest.commitTs) {
        if (newest.absent || isExpired(newest.expireAt, at.nowMs)) return undefined;
        return { key, value: newest.value, commitTs: newest.commitTs, expireAt: newest.expireAt };
      }
    }
    const view = at.view ?? this.#engine;
    const { start, end } = versionRange(key, at.ts);
    const [first] = view.range('mvcc', { start, end, limit: 1 });
    if (first === undefined) return undefined;
    const commitTs = versionTs(first.key, end.length);
    return this.#visible(key, commitTs, first, at.nowMs);
  }

  /**
   * Commit timestamp of the newest version of `key`, tombstones included (they
   * are writes): what optimistic transactions validate their reads against.
   */
  newestCommitTs(key: Uint8Array, view?: ReadView): bigint | undefined {
    return newestCommitTs(view ?? this.#engine, key);
  }

  /** One entry per visible user key in [start, end), in key order (or reverse), up to `limit`. */
  scan(opts: ScanOptions): VisibleValue[] {
    checkTimestamp(opts.ts);
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    const out: VisibleValue[] = [];
    if (limit <= 0) return out;
    const view = opts.view ?? this.#engine;
    const reverse = opts.reverse === true;
    let { start, end } = engineBounds(opts.start, opts.end);
    // A key whose versions make up a long run is read with one lookup instead, and
    // the walk goes on past it: stepping over a hot key's history held the node.
    let skipPast: Uint8Array | undefined;
    const settle = (key: Uint8Array, chosen: { row: KeyValue; commitTs: bigint } | undefined): boolean => {
      if (chosen === undefined) return false;
      const v = this.#visible(key, chosen.commitTs, chosen.row, opts.nowMs);
      if (v !== undefined) out.push(v);
      return out.length >= limit;
    };
    for (;;) {
      let prefix: Uint8Array | undefined;
      let current: Uint8Array | undefined;
      let chosen: { row: KeyValue; commitTs: bigint } | undefined;
      let run = 0;
      skipPast = undefined;
      for (const row of view.range('mvcc', { ...(start && { start }), ...(end && { end }), reverse })) {
        const plen = versionPrefixLength(row.key);
        if (prefix === undefined || !hasPrefix(row.key, prefix, plen)) {
          if (current !== undefined && settle(current, chosen)) return out;
          prefix = row.key.slice(0, plen);
          current = decodeEngineKey(row.key).userKey;
          chosen = undefined;
          run = 0;
        }
        if (++run > SCAN_SEEK_AFTER && current !== undefined) {
          if (settle(current, versionAt(view, prefix, opts.ts))) return out;
          skipPast = prefix;
          break;
        }
        const commitTs = versionTs(row.key, plen);
        if (commitTs > opts.ts) continue;
        // Forward walks newest-first (keep the first match); reverse walks
        // oldest-first (keep overwriting until versions pass ts).
        if (chosen === undefined || reverse) chosen = { row, commitTs };
      }
      if (skipPast === undefined) {
        if (current !== undefined) settle(current, chosen);
        return out;
      }
      if (reverse) end = skipPast;
      else start = prefixEnd(skipPast);
    }
  }

  /**
   * Adds to `batch` the removal of every version that no read at or after
   * `retentionTs` can see: all versions older than the newest one visible at
   * retentionTs, and that one too when it is a tombstone or expired.
   * Returns the number of versions removed.
   */
  gc(batch: MvccBatch, opts: GcOptions): number {
    return this.gcSlice(batch, opts).removed;
  }

  /** One slice of gc(): visits at most `opts.maxRows` versions. */
  gcSlice(batch: MvccBatch, opts: GcOptions): GcSlice {
    checkTimestamp(opts.retentionTs);
    const maxRows = opts.maxRows ?? Number.POSITIVE_INFINITY;
    const bounds = engineBounds(opts.start, opts.end);
    let removed = 0;
    let rows = 0;
    // The version prefix (escaped user key and terminator) of the key being walked.
    let prefix: Uint8Array | undefined;
    let pastBoundary = false;
    let from = bounds.start;
    if (opts.resume !== undefined) {
      from = opts.resume.at;
      prefix = opts.resume.at.subarray(0, versionPrefixLength(opts.resume.at));
      pastBoundary = opts.resume.pastBoundary;
    }
    for (;;) {
      let seekTo: Uint8Array | undefined;
      let newer = 0;
      for (const row of this.#engine.range('mvcc', {
        ...bounds,
        ...(from === undefined ? {} : { start: from }),
      })) {
        const plen = versionPrefixLength(row.key);
        if (prefix === undefined || !hasPrefix(row.key, prefix, plen)) {
          prefix = row.key.slice(0, plen);
          pastBoundary = false;
          newer = 0;
        }
        if (rows >= maxRows) return { removed, visited: rows, next: { at: row.key.slice(), pastBoundary } };
        rows++;
        if (versionTs(row.key, plen) > opts.retentionTs) {
          if (++newer < GC_SEEK_AFTER) continue;
          seekTo = concatBytes(prefix, u64be(~opts.retentionTs & U64_MASK));
          break;
        }
        if (pastBoundary || this.#deadAt(row, opts.nowMs)) {
          batch.removeVersion(row.key);
          removed++;
        }
        pastBoundary = true;
      }
      if (seekTo === undefined) return { removed, visited: rows, next: undefined };
      from = seekTo;
    }
  }

  getRaw(ns: RawNamespace, key: Uint8Array, view?: ReadView): Uint8Array | undefined {
    return (view ?? this.#engine).get(checkRaw(ns), key);
  }

  scanRaw(ns: RawNamespace, opts: RangeOptions & { view?: ReadView } = {}): KeyValue[] {
    const { view, ...range } = opts;
    return [...(view ?? this.#engine).range(checkRaw(ns), range)];
  }

  /** Streams every namespace's raw bytes (sealed values stay sealed) from a snapshot pinned now. */
  snapshotStream(chunkSize?: number): AsyncIterable<Uint8Array> {
    return snapshotStream(this.#engine, chunkSize);
  }

  /** Atomically replaces the whole store with a snapshot stream; a failed stream changes nothing. */
  restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    return restoreSnapshot(this.#engine, chunks);
  }

  /** The key's newest version from the cache, or read from the live engine and cached. */
  #newest(key: Uint8Array, cache: NewestVersionCache): NewestVersion {
    const id = cacheKey(key);
    const hit = cache.get(id);
    if (hit !== undefined) return hit;
    const { start, end } = versionRange(key);
    let found: NewestVersion = NO_VERSION;
    for (const row of this.#engine.range('mvcc', { start, end, limit: 1 })) {
      const v = openVersion(row.value, row.key, this.#sealer);
      found = {
        commitTs: versionTs(row.key, end.length),
        absent: v.tombstone,
        value: v.value,
        expireAt: v.expireAt,
      };
    }
    cache.set(id, found);
    return found;
  }

  #visible(key: Uint8Array, commitTs: bigint, row: KeyValue, nowMs: bigint): VisibleValue | undefined {
    const v = openVersion(row.value, row.key, this.#sealer);
    if (v.tombstone || isExpired(v.expireAt, nowMs)) return undefined;
    return { key, value: v.value, commitTs, expireAt: v.expireAt };
  }

  /**
   * Whether a boundary version reads as absent. The header alone suggests
   * it, but a removal must not rest on unauthenticated bits: such versions
   * are opened (decrypted or re-badge checked) before the verdict.
   */
  #deadAt(row: KeyValue, nowMs: bigint): boolean {
    const h = decodeHeader(row.value);
    if (!h.tombstone && !isExpired(h.expireAt, nowMs)) return false;
    const v = openVersion(row.value, row.key, this.#sealer);
    return v.tombstone || isExpired(v.expireAt, nowMs);
  }
}

/** Newest committed version timestamp of `key` in `view`, tombstones included. */
export function newestCommitTs(view: ReadView, key: Uint8Array): bigint | undefined {
  const { start, end } = versionRange(key);
  for (const row of view.range('mvcc', { start, end, limit: 1 })) return versionTs(row.key, end.length);
  return undefined;
}
