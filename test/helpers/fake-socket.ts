import { EventEmitter } from 'node:events';

/**
 * Enough of net.Socket for a Redis Connection without a kernel socket: what
 * the connection writes is collected in `out`, and a flush (an uncorked write
 * or `uncork()`) wakes whoever waits for one.
 */
export class FakeSocket extends EventEmitter {
  destroyed = false;
  ended = false;
  writableLength = 0;
  out: Buffer[] = [];
  private corked = false;
  private waiter: (() => void) | undefined;

  setNoDelay(): this {
    return this;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  cork(): void {
    this.corked = true;
  }
  uncork(): void {
    this.corked = false;
    this.waiter?.();
  }
  write(b: Buffer): boolean {
    this.out.push(b);
    if (!this.corked) this.waiter?.();
    return true;
  }
  end(): this {
    this.ended = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }

  /** Feeds one chunk and resolves at the connection's next flush. */
  roundTrip(chunk: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = () => {
        this.waiter = undefined;
        resolve();
      };
      this.emit('data', chunk);
    });
  }

  /** Feeds bytes and returns everything written until the connection goes quiet. */
  async send(bytes: Buffer): Promise<string> {
    this.out = [];
    this.emit('data', bytes);
    // Every batch ends with a flush; wait until no further batch follows.
    for (;;) {
      const more = await new Promise<boolean>((resolve) => {
        this.waiter = () => resolve(true);
        setImmediate(() => resolve(false));
      });
      this.waiter = undefined;
      if (!more) break;
    }
    return Buffer.concat(this.out).toString('latin1');
  }
}
