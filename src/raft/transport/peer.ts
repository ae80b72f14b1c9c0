/**
 * The outbound half of a peer: one dialed connection carrying Raft messages to
 * that peer, a bounded queue in front of it, and reconnection with backoff.
 *
 * Never blocks and never buffers without bound: a full queue drops the new
 * message (Raft retransmits), and once `socket.write()` reports back-pressure we
 * stop writing until 'drain', so at most one batch sits in the socket's buffer.
 */
import { connect, type Socket } from 'node:net';
import { Fifo } from '../../util/fifo.ts';
import { encodeFrame, FRAME_HEADER_BYTES, FrameKind, writeFrame } from './frame.ts';
import { backoffDelay, type PeerAddr, type PeerStats, type ResolvedOptions } from './options.ts';
import { encodeHello } from './wire.ts';

export class PeerLink {
  private readonly queue = new Fifo<Uint8Array>();
  private queuedBytes = 0;
  private socket: Socket | null = null;
  private connected = false;
  private blocked = false;
  private flushScheduled = false;
  private stopped = false;
  private attempt = 0;
  private connectedAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private sent = 0;
  private dropped = 0;
  private failures = 0;

  constructor(
    readonly id: string,
    private addr: PeerAddr,
    private readonly o: ResolvedOptions,
    private readonly onUnreachable: (id: string) => void,
  ) {
    this.dial();
  }

  /** Queues one message; returns false (and counts a drop) when it cannot be queued. */
  enqueue(payload: Uint8Array): boolean {
    const count = this.queue.length;
    if (
      this.stopped ||
      payload.length > this.o.maxFrameBytes ||
      count >= this.o.maxQueueMessages ||
      this.queuedBytes + payload.length > this.o.maxQueueBytes
    ) {
      this.dropped += 1;
      return false;
    }
    this.queue.push(payload);
    this.queuedBytes += payload.length;
    this.scheduleFlush();
    return true;
  }

  /** Points the link at a new address; an open connection to the old one is dropped. */
  setAddr(addr: PeerAddr): void {
    if (addr.host === this.addr.host && addr.port === this.addr.port) return;
    this.addr = addr;
    this.socket?.destroy();
  }

  stats(): PeerStats {
    return {
      sent: this.sent,
      dropped: this.dropped,
      queuedMessages: this.queue.length,
      queuedBytes: this.queuedBytes,
      connected: this.connected,
      failures: this.failures,
    };
  }

  /** Ends the connection and every timer; queued messages count as dropped. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.dropped += this.queue.length;
    this.queue.clear();
    this.queuedBytes = 0;
    this.socket?.destroy();
    this.socket = null;
  }

  private dial(): void {
    this.retryTimer = null;
    if (this.stopped) return;
    const socket = connect({ host: this.addr.host, port: this.addr.port, noDelay: true });
    this.socket = socket;
    socket.setTimeout(this.o.connectTimeoutMs, () => socket.destroy(new Error('connect timeout')));
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, 1000);
      this.connected = true;
      this.blocked = false;
      this.connectedAt = performance.now();
      socket.write(
        encodeFrame(
          FrameKind.Hello,
          encodeHello({ from: this.o.id, to: this.id, clusterId: this.o.clusterId }),
        ),
      );
      this.flush();
    });
    socket.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
    // The listener never writes on a message connection; anything it sends is ignored.
    socket.on('data', () => {});
    socket.on('error', (err) => {
      this.o.log('transport.peer.error', { peer: this.id, error: err.message });
    });
    socket.once('close', () => this.onClose(socket));
  }

  private onClose(socket: Socket): void {
    if (this.socket !== socket) return;
    const lived = this.connected ? performance.now() - this.connectedAt : 0;
    this.socket = null;
    this.connected = false;
    this.blocked = false;
    if (this.stopped) return;
    this.failures += 1;
    if (lived >= this.o.backoffStableMs) this.attempt = 0;
    const delay = backoffDelay(this.o, this.attempt);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.dial(), delay);
    this.onUnreachable(this.id);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.connected || this.blocked) return;
    this.flushScheduled = true;
    // Every send of the current turn lands in one write.
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.connected && !this.blocked && this.queue.length > 0) {
      const batch = this.takeBatch();
      if (!this.socket!.write(batch)) this.blocked = true;
    }
  }

  /** Dequeues up to maxBatchBytes of messages (at least one) encoded as consecutive frames. */
  private takeBatch(): Uint8Array {
    let count = 0;
    let size = 0;
    for (let p = this.queue.at(0); p !== undefined; p = this.queue.at(count)) {
      const next = FRAME_HEADER_BYTES + p.length;
      if (count > 0 && size + next > this.o.maxBatchBytes) break;
      size += next;
      count += 1;
    }
    const out = Buffer.allocUnsafe(size);
    let off = 0;
    for (const p of this.queue.take(count)) {
      writeFrame(out, off, FrameKind.Message, p);
      off += FRAME_HEADER_BYTES + p.length;
      this.queuedBytes -= p.length;
    }
    this.sent += count;
    return out;
  }
}
