/**
 * Receiver side of a snapshot transfer: hands the chunks to the handler as an
 * async iterable and reads the socket only as fast as the handler consumes
 * (past `snapshotBufferBytes` of read-ahead the socket is paused, so TCP flow
 * control pushes back on the sender). The iterable ends only after the
 * end-of-stream summary matched, so a handler that saw `done` holds every byte.
 */
import type { Socket } from 'node:net';
import { encodeFrame, FrameKind } from './frame.ts';
import type { ResolvedOptions } from './options.ts';
import { decodeSummary, StreamDigest, summariesEqual } from './wire.ts';

export type SnapshotHandler = (
  from: string,
  meta: Uint8Array,
  chunks: AsyncIterable<Uint8Array>,
) => Promise<void>;

type Waiter = { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: Error) => void };

/** A single-consumer queue of chunks with a read-ahead bound. */
export class ChunkStream implements AsyncIterable<Uint8Array> {
  private buf: Uint8Array[] = [];
  private head = 0;
  private bufBytes = 0;
  private ended = false;
  private error: Error | null = null;
  private waiter: Waiter | null = null;
  /** True while the socket is paused because the handler is behind. */
  paused = false;
  private iterated = false;
  /** The consumer saw the end of the stream: only then was every byte handed over. */
  drained = false;

  constructor(
    private readonly highWater: number,
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {}

  push(chunk: Uint8Array): void {
    if (this.ended || this.error) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: chunk, done: false });
      return;
    }
    this.buf.push(chunk);
    this.bufBytes += chunk.length;
    if (!this.paused && this.bufBytes >= this.highWater) {
      this.paused = true;
      this.pause();
    }
  }

  end(): void {
    this.ended = true;
    this.settleWaiter();
  }

  fail(e: Error): void {
    if (this.ended || this.error) return;
    this.error = e;
    // What is still buffered belongs to a transfer that cannot complete: report the failure first.
    this.buf = [];
    this.head = 0;
    this.bufBytes = 0;
    this.settleWaiter();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new Error('a snapshot chunk stream can be iterated only once');
    this.iterated = true;
    return {
      next: () => this.next(),
      return: async () => {
        this.fail(new Error('the handler stopped reading the snapshot stream'));
        return { value: undefined, done: true };
      },
    };
  }

  private next(): Promise<IteratorResult<Uint8Array>> {
    if (this.head < this.buf.length) {
      const value = this.buf[this.head]!;
      this.buf[this.head] = new Uint8Array(0);
      this.head += 1;
      this.bufBytes -= value.length;
      if (this.head === this.buf.length) {
        this.buf = [];
        this.head = 0;
      }
      if (this.paused && this.bufBytes <= this.highWater / 2) {
        this.paused = false;
        this.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.error) return Promise.reject(this.error);
    if (this.ended) {
      this.drained = true;
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private settleWaiter(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    if (this.error) w.reject(this.error);
    else {
      this.drained = true;
      w.resolve({ value: undefined, done: true });
    }
  }
}

/** Drives one inbound snapshot connection after its hello was accepted. */
export class SnapshotReceiver {
  private readonly stream: ChunkStream;
  private readonly digest = new StreamDigest();
  private complete = false;
  private finished = false;

  constructor(
    o: ResolvedOptions,
    from: string,
    private readonly socket: Socket,
    meta: Uint8Array,
    handler: SnapshotHandler | null,
  ) {
    this.stream = new ChunkStream(
      o.snapshotBufferBytes,
      () => socket.pause(),
      () => socket.resume(),
    );
    socket.once('close', () =>
      this.stream.fail(new Error(`snapshot connection from ${from} closed mid-stream`)),
    );
    // A silent sender must not hold the handler forever. Quiet time while the socket is paused
    // for a slow handler, or after the last frame while the handler finishes, is not the sender's.
    socket.setTimeout(o.snapshotIdleTimeoutMs, () => {
      if (!this.stream.paused && !this.complete) {
        this.abort(new Error(`no data from ${from} for ${o.snapshotIdleTimeoutMs} ms`));
        // A hung sender may never close its side: close ours once the error frame is out.
        if (socket.writableFinished) socket.destroy();
        else socket.once('finish', () => socket.destroy());
      }
    });
    if (!handler) {
      this.finish(new Error('this node accepts no snapshots (no handler registered)'));
      return;
    }
    let running: Promise<void>;
    try {
      running = handler(from, meta, this.stream);
    } catch (e) {
      running = Promise.reject(e);
    }
    running.then(
      () =>
        this.finish(
          this.stream.drained ? null : new Error('the handler returned before reading the whole stream'),
        ),
      (e: unknown) => this.finish(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** Called for every frame after the snapshot hello. */
  onFrame(kind: FrameKind, payload: Uint8Array, crc: number): void {
    if (this.finished || this.complete) {
      this.abort(new Error(`frame kind ${kind} after the end of the snapshot stream`));
      return;
    }
    if (kind === FrameKind.SnapshotChunk) {
      this.digest.add(payload.length, crc);
      this.stream.push(payload);
    } else if (kind === FrameKind.SnapshotEnd) {
      if (!summariesEqual(decodeSummary(payload), this.digest.summary())) {
        this.abort(
          new Error('snapshot stream checksum mismatch (a chunk was lost, duplicated or reordered)'),
        );
        return;
      }
      this.complete = true;
      this.stream.end();
    } else {
      this.abort(new Error(`unexpected frame kind ${kind} on a snapshot connection`));
    }
  }

  /** The connection is unusable (bad frame): fail the handler's stream and close. */
  abort(e: Error): void {
    this.stream.fail(e);
    this.finish(e);
  }

  private finish(e: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    // Later chunks are discarded rather than buffered for a handler that is gone.
    if (e) this.stream.fail(e);
    if (this.socket.destroyed) return;
    this.socket.resume();
    const frame = e
      ? encodeFrame(FrameKind.SnapshotError, new TextEncoder().encode(e.message.slice(0, 4096)))
      : encodeFrame(FrameKind.SnapshotAck, new Uint8Array(0));
    this.socket.end(frame);
  }
}
