/**
 * The storage engine contract: an ordered byte-key store with atomic batches,
 * durable sync, pinned read snapshots and a fixed set of namespaces.
 *
 * Keys are compared unsigned-lexicographically. Reads are synchronous (lmdb
 * reads are), writes are asynchronous and atomic per batch.
 */
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

/**
 * Every namespace of the store. `mvcc` holds versioned user data; `meta`
 * (`_meta…` rows such as the applied index) and `encryption` (the writer
 * registry and its `!encryption|…` index markers) are raw namespaces that no
 * user key can reach because user keys only ever land in `mvcc`.
 */
export const NAMESPACES = ['mvcc', 'meta', 'encryption'] as const;
export type Namespace = (typeof NAMESPACES)[number];

/** lmdb's compiled-in key limit; both engines enforce it so they behave alike. */
export const MAX_KEY_SIZE = 1978;

export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface NamespacedRow extends KeyValue {
  readonly ns: Namespace;
}

/**
 * A range over one namespace: keys in [start, end) (either bound optional).
 * `reverse` walks from the highest key below `end` down to `start`.
 * `limit` caps the number of entries returned.
 */
export interface RangeOptions {
  start?: Uint8Array;
  end?: Uint8Array;
  reverse?: boolean;
  limit?: number;
}

/** Synchronous reads, shared by the live engine and pinned snapshots. */
export interface ReadView {
  get(ns: Namespace, key: Uint8Array): Uint8Array | undefined;
  /** Lazy: breaking out of the loop releases the cursor. */
  range(ns: Namespace, opts?: RangeOptions): Iterable<KeyValue>;
}

/** A consistent view pinned at creation; later writes never show through it. */
export interface Snapshot extends ReadView {
  /** Releases the pinned view. Idempotent; reads after close throw. */
  close(): void;
}

export interface WriteOptions {
  /** true: the promise resolves only once the batch (and all before it) is on stable storage. */
  sync: boolean;
}

/** Told of every change to an engine at the moment reads start to see it. */
export interface WriteObserver {
  written(batch: WriteBatch): void;
  /** The whole store is being replaced (`true`), then was (`false`): reads in between are unsettled. */
  replacing(active: boolean): void;
}

export interface Engine extends ReadView {
  /**
   * Registers an observer of every later write. Offered only by engines whose
   * writes are visible to reads when write() returns (an engine that commits
   * behind its reads could not say when a change becomes visible).
   */
  observe?(observer: WriteObserver): void;
  /** Commits every op of the batch atomically, in order (later ops on a key win). */
  write(batch: WriteBatch, opts: WriteOptions): Promise<void>;
  snapshot(): Snapshot;
  /**
   * Atomically replaces the contents of every namespace with `rows`. Rows are
   * staged first; if the source throws, the store keeps its old contents.
   * The swap is committed with a durable sync.
   */
  replaceAll(rows: AsyncIterable<NamespacedRow>): Promise<void>;
  /** Releases snapshots and files. Idempotent. */
  close(): Promise<void>;
}

export type BatchOp =
  | { readonly kind: 'put'; readonly ns: Namespace; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly kind: 'delete'; readonly ns: Namespace; readonly key: Uint8Array };

/**
 * An ordered list of puts and deletes across namespaces, validated when added
 * so a commit never fails half-way (lmdb's async transactions cannot abort).
 * Keys and values are copied: callers may reuse their buffers.
 */
export class WriteBatch {
  readonly #ops: BatchOp[] = [];

  put(ns: Namespace, key: Uint8Array, value: Uint8Array): this {
    checkKey(ns, key);
    if (!(value instanceof Uint8Array)) {
      throw sealError(Err.InvalidArgument, 'batch value must be a Uint8Array', { ns });
    }
    this.#ops.push({ kind: 'put', ns, key: copy(key), value: copy(value) });
    return this;
  }

  delete(ns: Namespace, key: Uint8Array): this {
    checkKey(ns, key);
    this.#ops.push({ kind: 'delete', ns, key: copy(key) });
    return this;
  }

  get ops(): readonly BatchOp[] {
    return this.#ops;
  }

  /** Every op of `batches`, in order, as one batch (ops are shared: they are already copies). */
  static concat(batches: readonly WriteBatch[]): WriteBatch {
    const out = new WriteBatch();
    for (const b of batches) out.append(b);
    return out;
  }

  /** Adds every op of `other` after this batch's own (shared, not copied again). */
  append(other: WriteBatch): this {
    for (const op of other.#ops) this.#ops.push(op);
    return this;
  }

  get size(): number {
    return this.#ops.length;
  }
}

/** A real copy even for a Buffer, whose own slice() is a view. */
function copy(b: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(b);
}

export function isNamespace(name: string): name is Namespace {
  return (NAMESPACES as readonly string[]).includes(name);
}

/** Rejects keys neither engine can store; raised before anything is written. */
export function checkKey(ns: string, key: Uint8Array): void {
  if (!isNamespace(ns)) throw sealError(Err.InvalidArgument, `unknown storage namespace "${ns}"`, { ns });
  if (!(key instanceof Uint8Array) || key.length === 0 || key.length > MAX_KEY_SIZE) {
    throw sealError(Err.InvalidArgument, `storage keys must be 1..${MAX_KEY_SIZE} bytes`, {
      ns,
      length: key instanceof Uint8Array ? key.length : undefined,
    });
  }
}

export function closedError(what: string): Error {
  return sealError(Err.StorageClosed, `${what} is closed; open a new one`);
}
