import type { Mvcc } from '../storage/index.ts';
import type { WriteOp } from './request.ts';

export interface StoredValue {
  value: Uint8Array;
  /** Absolute expiry in ms; 0n = none. */
  expireAtMs: bigint;
}

/**
 * What a transaction body sees: a snapshot of the store at one read timestamp
 * plus its own buffered writes. Reads of keys the body has not written itself
 * form the OCC read set, validated when the writes apply.
 */
export interface KvTx {
  readonly nowMs: number;
  get(key: Uint8Array): StoredValue | undefined;
  put(key: Uint8Array, value: Uint8Array, expireAtMs: bigint): void;
  del(key: Uint8Array): void;
  /** Deletes every key (FLUSHDB). */
  flush(): void;
  /** Live keys in byte order strictly after `after`, at most `limit`. */
  keysAfter(after: Uint8Array | undefined, limit: number): Uint8Array[];
}

type Pending = StoredValue | null;

const asKey = (k: Uint8Array): string => Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1');
const fromKey = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/** A KvTx over an Mvcc snapshot, collecting the read set and the write ops. */
export class Overlay implements KvTx {
  private readonly writes = new Map<string, Pending>();
  private readonly reads: Uint8Array[] = [];
  private flushed = false;

  constructor(
    private readonly mvcc: Mvcc,
    readonly readTs: bigint,
    readonly nowMs: number,
  ) {}

  get(key: Uint8Array): StoredValue | undefined {
    // Read-only bodies (most of them) never need the key as a string.
    if (this.writes.size > 0) {
      const w = this.writes.get(asKey(key));
      if (w !== undefined) return w ?? undefined;
    }
    if (this.flushed) return undefined;
    this.reads.push(key);
    const v = this.mvcc.get(key, { ts: this.readTs, nowMs: BigInt(this.nowMs) });
    return v === undefined ? undefined : { value: v.value, expireAtMs: v.expireAt };
  }

  put(key: Uint8Array, value: Uint8Array, expireAtMs: bigint): void {
    this.writes.set(asKey(key), { value, expireAtMs });
  }

  del(key: Uint8Array): void {
    this.writes.set(asKey(key), null);
  }

  flush(): void {
    this.flushed = true;
    this.writes.clear();
  }

  keysAfter(after: Uint8Array | undefined, limit: number): Uint8Array[] {
    const a = after === undefined ? undefined : asKey(after);
    const fromStore = this.flushed
      ? []
      : this.mvcc
          .scan({
            ...(after === undefined ? {} : { start: successor(after) }),
            ts: this.readTs,
            nowMs: BigInt(this.nowMs),
            limit: limit + this.writes.size,
          })
          .map((v) => asKey(v.key));
    return mergeKeyPage(fromStore, this.writes, a, limit).map(fromKey);
  }

  get hasWrites(): boolean {
    return this.flushed || this.writes.size > 0;
  }

  /** Keys read from the snapshot (not from the body's own writes): the OCC read set. */
  readSet(): Uint8Array[] {
    const unique = new Map<string, Uint8Array>();
    for (const k of this.reads) unique.set(asKey(k), k);
    return [...unique.values()];
  }

  /** The write set in apply order: a flush first, then puts and deletes. */
  ops(): WriteOp[] {
    const ops: WriteOp[] = this.flushed ? [{ kind: 'flush' }] : [];
    for (const [k, w] of this.writes) {
      ops.push(
        w === null
          ? { kind: 'delete', key: fromKey(k) }
          : { kind: 'put', key: fromKey(k), value: w.value, expireAtMs: w.expireAtMs },
      );
    }
    return ops;
  }
}

/**
 * One page of live keys after `after`: a page read from the snapshot merged
 * with a body's buffered writes (puts add keys, deletes remove them). Keys are
 * latin1 strings, whose order is byte order. The snapshot page must hold
 * `limit + writes.size` keys (or all there are), so deletions cannot open a gap
 * that keys not yet read from the snapshot should fill.
 */
export function mergeKeyPage(
  snapshotPage: readonly string[],
  writes: ReadonlyMap<string, unknown>,
  after: string | undefined,
  limit: number,
): string[] {
  const all = new Set(snapshotPage);
  for (const [k, w] of writes) {
    if (w === null) all.delete(k);
    else if (after === undefined || k > after) all.add(k);
  }
  return [...all].sort().slice(0, limit);
}

/** The smallest key strictly greater than `k` (k ‖ 0x00). */
export function successor(k: Uint8Array): Uint8Array {
  const out = new Uint8Array(k.length + 1);
  out.set(k);
  return out;
}

/**
 * A read-only view for a read whose clock may differ from the leader's by up
 * to a skew: it reads at the early end of the window (now − skew) and notes
 * whether the answer could change inside it. A key live at the early end
 * whose expiry falls before the late end could read either way, and a key
 * listing could gain or lose such keys, so both mark the read as uncertain.
 * Absent keys and keys expired at the early end read the same at any later
 * time.
 */
export class SkewGuardedView implements KvTx {
  /** The answer may depend on which clock in the window judged expiry. */
  uncertain = false;

  constructor(
    private readonly inner: Overlay,
    private readonly lateMs: bigint,
  ) {}

  get nowMs(): number {
    return this.inner.nowMs;
  }

  get hasWrites(): boolean {
    return this.inner.hasWrites;
  }

  get(key: Uint8Array): StoredValue | undefined {
    const v = this.inner.get(key);
    if (v !== undefined && v.expireAtMs !== 0n && v.expireAtMs <= this.lateMs) this.uncertain = true;
    return v;
  }

  put(key: Uint8Array, value: Uint8Array, expireAtMs: bigint): void {
    this.inner.put(key, value, expireAtMs);
  }

  del(key: Uint8Array): void {
    this.inner.del(key);
  }

  flush(): void {
    this.inner.flush();
  }

  keysAfter(after: Uint8Array | undefined, limit: number): Uint8Array[] {
    this.uncertain = true;
    return this.inner.keysAfter(after, limit);
  }
}
