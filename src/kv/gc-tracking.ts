/**
 * What MVCC garbage collection needs to know besides the store: which keys gained
 * versions since GC last looked at them, and which read timestamps are still in use.
 */

/** A key written since GC last visited it, with the commit ts of that first write. */
export interface DirtyKey {
  readonly key: Uint8Array;
  readonly ts: bigint;
}

/**
 * Keys with versions GC has not looked at, oldest first write first. A key that
 * only gained versions can only have gained garbage, so GC visits these rather
 * than the whole store. Bounded: past `maxKeys` the tracker forgets everything
 * and reports an overflow, and a full pass stands in for it.
 */
export class DirtyKeys {
  readonly #keys = new Map<string, DirtyKey>();
  #overflowed = false;

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.#keys.size;
  }

  /** Called for every version the state machine writes; commit ts arrive in apply order. */
  note(key: Uint8Array, ts: bigint): void {
    if (this.#overflowed) return;
    const id = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
    if (this.#keys.has(id)) return;
    if (this.#keys.size >= this.maxKeys) {
      this.#overflowed = true;
      this.#keys.clear();
      return;
    }
    this.#keys.set(id, { key: key.slice(), ts });
  }

  /** Removes and returns up to `max` keys first written at or before `ts`, oldest first. */
  takeUpTo(ts: bigint, max: number): DirtyKey[] {
    const out: DirtyKey[] = [];
    for (const [id, d] of this.#keys) {
      if (d.ts > ts || out.length >= max) break;
      this.#keys.delete(id);
      out.push(d);
    }
    return out;
  }

  /** Whether keys were forgotten since the last call (a full pass must cover them); resets tracking. */
  takeOverflow(): boolean {
    const o = this.#overflowed;
    this.#overflowed = false;
    return o;
  }
}

/**
 * Read timestamps held by reads that span several turns of the event loop (a
 * DBSIZE walks a large store in slices). GC keeps every version such a read can
 * see, however short the retention window.
 */
export class ReadPins {
  readonly #pins = new Map<number, bigint>();
  #next = 0;

  /** Pins `ts` until the returned release runs (idempotent). */
  pin(ts: bigint): () => void {
    const id = this.#next++;
    this.#pins.set(id, ts);
    return () => {
      this.#pins.delete(id);
    };
  }

  oldest(): bigint | undefined {
    let min: bigint | undefined;
    for (const ts of this.#pins.values()) if (min === undefined || ts < min) min = ts;
    return min;
  }
}
