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
 *
 * A key GC visited that still holds versions newer than the retention point
 * (it is being written) is visited again at the next pass, not when a write
 * made after the visit ages out: a hot key's history is trimmed a pass's worth
 * at a time instead of a whole retention window's worth at once.
 */
export class DirtyKeys {
  readonly #keys = new Map<string, DirtyKey>();
  readonly #revisit = new Map<string, DirtyKey>();
  #due: DirtyKey[] = [];
  #overflowed = false;

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.#keys.size + this.#revisit.size + this.#due.length;
  }

  /** Called for every version the state machine writes; commit ts arrive in apply order. */
  note(key: Uint8Array, ts: bigint): void {
    if (this.#overflowed) return;
    const id = idOf(key);
    if (this.#keys.has(id) || this.#revisit.has(id)) return;
    if (this.#full()) return;
    this.#keys.set(id, { key: key.slice(), ts });
  }

  /** GC left `key` with versions newer than its retention point: the next pass visits it again. */
  revisit(key: Uint8Array, ts: bigint): void {
    if (this.#overflowed) return;
    const id = idOf(key);
    this.#keys.delete(id);
    if (this.#revisit.has(id) || this.#full()) return;
    this.#revisit.set(id, { key: key.slice(), ts });
  }

  /** A GC pass starts: the keys to visit again are due in it, ahead of the others. */
  beginPass(): void {
    for (const d of this.#revisit.values()) this.#due.push(d);
    this.#revisit.clear();
  }

  /**
   * Removes and returns up to `max` keys: the due ones first, then those first
   * written at or before `ts`, oldest first.
   */
  takeUpTo(ts: bigint, max: number): DirtyKey[] {
    const out: DirtyKey[] = [];
    while (out.length < max && this.#due.length > 0) out.push(this.#due.pop()!);
    for (const [id, d] of this.#keys) {
      if (d.ts > ts || out.length >= max) break;
      this.#keys.delete(id);
      out.push(d);
    }
    return out;
  }

  /** Keys were forgotten and tracking is off until takeOverflow (a full pass must cover them). */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** Whether keys were forgotten since the last call (a full pass must cover them); resets tracking. */
  takeOverflow(): boolean {
    const o = this.#overflowed;
    this.#overflowed = false;
    return o;
  }

  #full(): boolean {
    if (this.size < this.maxKeys) return false;
    this.#overflowed = true;
    this.#keys.clear();
    this.#revisit.clear();
    this.#due = [];
    return true;
  }
}

function idOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
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
