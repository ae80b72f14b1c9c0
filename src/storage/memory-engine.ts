/**
 * An in-memory Engine for tests. Each namespace is an immutable sorted array
 * replaced wholesale on every write (copy-on-write), so a snapshot is just the
 * arrays it captured. It also models durability: `simulateCrash()` returns the
 * state as of the last `sync: true` write, which is what a crashed lmdb store
 * would reopen with.
 */
import { compareBytes } from '../util/bytes.ts';
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
  WriteBatch,
  type WriteObserver,
  type WriteOptions,
} from './engine.ts';
import { lowerBoundByKey as lowerBound } from './sorted.ts';

type Table = readonly KeyValue[];
type State = ReadonlyMap<Namespace, Table>;

function emptyState(): State {
  return new Map(NAMESPACES.map((ns) => [ns, [] as Table]));
}

function* rangeOf(table: Table, opts: RangeOptions): Generator<KeyValue> {
  const lo = opts.start === undefined ? 0 : lowerBound(table, opts.start);
  const hi = opts.end === undefined ? table.length : lowerBound(table, opts.end);
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  let n = 0;
  if (opts.reverse) {
    for (let i = hi - 1; i >= lo && n < limit; i--, n++) yield copyEntry(table[i]!);
  } else {
    for (let i = lo; i < hi && n < limit; i++, n++) yield copyEntry(table[i]!);
  }
}

function copyEntry(e: KeyValue): KeyValue {
  return { key: e.key.slice(), value: e.value.slice() };
}

function getIn(state: State, ns: Namespace, key: Uint8Array): Uint8Array | undefined {
  checkKey(ns, key);
  const table = state.get(ns)!;
  const i = lowerBound(table, key);
  const e = table[i];
  return e !== undefined && compareBytes(e.key, key) === 0 ? e.value.slice() : undefined;
}

function applyOps(state: State, batch: WriteBatch): State {
  const next = new Map(state);
  const touched = new Map<Namespace, KeyValue[]>();
  for (const op of batch.ops) {
    let table = touched.get(op.ns);
    if (table === undefined) {
      table = [...state.get(op.ns)!];
      touched.set(op.ns, table);
    }
    const i = lowerBound(table, op.key);
    const exists = i < table.length && compareBytes(table[i]!.key, op.key) === 0;
    if (op.kind === 'put') table.splice(i, exists ? 1 : 0, { key: op.key, value: op.value });
    else if (exists) table.splice(i, 1);
  }
  for (const [ns, table] of touched) next.set(ns, table);
  return next;
}

export class MemoryEngine implements Engine {
  #state: State;
  readonly #observers: WriteObserver[] = [];
  #durable: State;
  #closed = false;

  constructor(state: State = emptyState()) {
    this.#state = state;
    this.#durable = state;
  }

  get(ns: Namespace, key: Uint8Array): Uint8Array | undefined {
    this.#checkOpen();
    return getIn(this.#state, ns, key);
  }

  range(ns: Namespace, opts: RangeOptions = {}): Iterable<KeyValue> {
    this.#checkOpen();
    return rangeOf(this.#state.get(ns)!, opts);
  }

  async write(batch: WriteBatch, opts: WriteOptions): Promise<void> {
    this.#checkOpen();
    this.#state = applyOps(this.#state, batch);
    for (const o of this.#observers) o.written(batch);
    // A sync commit flushes everything committed before it, as lmdb does.
    if (opts.sync) this.#durable = this.#state;
  }

  snapshot(): Snapshot {
    this.#checkOpen();
    return new MemorySnapshot(this.#state);
  }

  async replaceAll(rows: AsyncIterable<NamespacedRow>): Promise<void> {
    this.#checkOpen();
    for (const o of this.#observers) o.replacing(true);
    try {
      const batch = new WriteBatch();
      for await (const row of rows) batch.put(row.ns, row.key, row.value);
      this.#checkOpen();
      this.#state = applyOps(emptyState(), batch);
      this.#durable = this.#state;
    } finally {
      for (const o of this.#observers) o.replacing(false);
    }
  }

  observe(observer: WriteObserver): void {
    this.#observers.push(observer);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** A new engine holding only what the last durable write covered. */
  simulateCrash(): MemoryEngine {
    this.#closed = true;
    return new MemoryEngine(this.#durable);
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError('memory engine');
  }
}

class MemorySnapshot implements Snapshot {
  #state: State | undefined;

  constructor(state: State) {
    this.#state = state;
  }

  get(ns: Namespace, key: Uint8Array): Uint8Array | undefined {
    return getIn(this.#live(), ns, key);
  }

  range(ns: Namespace, opts: RangeOptions = {}): Iterable<KeyValue> {
    return rangeOf(this.#live().get(ns)!, opts);
  }

  close(): void {
    this.#state = undefined;
  }

  #live(): State {
    if (this.#state === undefined) throw closedError('snapshot');
    return this.#state;
  }
}

/** A fresh, empty in-memory engine. */
export function createMemoryEngine(): MemoryEngine {
  return new MemoryEngine();
}
