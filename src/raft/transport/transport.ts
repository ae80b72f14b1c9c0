/**
 * Peer transport of the Raft layer: raw TCP with our own framing (architecture.md
 * §3). Payloads are opaque bytes; the Raft message codec sits above this module.
 *
 * Topology: every node dials one message connection to each peer and only
 * writes on it; what a node receives arrives on connections its peers dialed.
 * Snapshots use one extra connection per transfer. Delivery is best effort and
 * FIFO per connection only: drops and reconnects are normal, Raft retries.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { isSealError } from '../../util/errors.ts';
import { FrameDecoder, FrameKind, MAX_HELLO_FRAME_BYTES } from './frame.ts';
import {
  type PeerAddr,
  type PeerStats,
  type ResolvedOptions,
  resolveOptions,
  type TransportOptions,
} from './options.ts';
import { PeerLink } from './peer.ts';
import { type SnapshotHandler, SnapshotReceiver } from './snapshot-recv.ts';
import { sendSnapshotStream, snapshotError } from './snapshot-send.ts';
import { decodeHello, type Hello } from './wire.ts';

export type MessageHandler = (from: string, payload: Uint8Array) => void;
export type UnreachableHandler = (peer: string) => void;

export interface InboundStats {
  /** Connections closed because of a bad frame or a rejected hello. */
  rejected: number;
  /** Messages handed to the message handler. */
  delivered: number;
  /** Open accepted connections plus outgoing snapshot connections. */
  open: number;
}

export class Transport {
  private readonly o: ResolvedOptions;
  private readonly peers = new Map<string, { addr: PeerAddr; link: PeerLink }>();
  /** Every accepted or dialed socket not owned by a PeerLink, so close() can end them. */
  private readonly sockets = new Set<Socket>();
  /** The current inbound message connection per peer. */
  private readonly inbound = new Map<string, Socket>();
  private server: Server | null = null;
  private closed = false;
  private messageHandler: MessageHandler = () => {};
  private snapshotHandler: SnapshotHandler | null = null;
  private unreachableHandler: UnreachableHandler = () => {};
  private readonly counters = { rejected: 0, delivered: 0 };

  constructor(options: TransportOptions) {
    this.o = resolveOptions(options);
  }

  get id(): string {
    return this.o.id;
  }

  /** Starts accepting peer connections; resolves with the bound address (port 0 = ephemeral). */
  listen(host = '127.0.0.1', port = 0): Promise<PeerAddr> {
    if (this.closed) return Promise.reject(new Error('transport is closed'));
    if (this.server) return Promise.reject(new Error('transport is already listening'));
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.o.log('transport.listen.error', { error: err.message }));
        const a = server.address();
        if (a === null || typeof a === 'string') reject(new Error('listener has no TCP address'));
        else resolve({ host: a.address, port: a.port });
      });
    });
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onSnapshot(handler: SnapshotHandler): void {
    this.snapshotHandler = handler;
  }

  /** Called whenever a dial fails or an established connection to the peer is lost. */
  onUnreachable(handler: UnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  addPeer(id: string, addr: PeerAddr | string): void {
    if (this.closed) return;
    const a = typeof addr === 'string' ? parseAddr(addr) : addr;
    const existing = this.peers.get(id);
    if (existing) {
      existing.addr = a;
      existing.link.setAddr(a);
      return;
    }
    const link = new PeerLink(id, a, this.o, (peer) => this.reportUnreachable(peer));
    this.peers.set(id, { addr: a, link });
  }

  removePeer(id: string): void {
    this.peers.get(id)?.link.stop();
    this.peers.delete(id);
    this.inbound.get(id)?.destroy();
  }

  /** Queues a message; never blocks. false = dropped (unknown peer, queue full, too large). */
  send(to: string, payload: Uint8Array): boolean {
    const peer = this.peers.get(to);
    return peer ? peer.link.enqueue(payload) : false;
  }

  stats(peer: string): PeerStats | undefined {
    return this.peers.get(peer)?.link.stats();
  }

  inboundStats(): InboundStats {
    return { ...this.counters, open: this.sockets.size };
  }

  /** Streams a snapshot on its own connection; settles on the receiver's acknowledgement. */
  sendSnapshot(to: string, meta: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const peer = this.peers.get(to);
    if (this.closed) return Promise.reject(snapshotError(to, 'the transport is closed'));
    if (!peer) return Promise.reject(snapshotError(to, 'unknown peer'));
    return sendSnapshotStream(this.o, to, peer.addr, meta, chunks, (s) => this.track(s));
  }

  /** Ends every connection and timer; resolves once the listener is closed. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const { link } of this.peers.values()) link.stop();
    this.peers.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.inbound.clear();
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private reportUnreachable(peer: string): void {
    try {
      this.unreachableHandler(peer);
    } catch (e) {
      this.o.log('transport.handler.error', { handler: 'unreachable', error: String(e) });
    }
  }

  private track(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private accept(socket: Socket): void {
    this.track(socket);
    if (this.closed) return;
    socket.on('error', (err) => this.o.log('transport.inbound.error', { error: err.message }));
    const decoder = new FrameDecoder(Math.min(this.o.maxFrameBytes, MAX_HELLO_FRAME_BYTES));
    let route: ((kind: FrameKind, payload: Uint8Array, crc: number) => void) | null = null;
    // The listener stays attached after the hello (a snapshot receiver re-arms the socket timeout).
    socket.setTimeout(this.o.helloTimeoutMs, () => {
      if (!route) this.reject(socket, 'no hello in time');
    });
    let snapshot: SnapshotReceiver | null = null;
    const sink = (kind: FrameKind, payload: Uint8Array, crc: number): void => {
      if (socket.destroyed) return;
      if (route) {
        route(kind, payload, crc);
        return;
      }
      const next = this.handshake(socket, kind, payload);
      if (!next) return;
      decoder.maxFrameBytes = this.o.maxFrameBytes;
      if (next.kind === 'messages') {
        route = (k, p) => this.deliver(socket, next.from, k, p);
      } else {
        snapshot = next.receiver;
        route = (k, p, c) => next.receiver.onFrame(k, p, c);
      }
    };
    socket.on('data', (data: Buffer) => {
      if (socket.destroyed) return;
      try {
        decoder.push(data, sink);
      } catch (e) {
        // Whatever went wrong, it costs this connection only, never the node.
        const err = e instanceof Error ? e : new Error(String(e));
        if (!isSealError(e)) this.o.log('transport.inbound.bug', { error: err.stack ?? err.message });
        (snapshot as SnapshotReceiver | null)?.abort(err);
        this.reject(socket, err.message);
      }
    });
  }

  /** Validates the first frame of a connection and decides what the connection carries. */
  private handshake(
    socket: Socket,
    kind: FrameKind,
    payload: Uint8Array,
  ): { kind: 'messages'; from: string } | { kind: 'snapshot'; receiver: SnapshotReceiver } | null {
    if (kind !== FrameKind.Hello && kind !== FrameKind.SnapshotHello) {
      this.reject(socket, `first frame must be a hello, got kind ${kind}`);
      return null;
    }
    const { hello, rest } = decodeHello(payload);
    const problem = this.helloProblem(hello);
    if (problem) {
      this.reject(socket, problem);
      return null;
    }
    socket.setTimeout(0);
    if (kind === FrameKind.SnapshotHello) {
      const receiver = new SnapshotReceiver(this.o, hello.from, socket, rest.slice(), this.snapshotHandler);
      return { kind: 'snapshot', receiver };
    }
    // A peer redials only after losing its connection, so an older one from it is dead.
    this.inbound.get(hello.from)?.destroy();
    this.inbound.set(hello.from, socket);
    socket.once('close', () => {
      if (this.inbound.get(hello.from) === socket) this.inbound.delete(hello.from);
    });
    return { kind: 'messages', from: hello.from };
  }

  private helloProblem(h: Hello): string | null {
    if (h.clusterId !== this.o.clusterId) return `cluster id mismatch: peer ${h.from} is in ${h.clusterId}`;
    if (h.to !== this.o.id) return `peer ${h.from} dialed ${h.to}, but this node is ${this.o.id}`;
    if (h.from === this.o.id) return 'peer claims this node id';
    return null;
  }

  private deliver(socket: Socket, from: string, kind: FrameKind, payload: Uint8Array): void {
    if (kind !== FrameKind.Message) {
      this.reject(socket, `unexpected frame kind ${kind} on a message connection`);
      return;
    }
    this.counters.delivered += 1;
    try {
      this.messageHandler(from, payload);
    } catch (e) {
      // A throwing handler loses that one message, as the network could have.
      this.o.log('transport.handler.error', { handler: 'message', from, error: String(e) });
    }
  }

  private reject(socket: Socket, reason: string): void {
    if (socket.destroyed) return;
    this.counters.rejected += 1;
    this.o.log('transport.inbound.rejected', { reason, remote: socket.remotePort });
    socket.destroy();
  }
}

export function parseAddr(s: string): PeerAddr {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`bad peer address ${JSON.stringify(s)}: expected host:port`);
  }
  return { host: s.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port };
}
