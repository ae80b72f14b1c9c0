import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';

interface Waiter {
  resolve: (index: number) => void;
  reject: (e: unknown) => void;
  ticksLeft: number;
}

/**
 * ReadIndex requests in flight, keyed by the 8-byte context the node gave each one.
 * The core forgets pending reads when leadership changes and a forwarded request can be
 * lost, so every waiter also fails after a number of ticks.
 */
export class PendingReads {
  private next = 1;
  private readonly waiters = new Map<number, Waiter>();

  constructor(private readonly timeoutTicks: number) {}

  /** A fresh context and the promise that settles when its ReadState arrives. */
  add(): { context: Uint8Array; promise: Promise<number>; cancel: (e: unknown) => void } {
    const id = this.next++;
    const context = new Uint8Array(8);
    new DataView(context.buffer).setFloat64(0, id);
    let waiter!: Waiter;
    const promise = new Promise<number>((resolve, reject) => {
      waiter = { resolve, reject, ticksLeft: this.timeoutTicks };
    });
    this.waiters.set(id, waiter);
    const cancel = (e: unknown) => {
      this.waiters.delete(id);
      waiter.reject(e);
    };
    return { context, promise, cancel };
  }

  resolve(context: Uint8Array, index: number): void {
    if (context.length !== 8) return;
    const id = new DataView(context.buffer, context.byteOffset, 8).getFloat64(0);
    const w = this.waiters.get(id);
    if (w === undefined) return;
    this.waiters.delete(id);
    w.resolve(index);
  }

  tick(): void {
    for (const [id, w] of this.waiters) {
      if (--w.ticksLeft > 0) continue;
      this.waiters.delete(id);
      w.reject(sealError(Err.NotLeader, 'the read was not confirmed by a leader in time; retry', {}));
    }
  }

  rejectAll(e: unknown): void {
    const all = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of all) w.reject(e);
  }
}
