/**
 * The embedded default Engine on lmdb (lmdb-js). One environment with two
 * sets of sub-databases, one per namespace each: the active set holds the
 * store, the other one receives a restore while it streams in. A one-row
 * control database names the active set, so a restore becomes visible by
 * flipping that row in one small transaction: no copy of the whole store
 * inside one long synchronous transaction callback, which stalled the node's
 * event loop for seconds on large stores.
 *
 * Writes use only async `transaction()` callbacks. A `transactionSync()` (and
 * the `putSync`/`clearSync` shortcuts that open one outside a transaction)
 * in this thread was seen to break a pinned read transaction: the old
 * snapshot saw the new value. Nothing here calls them outside a transaction.
 */
import { type Database, open, type RootDatabase, type Transaction } from 'lmdb';
import {
  checkKey,
  closedError,
  type Engine,
  type KeyValue,
  NAMESPACES,
  type Namespace,
  type NamespacedRow,
  type RangeOptions,
  type Snapshot,
  type WriteBatch,
  type WriteOptions,
} from './engine.ts';

type Db = Database<Uint8Array, Uint8Array>;

const DB_OPTIONS = { keyEncoding: 'binary', encoding: 'binary', compression: false } as const;
const STAGE_ROWS_PER_TXN = 1024;
const ACTIVE_SET_KEY = Uint8Array.of(0x61); // 'a'
/** Sub-database names of set 0 (also the names of stores made before sets existed) and set 1. */
const SET_NAMES = [(ns: Namespace) => ns, (ns: Namespace) => `~staging~${ns}`] as const;

/** Where a test may inject a crash: after a commit is visible, before it is flushed. */
export type LmdbFaultPoint = 'before-flush';

export interface LmdbEngineOptions {
  /** Initial map size in bytes; lmdb-js grows it on demand. */
  mapSize?: number;
  /** Test hook called at each durability step; throwing there simulates a crash at that point. */
  faultHook?: (point: LmdbFaultPoint) => void;
}

/**
 * lmdb-js reads plain Uint8Array keys and values (subarrays included) as it
 * reads Buffers; its typings ask for Buffer. Wrapping each key in a Buffer
 * cost about 0.5 µs per read, so the bytes go through as they are.
 */
function asBuffer(b: Uint8Array): Buffer {
  return b as Buffer;
}

/** Callers compare with Uint8Array semantics; hide lmdb's Buffer subclass. */
function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Translates [start, end) (+ reverse) into lmdb's range options. */
function lmdbRange(opts: RangeOptions, transaction: Transaction | undefined) {
  const out: {
    start?: Buffer;
    end?: Buffer;
    reverse?: boolean;
    limit?: number;
    exclusiveStart?: boolean;
    inclusiveEnd?: boolean;
    transaction?: Transaction;
  } = {};
  if (transaction !== undefined) out.transaction = transaction;
  if (opts.limit !== undefined) out.limit = opts.limit;
  if (opts.reverse) {
    // lmdb walks from `start` down to `end`: start at our exclusive upper
    // bound, stop at our inclusive lower bound.
    out.reverse = true;
    if (opts.end !== undefined) {
      out.start = asBuffer(opts.end);
      out.exclusiveStart = true;
    }
    if (opts.start !== undefined) {
      out.end = asBuffer(opts.start);
      out.inclusiveEnd = true;
    }
  } else {
    if (opts.start !== undefined) out.start = asBuffer(opts.start);
    if (opts.end !== undefined) out.end = asBuffer(opts.end);
  }
  return out;
}

function* rangeOf(db: Db, opts: RangeOptions, txn: Transaction | undefined): Generator<KeyValue> {
  if (opts.limit !== undefined && opts.limit <= 0) return;
  for (const e of db.getRange(lmdbRange(opts, txn))) yield { key: plain(e.key), value: plain(e.value) };
}

function getFrom(db: Db, key: Uint8Array, txn: Transaction | undefined): Uint8Array | undefined {
  const v = txn === undefined ? db.get(asBuffer(key)) : db.get(asBuffer(key), { transaction: txn });
  return v === undefined ? undefined : plain(v);
}

export class LmdbEngine implements Engine {
  readonly #root: RootDatabase<Uint8Array, Uint8Array>;
  readonly #sets: readonly [ReadonlyMap<Namespace, Db>, ReadonlyMap<Namespace, Db>];
  readonly #control: Db;
  #active: 0 | 1;
  readonly #snapshots = new Set<LmdbSnapshot>();
  readonly #faultHook: ((point: LmdbFaultPoint) => void) | undefined;
  #closed = false;

  constructor(path: string, opts: LmdbEngineOptions = {}) {
    this.#faultHook = opts.faultHook;
    this.#root = open<Uint8Array, Uint8Array>({
      path,
      ...DB_OPTIONS,
      maxDbs: 2 * NAMESPACES.length + 2,
      ...(opts.mapSize === undefined ? {} : { mapSize: opts.mapSize }),
      // overlappingSync: the fsync of a commit runs outside the writer lock,
      // overlapping the next transaction (the group-commit throughput the
      // apply loop needs), while lmdb's meta-page protocol keeps the file
      // consistent at the last flushed commit after a crash. Durability is
      // still explicit: a `sync: true` write awaits `flushed` before it
      // resolves, so nothing a caller acknowledges depends on the overlap.
      overlappingSync: true,
    });
    const openSet = (name: (ns: Namespace) => string) =>
      new Map(NAMESPACES.map((ns) => [ns, this.#root.openDB<Uint8Array, Uint8Array>(name(ns), DB_OPTIONS)]));
    this.#sets = [openSet(SET_NAMES[0]), openSet(SET_NAMES[1])];
    this.#control = this.#root.openDB<Uint8Array, Uint8Array>('~control~', DB_OPTIONS);
    const flag = this.#control.get(asBuffer(ACTIVE_SET_KEY));
    this.#active = flag !== undefined && flag[0] === 1 ? 1 : 0;
  }

  get(ns: Namespace, key: Uint8Array): Uint8Array | undefined {
    this.#checkOpen();
    checkKey(ns, key);
    return getFrom(this.#db(ns), key, undefined);
  }

  range(ns: Namespace, opts: RangeOptions = {}): Iterable<KeyValue> {
    this.#checkOpen();
    return rangeOf(this.#db(ns), opts, undefined);
  }

  async write(batch: WriteBatch, opts: WriteOptions): Promise<void> {
    this.#checkOpen();
    const ops = batch.ops;
    if (ops.length > 0) {
      // Every op was validated when it entered the batch: nothing in this
      // callback can throw half-way (an async lmdb transaction cannot abort).
      await this.#root.transaction(() => {
        for (const op of ops) {
          const db = this.#db(op.ns);
          if (op.kind === 'put') db.putSync(asBuffer(op.key), asBuffer(op.value));
          else db.removeSync(asBuffer(op.key));
        }
      });
    }
    if (opts.sync) await this.#flush();
  }

  snapshot(): Snapshot {
    this.#checkOpen();
    const snap = new LmdbSnapshot(this.#sets[this.#active], this.#root.useReadTransaction(), (s) =>
      this.#snapshots.delete(s),
    );
    this.#snapshots.add(snap);
    return snap;
  }

  async replaceAll(rows: AsyncIterable<NamespacedRow>): Promise<void> {
    this.#checkOpen();
    await this.#clearStaging();
    try {
      await this.#stage(rows);
    } catch (e) {
      await this.#clearStaging();
      throw e;
    }
    this.#checkOpen();
    // The flip is one transaction: readers see either the old store or the
    // new one, and a crash before the flush reopens on one of the two intact
    // sets (the old one is cleared only after the flip is durable).
    const next = this.#active === 0 ? 1 : 0;
    await this.#root.transaction(() => {
      this.#control.putSync(asBuffer(ACTIVE_SET_KEY), asBuffer(Uint8Array.of(next)));
    });
    this.#active = next;
    await this.#flush();
    await this.#clearStaging();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#snapshots]) s.close();
    await this.#root.close();
  }

  async #stage(rows: AsyncIterable<NamespacedRow>): Promise<void> {
    const staging = this.#sets[this.#active === 0 ? 1 : 0];
    let pending: NamespacedRow[] = [];
    const commit = async (chunk: NamespacedRow[]) => {
      if (chunk.length === 0) return;
      await this.#root.transaction(() => {
        for (const r of chunk) staging.get(r.ns)!.putSync(asBuffer(r.key), asBuffer(r.value));
      });
    };
    for await (const row of rows) {
      checkKey(row.ns, row.key);
      pending.push({ ns: row.ns, key: row.key.slice(), value: row.value.slice() });
      if (pending.length >= STAGE_ROWS_PER_TXN) {
        await commit(pending);
        pending = [];
      }
    }
    await commit(pending);
  }

  async #clearStaging(): Promise<void> {
    for (const db of this.#sets[this.#active === 0 ? 1 : 0].values()) await db.clearAsync();
  }

  /** Durability step: resolves once every commit so far is on stable storage. */
  async #flush(): Promise<void> {
    this.#faultHook?.('before-flush');
    await this.#root.flushed;
  }

  #db(ns: Namespace): Db {
    return this.#sets[this.#active].get(ns)!;
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError('lmdb engine');
  }
}

class LmdbSnapshot implements Snapshot {
  readonly #dbs: ReadonlyMap<Namespace, Db>;
  #txn: Transaction | undefined;
  readonly #onClose: (s: LmdbSnapshot) => void;

  constructor(dbs: ReadonlyMap<Namespace, Db>, txn: Transaction, onClose: (s: LmdbSnapshot) => void) {
    this.#dbs = dbs;
    this.#txn = txn;
    this.#onClose = onClose;
  }

  get(ns: Namespace, key: Uint8Array): Uint8Array | undefined {
    checkKey(ns, key);
    return getFrom(this.#dbs.get(ns)!, key, this.#live());
  }

  range(ns: Namespace, opts: RangeOptions = {}): Iterable<KeyValue> {
    return rangeOf(this.#dbs.get(ns)!, opts, this.#live());
  }

  close(): void {
    if (this.#txn === undefined) return;
    this.#txn.done();
    this.#txn = undefined;
    this.#onClose(this);
  }

  #live(): Transaction {
    if (this.#txn === undefined) throw closedError('snapshot');
    return this.#txn;
  }
}

/** Opens (creating if needed) the lmdb store in directory `path`. */
export function openLmdbEngine(path: string, opts: LmdbEngineOptions = {}): LmdbEngine {
  return new LmdbEngine(path, opts);
}
