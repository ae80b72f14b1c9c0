// Binary-heap event queue ordered by (time, seq). seq is a global counter taken at enqueue,
// so events at the same virtual time run in the order they were scheduled.

export interface QueuedEvent<T> {
  readonly timeMs: number;
  readonly seq: number;
  readonly item: T;
}

function before<T>(a: QueuedEvent<T>, b: QueuedEvent<T>): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.seq < b.seq);
}

export class EventQueue<T> {
  private readonly heap: QueuedEvent<T>[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Enqueue an item at a virtual time; returns its seq. */
  push(timeMs: number, item: T): number {
    if (!Number.isFinite(timeMs)) throw new RangeError(`event time must be finite, got ${timeMs}`);
    const ev: QueuedEvent<T> = { timeMs, seq: this.nextSeq++, item };
    this.heap.push(ev);
    this.siftUp(this.heap.length - 1);
    return ev.seq;
  }

  peek(): QueuedEvent<T> | undefined {
    return this.heap[0];
  }

  pop(): QueuedEvent<T> | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const ev = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(ev, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = ev;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const ev = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, ev)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = ev;
  }
}

/** A handler run when its event fires; it may only enqueue more events. */
export interface SimEvent {
  readonly label: string;
  readonly run: () => void;
}

/**
 * Single-threaded scheduler: owns virtual time and the event counter. Handlers are
 * synchronous; time advances only by popping the next event.
 */
export class Scheduler {
  private readonly queue = new EventQueue<SimEvent>();
  private time = 0;
  private count = 0;

  get nowMs(): number {
    return this.time;
  }

  /** Number of events run so far (the `ev=` of the event now running). */
  get eventCount(): number {
    return this.count;
  }

  get pending(): number {
    return this.queue.size;
  }

  /** Time of the next event, or undefined when nothing is queued. */
  nextTimeMs(): number | undefined {
    return this.queue.peek()?.timeMs;
  }

  at(timeMs: number, label: string, run: () => void): void {
    if (timeMs < this.time)
      throw new RangeError(`cannot schedule ${label} in the past (${timeMs} < ${this.time})`);
    this.queue.push(timeMs, { label, run });
  }

  after(delayMs: number, label: string, run: () => void): void {
    this.at(this.time + delayMs, label, run);
  }

  /** Run one event; false when the queue is empty. */
  step(): boolean {
    const ev = this.queue.pop();
    if (ev === undefined) return false;
    this.time = ev.timeMs;
    this.count++;
    ev.item.run();
    return true;
  }

  /** Run events until the queue empties, time passes untilMs, or maxEvents have run. */
  run(untilMs: number, maxEvents = Number.POSITIVE_INFINITY): void {
    while (this.count < maxEvents) {
      const next = this.queue.peek();
      if (next === undefined || next.timeMs > untilMs) break;
      this.step();
    }
  }
}
