/**
 * An Engine wrapper whose writes are visible to reads as soon as `write()` is
 * called, while the commit to the wrapped engine runs behind.
 *
 * Why: the node applies committed Raft entries in its Ready loop, and waiting
 * there for lmdb's asynchronous commit (milliseconds under load) stalled every
 * following append, acknowledgement and apply. The entries themselves are
 * already durable in the Raft WAL, so a batch that the wrapped engine has not
 * committed yet is replayed after a crash; until it commits, readers find it
 * in an in-memory layer.
 *
 * Each written batch becomes one immutable, key-sorted layer. Reads consult
 * the layers newest first, then the wrapped engine; ranges merge them. Layers
 * leave once the wrapped engine has committed them, oldest first. A snapshot
 * pins the wrapped engine's snapshot together with the layers of that moment,
 * so later writes never show through it.
 *
 * A commit that fails in the background poisons the wrapper: every later
 * write throws the failure and `onFailure` tells the owner, who must stop
 * (the data it acknowledged is in the WAL; a restart replays it).
 */
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import {
  checkKey,
  closedError,
  type Engine,
  type KeyValue,
  type Namespace,
  type NamespacedRow,
  type RangeOptions,
  type ReadView,
  type Snapshot,
  WriteBatch,
  type WriteObserver,
  type WriteOptions,
} from './engine.ts';
import { lowerBoundByKey as lowerBound } from './sorted.ts';

/** A layer row; `value === undefined` is a tombstone that hides older data. */
interface Row {
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
}

interface Layer {
  readonly rows: ReadonlyMap<Namespace, readonly Row[]>;
  readonly bytes: number;
  readonly batch: WriteBatch;
  readonly sync: boolean;
  committed: boolean;
  /** Settles when the wrapped engine has committed the batch or a commit failed (never rejects). */
  readonly done: Promise<void>;
  readonly settle: () => void;
}

export interface StagedEngineOptions {
  /** Uncommitted layers allowed before write() waits for the oldest (default 1024). */
  maxLayers?: number;
  /** Uncommitted bytes allowed before write() waits for the oldest (default 64 MiB). */
  maxBytes?: number;
  /** Called once when a background commit fails; the owner must stop the node. */
  onFailure?: (err: unknown) => void;
  /**
   * Writes gathered for up to this long go to the wrapped engine as one commit
   * (0, the default: each commit takes whatever queued while the last one ran).
   * Every lmdb commit ends in an fsync that competes with the Raft WAL's fsync
   * on the same disk, so fewer, larger commits shorten every Raft round.
   */
  commitIntervalMs?: number;
}

const compare = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b);

/**
 * Sorts rows by key, ties by `rank` (lower first), and keeps the last row of
 * each key: "later op wins" within a batch, "newer layer wins" across layers.
 */
function newestPerKey(tagged: { row: Row; rank: number }[]): Row[] {
  tagged.sort((a, b) => compare(a.row.key, b.row.key) || a.rank - b.rank);
  const out: Row[] = [];
  for (const { row } of tagged) {
    const last = out[out.length - 1];
    if (last !== undefined && compare(last.key, row.key) === 0) out[out.length - 1] = row;
    else out.push(row);
  }
  return out;
}

/** Sorts a batch's ops per namespace; for a key written twice the later op wins. */
function layerRows(batch: WriteBatch): { rows: Map<Namespace, Row[]>; bytes: number } {
  const byNs = new Map<Namespace, { row: Row; rank: number }[]>();
  let bytes = 0;
  batch.ops.forEach((op, order) => {
    const value = op.kind === 'put' ? op.value : undefined;
    bytes += op.key.length + (value?.length ?? 0) + 48;
    let list = byNs.get(op.ns);
    if (list === undefined) {
      list = [];
      byNs.set(op.ns, list);
    }
    list.push({ row: { key: op.key, value }, rank: order });
  });
  const rows = new Map<Namespace, Row[]>();
  for (const [ns, list] of byNs) rows.set(ns, newestPerKey(list));
  return { rows, bytes };
}

/** The rows of `layers` (oldest first) inside [start, end), newest winning, sorted. */
function overlayIn(layers: readonly Layer[], ns: Namespace, opts: RangeOptions): Row[] {
  const slices: Row[][] = [];
  for (const layer of layers) {
    const rows = layer.rows.get(ns);
    if (rows === undefined) continue;
    const lo = opts.start === undefined ? 0 : lowerBound(rows, opts.start);
    const hi = opts.end === undefined ? rows.length : lowerBound(rows, opts.end);
    if (lo < hi) slices.push(rows.slice(lo, hi));
  }
  if (slices.length <= 1) return slices[0] ?? [];
  const tagged: { row: Row; rank: number }[] = [];
  slices.forEach((s, age) => {
    for (const row of s) tagged.push({ row, rank: age });
  });
  return newestPerKey(tagged);
}

function getIn(
  layers: readonly Layer[],
  base: ReadView,
  ns: Namespace,
  key: Uint8Array,
): Uint8Array | undefined {
  checkKey(ns, key);
  for (let i = layers.length - 1; i >= 0; i--) {
    const rows = layers[i]!.rows.get(ns);
    if (rows === undefined) continue;
    const j = lowerBound(rows, key);
    const row = rows[j];
    if (row !== undefined && compare(row.key, key) === 0) return row.value?.slice();
  }
  return base.get(ns, key);
}

/** Merges the overlay into the base range; the overlay wins on equal keys and its tombstones hide. */
function* rangeIn(
  layers: readonly Layer[],
  base: ReadView,
  ns: Namespace,
  opts: RangeOptions,
): Generator<KeyValue> {
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  if (limit <= 0) return;
  const overlay = overlayIn(layers, ns, opts);
  if (overlay.length === 0) {
    yield* base.range(ns, opts);
    return;
  }
  // Every overlay row can hide at most one base row.
  const baseOpts: RangeOptions = { ...opts };
  if (opts.limit !== undefined) baseOpts.limit = opts.limit + overlay.length;
  const dir = opts.reverse ? -1 : 1;
  let oi = opts.reverse ? overlay.length - 1 : 0;
  const overlayLeft = () => oi >= 0 && oi < overlay.length;
  let n = 0;
  for (const kv of base.range(ns, baseOpts)) {
    // Overlay rows that sort before this base row come first.
    while (overlayLeft() && dir * compare(overlay[oi]!.key, kv.key) < 0) {
      const row = overlay[oi]!;
      oi += dir;
      if (row.value === undefined) continue;
      yield { key: row.key.slice(), value: row.value.slice() };
      if (++n >= limit) return;
    }
    let out: KeyValue | undefined = kv;
    if (overlayLeft() && compare(overlay[oi]!.key, kv.key) === 0) {
      const row = overlay[oi]!;
      oi += dir;
      out = row.value === undefined ? undefined : { key: row.key.slice(), value: row.value.slice() };
    }
    if (out === undefined) continue;
    yield out;
    if (++n >= limit) return;
  }
  for (; overlayLeft() && n < limit; oi += dir) {
    const row = overlay[oi]!;
    if (row.value === undefined) continue;
    n++;
    yield { key: row.key.slice(), value: row.value.slice() };
  }
}

export class StagedEngine implements Engine {
  readonly #inner: Engine;
  readonly #maxLayers: number;
  readonly #maxBytes: number;
  readonly #onFailure: ((err: unknown) => void) | undefined;
  readonly #intervalMs: number;
  #layers: Layer[] = [];
  /** Layers not yet handed to the wrapped engine, oldest first. */
  #queue: Layer[] = [];
  #inFlight = false;
  #urgent = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastCommitAtMs = Number.NEGATIVE_INFINITY;
  readonly #observers: WriteObserver[] = [];
  #bytes = 0;
  #failure: unknown;
  #failed = false;
  #closed = false;

  constructor(inner: Engine, opts: StagedEngineOptions = {}) {
    this.#inner = inner;
    this.#maxLayers = opts.maxLayers ?? 1024;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.#onFailure = opts.onFailure;
    this.#intervalMs = opts.commitIntervalMs ?? 0;
    if (!(this.#maxLayers >= 1 && this.#maxBytes >= 1 && this.#intervalMs >= 0)) {
      throw sealError(Err.InvalidArgument, 'StagedEngine limits must be positive');
    }
  }

  /** Batches written but not yet committed by the wrapped engine. */
  get pendingLayers(): number {
    return this.#layers.length;
  }

  get(ns: Namespace, key: Uint8Array): Uint8Array | undefined {
    this.#checkOpen();
    return getIn(this.#layers, this.#inner, ns, key);
  }

  range(ns: Namespace, opts: RangeOptions = {}): Iterable<KeyValue> {
    this.#checkOpen();
    return rangeIn(this.#layers, this.#inner, ns, opts);
  }

  /**
   * The batch is visible to reads when this returns. The promise resolves at
   * once (after the wrapped commit when the uncommitted backlog is over its
   * limits), or, with `sync: true`, once the batch and all before it are on
   * stable storage.
   */
  async write(batch: WriteBatch, opts: WriteOptions): Promise<void> {
    this.#checkOpen();
    this.#checkHealthy();
    if (batch.size === 0) {
      if (!opts.sync) return;
      // "This and everything before it is durable": queued layers go first.
      await this.drain();
      await this.#inner.write(batch, opts);
      return;
    }
    const { rows, bytes } = layerRows(batch);
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const layer: Layer = { rows, bytes, batch, sync: opts.sync, committed: false, done, settle };
    this.#layers.push(layer);
    this.#bytes += bytes;
    for (const o of this.#observers) o.written(batch);
    this.#queue.push(layer);
    if (opts.sync) this.#urgent = true;
    this.#pump();
    if (opts.sync) {
      await layer.done;
      this.#checkHealthy();
      return;
    }
    while (this.#overLimits()) {
      this.#urgent = true;
      this.#pump();
      await this.#layers[0]!.done;
      this.#checkHealthy();
    }
  }

  /**
   * Hands every queued layer to the wrapped engine as one commit, one commit at
   * a time, once the interval since the last commit has passed (at once when a
   * caller waits for it).
   */
  #pump(): void {
    if (this.#inFlight || this.#queue.length === 0 || this.#failed) return;
    const waitMs = this.#intervalMs - (performance.now() - this.#lastCommitAtMs);
    if (!this.#urgent && waitMs > 0) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#urgent = true;
        this.#pump();
      }, waitMs);
      // Pending layers are in the Raft log; they must not keep a stopping process alive.
      this.#timer.unref?.();
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#urgent = false;
    const group = this.#queue;
    this.#queue = [];
    this.#inFlight = true;
    this.#lastCommitAtMs = performance.now();
    const batch = group.length === 1 ? group[0]!.batch : WriteBatch.concat(group.map((l) => l.batch));
    let commit: Promise<void>;
    try {
      commit = this.#inner.write(batch, { sync: group.some((l) => l.sync) });
    } catch (err) {
      commit = Promise.reject(err);
    }
    commit
      .then(
        () => {
          for (const l of group) this.#committed(l);
        },
        (err: unknown) => this.#fail(err),
      )
      .finally(() => {
        for (const l of group) l.settle();
        this.#inFlight = false;
        this.#pump();
      });
  }

  snapshot(): Snapshot {
    this.#checkOpen();
    const base = this.#inner.snapshot();
    const layers = this.#layers.slice();
    let closed = false;
    const open = () => {
      if (closed) throw closedError('snapshot');
    };
    return {
      get: (ns, key) => {
        open();
        return getIn(layers, base, ns, key);
      },
      range: (ns, opts = {}) => {
        open();
        return rangeIn(layers, base, ns, opts);
      },
      close: () => {
        closed = true;
        base.close();
      },
    };
  }

  /** Resolves once every batch written so far is committed by the wrapped engine. */
  async drain(): Promise<void> {
    // A failed layer never leaves the list: stop at the failure instead of spinning.
    while (this.#layers.length > 0 && !this.#failed) {
      this.#urgent = true;
      this.#pump();
      await this.#layers[this.#layers.length - 1]!.done;
    }
    this.#checkHealthy();
  }

  async replaceAll(rows: AsyncIterable<NamespacedRow>): Promise<void> {
    this.#checkOpen();
    for (const o of this.#observers) o.replacing(true);
    try {
      await this.drain();
      await this.#inner.replaceAll(rows);
    } finally {
      for (const o of this.#observers) o.replacing(false);
    }
  }

  observe(observer: WriteObserver): void {
    this.#observers.push(observer);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let committed-or-failing batches settle so the wrapped engine closes quietly.
    this.#urgent = true;
    this.#pump();
    await Promise.all(this.#layers.map((l) => l.done));
    this.#closed = true;
    await this.#inner.close();
  }

  #committed(layer: Layer): void {
    layer.committed = true;
    while (this.#layers.length > 0 && this.#layers[0]!.committed) {
      this.#bytes -= this.#layers.shift()!.bytes;
    }
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#failure = err;
    // Layers still queued will never be committed: settle them so close() and
    // waiting writers return (the writers then see the failure).
    for (const l of this.#queue) l.settle();
    this.#queue = [];
    this.#onFailure?.(err);
  }

  #overLimits(): boolean {
    return this.#layers.length > this.#maxLayers || this.#bytes > this.#maxBytes;
  }

  #checkHealthy(): void {
    if (!this.#failed) return;
    throw sealError(
      Err.StorageWriteFailed,
      'an earlier storage commit failed; the node must restart to replay it from the Raft log',
      { cause: String(this.#failure) },
    );
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError('engine');
  }
}
