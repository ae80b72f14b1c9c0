import { connect, type Socket } from 'node:net';
import type { Backend, Watch } from '../redis/backend.ts';
import type { Reply } from '../redis/commands/types.ts';
import { encodeForwardedTxn, READTS_CMD } from '../redis/forwarding.ts';
import { encodeCommand, RespProtocolError, RespReplyParser } from '../redis/resp/index.ts';
import { Err } from '../util/codes.ts';
import { isSealError, sealError } from '../util/errors.ts';
import { Fifo } from '../util/fifo.ts';

interface PendingBatch {
  readonly expected: number;
  readonly replies: Reply[];
  resolve(replies: Reply[]): void;
  reject(e: unknown): void;
}

/**
 * A RESP connection from a follower to the leader's Redis listener. Commands
 * are pipelined; replies come back in order and are matched FIFO.
 */
export class Upstream {
  private socket: Socket | undefined;
  private parser = new RespReplyParser();
  /** Sent batches awaiting replies, oldest first; replies fill the front one in order. */
  private readonly waiting = new Fifo<PendingBatch>();
  /** The socket corked until the end of this turn, if any. */
  private corkedSocket: Socket | undefined;

  constructor(readonly addr: { host: string; port: number }) {}

  private open(): Socket {
    if (this.socket !== undefined && !this.socket.destroyed) return this.socket;
    const s = connect(this.addr.port, this.addr.host);
    // Bytes half-read from an earlier connection belong to no reply on this one.
    this.parser = new RespReplyParser();
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      if (this.socket !== s) return;
      this.parser.feed(chunk);
      for (let r = this.parser.next(); r !== undefined; r = this.parser.next()) {
        if (r instanceof RespProtocolError) {
          this.failAll(sealError(Err.ProposalFailed, `leader sent a malformed reply: ${r.reply}`));
          s.destroy();
          return;
        }
        this.deliver(r);
      }
    });
    // A socket given up on (error, then a new one opened for the next send) still
    // emits close later: it must not fail the batches waiting on its successor.
    const fail = (e: unknown) => {
      if (this.socket === s) this.failAll(e);
    };
    s.on('error', fail);
    s.on('close', () => fail(sealError(Err.NotLeader, 'connection to the leader closed')));
    this.socket = s;
    return s;
  }

  /** A reply the leader sent for the oldest unanswered command (replies come in order). */
  private deliver(r: Reply): void {
    const b = this.waiting.at(0);
    if (b === undefined) return;
    b.replies.push(r);
    if (b.replies.length < b.expected) return;
    this.waiting.take(1);
    b.resolve(b.replies);
  }

  private failAll(e: unknown): void {
    for (const w of this.waiting.clear()) w.reject(e);
    this.socket = undefined;
  }

  /** Sends commands pipelined; resolves with their replies in order once the last one arrived. */
  send(cmds: (Buffer | string)[][]): Promise<Reply[]> {
    if (cmds.length === 0) return Promise.resolve([]);
    const s = this.open();
    const done = new Promise<Reply[]>((resolve, reject) => {
      this.waiting.push({ expected: cmds.length, replies: [], resolve, reject });
    });
    if (this.corkedSocket !== s) {
      // Batches sent in the same turn (client pipelines read together) leave in
      // one write: one syscall here, and one batch at the leader, not several.
      this.corkedSocket = s;
      s.cork();
      process.nextTick(() => {
        this.corkedSocket = undefined;
        s.uncork();
      });
    }
    s.write(cmds.length === 1 ? encodeCommand(cmds[0]!) : Buffer.concat(cmds.map((c) => encodeCommand(c))));
    return done;
  }

  close(): void {
    this.socket?.destroy();
  }
}

/**
 * The Backend of a node: local while this node leads, otherwise forwarded to
 * the leader's Redis listener. With no known leader a command waits a little
 * for one, then fails with TRYAGAIN.
 */
export class RoutingBackend implements Backend {
  /**
   * Several connections to the leader: the leader runs one batch at a time per
   * connection, so one shared socket would serialise every client of this
   * follower. A client connection never has two batches in flight, so any
   * upstream keeps its commands in order.
   */
  private upstreams: Upstream[] = [];
  private next = 0;

  constructor(
    private readonly local: Backend,
    private readonly route: () => Promise<
      { local: true } | { local: false; addr: { host: string; port: number } }
    >,
    private readonly poolSize = 8,
  ) {}

  private async target(): Promise<Upstream | undefined> {
    const r = await this.route();
    if (r.local) return undefined;
    const first = this.upstreams[0];
    if (first === undefined || first.addr.host !== r.addr.host || first.addr.port !== r.addr.port) {
      for (const u of this.upstreams) u.close();
      this.upstreams = Array.from({ length: this.poolSize }, () => new Upstream(r.addr));
    }
    this.next = (this.next + 1) % this.upstreams.length;
    return this.upstreams[this.next];
  }

  async run(cmds: Buffer[][]): Promise<Reply[]> {
    const up = await this.target();
    if (up === undefined) return this.local.run(cmds);
    return (await this.readHere(cmds)) ?? up.send(cmds);
  }

  /**
   * A follower read of the batch, or undefined: the batch is not one, or this
   * node could not confirm the read (no leader known yet, the round timed out),
   * and the leader answers it instead.
   */
  private async readHere(cmds: Buffer[][]): Promise<Reply[] | undefined> {
    if (this.local.runHere === undefined) return undefined;
    try {
      return await this.local.runHere(cmds);
    } catch (e) {
      if (isSealError(e, Err.Internal)) throw e;
      return undefined;
    }
  }

  async transaction(cmds: Buffer[][], watches: Watch[]): Promise<Reply[] | null> {
    const up = await this.target();
    if (up === undefined) return this.local.transaction(cmds, watches);
    const [r] = await up.send([encodeForwardedTxn(cmds, watches)]);
    if (r === undefined || r.t === 'error')
      throw sealError(Err.ProposalFailed, r?.t === 'error' ? r.s : 'no reply from the leader');
    return r.t === 'array' ? r.items : null;
  }

  async watch(keys: Buffer[]): Promise<Watch> {
    const up = await this.target();
    if (up === undefined) return this.local.watch(keys);
    const [r] = await up.send([[READTS_CMD]]);
    if (r?.t !== 'bulk' || r.b === null)
      throw sealError(Err.ProposalFailed, 'the leader did not return a read timestamp');
    return { keys, sinceTs: BigInt(r.b.toString()) };
  }

  info(): Record<string, string | number> {
    return this.local.info();
  }

  close(): void {
    for (const u of this.upstreams) u.close();
  }
}
