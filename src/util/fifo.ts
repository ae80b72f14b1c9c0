/**
 * A first-in first-out queue over one array and a moving head, for queues that
 * are drained from the front under load: `Array.prototype.shift` may copy the
 * whole array on every call, which a queue of thousands of entries feels. The
 * array is compacted once more than half of it lies behind the head.
 */
export class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The item `i` places behind the front (0 is the front), or undefined past the end. */
  at(i: number): T | undefined {
    return i < 0 ? undefined : this.#items[this.#head + i];
  }

  /** Removes and returns the first `n` items (fewer if the queue is shorter). */
  take(n: number): T[] {
    const end = Math.min(this.#items.length, this.#head + Math.max(0, n));
    const out = this.#items.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  /** Empties the queue and returns what it held, front first. */
  clear(): T[] {
    const out = this.#head === 0 ? this.#items : this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return out;
  }
}
