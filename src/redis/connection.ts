import type { Socket } from 'node:net';
import { SealError } from '../util/errors.ts';
import type { Backend, PubSub, Subscriber, Watch } from './backend.ts';
import { E } from './commands/errors.ts';
import { checkArity, lookup, sealErrorReply } from './commands/registry.ts';
import { arr, bulk, type CommandSpec, OK, type Reply } from './commands/types.ts';
import { ConnectionCommands } from './connection-commands.ts';
import { ReplyWriter, RespCommandParser, type RespLimits, RespProtocolError } from './resp/index.ts';

export interface ConnectionLimits {
  resp: Partial<RespLimits>;
  /** Replies queued in the socket beyond this pause reading until they drain. */
  outputHighWaterBytes: number;
  /** A client whose unread replies exceed this is disconnected (it never reads). */
  outputHardLimitBytes: number;
  /** Most commands handed to the backend in one call. */
  maxPipelineBatch: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  resp: {},
  outputHighWaterBytes: 4 * 1024 * 1024,
  outputHardLimitBytes: 256 * 1024 * 1024,
  maxPipelineBatch: 1024,
};

export interface ConnectionContext {
  backend: Backend;
  pubsub: PubSub;
  limits: ConnectionLimits;
  /** Server-wide INFO text builder (sections), shared by all connections. */
  infoText(section: string | undefined): string;
  onClose(conn: Connection): void;
  /**
   * Per-command metrics hook: name (a keyspace command's registered lower-case
   * name, otherwise as the client sent it), seconds, whether it answered an error.
   */
  observeCommand?: (name: string, seconds: number, error: boolean) => void;
  log?: (msg: string, fields: Record<string, unknown>) => void;
}

type Queued = { kind: 'keyspace'; args: Buffer[] } | { kind: 'local'; args: Buffer[] };

/**
 * What runs next: consecutive plain keyspace commands with their specs (looked
 * up once, when taken), or one command outside that path (`specs` undefined).
 */
interface Batch {
  cmds: Buffer[][];
  specs: CommandSpec[] | undefined;
}

/** Commands that keep working while a RESP2 connection is subscribed. */
const SUBSCRIBED_ALLOWED = new Set([
  'subscribe',
  'unsubscribe',
  'psubscribe',
  'punsubscribe',
  'ping',
  'quit',
  'reset',
]);

/**
 * One client connection: parses pipelined commands, keeps per-connection state
 * (MULTI queue, WATCH set, subscriptions, name) and writes replies strictly in
 * order. Reading pauses while a batch runs and while unread output is above
 * the high-water mark, so neither a huge pipeline nor a client that never
 * reads can grow the server's memory without bound.
 */
export class Connection implements Subscriber {
  readonly id: number;
  name: Buffer | undefined;
  private readonly parser: RespCommandParser;
  private readonly writer = new ReplyWriter();
  private readonly local: ConnectionCommands;
  private busy = false;
  private closed = false;
  private multi: Queued[] | undefined;
  private multiDirty = false;
  private watches: Watch[] = [];
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();

  constructor(
    readonly socket: Socket,
    id: number,
    private readonly ctx: ConnectionContext,
  ) {
    this.id = id;
    this.parser = new RespCommandParser(ctx.limits.resp);
    this.local = new ConnectionCommands(this, ctx);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.parser.feed(chunk);
      void this.pump();
    });
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    socket.on('drain', () => void this.pump());
  }

  get subscribed(): boolean {
    return this.channels.size + this.patterns.size > 0;
  }

  deliver(pattern: Buffer | undefined, channel: Buffer, message: Buffer): void {
    const r =
      pattern === undefined
        ? arr([bulk('message'), bulk(channel), bulk(message)])
        : arr([bulk('pmessage'), bulk(pattern), bulk(channel), bulk(message)]);
    this.writer.reply(r);
    this.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.local.unsubscribeAll();
    this.socket.destroy();
    this.ctx.onClose(this);
  }

  /** Replies, then closes once the bytes are handed to the socket (QUIT, protocol errors). */
  endAfter(r: Reply): void {
    this.writer.reply(r);
    this.flush();
    this.closed = true;
    this.local.unsubscribeAll();
    this.socket.end();
    this.ctx.onClose(this);
  }

  private async pump(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    this.socket.pause();
    try {
      while (!this.closed && this.socket.writableLength < this.ctx.limits.outputHighWaterBytes) {
        const batch = this.takeBatch();
        if (batch === undefined) break;
        await this.runBatch(batch);
        this.flush();
      }
    } catch (e) {
      this.ctx.log?.('redis connection failed', { id: this.id, error: String(e) });
      this.close();
    } finally {
      this.busy = false;
      if (!this.closed && this.socket.writableLength < this.ctx.limits.outputHighWaterBytes)
        this.socket.resume();
    }
  }

  /**
   * The next run of commands to execute: a protocol error, one connection-level
   * command, or consecutive plain keyspace commands (handed to the backend together).
   */
  private takeBatch(): Batch | RespProtocolError | undefined {
    const out: Buffer[][] = [];
    const specs: CommandSpec[] = [];
    while (out.length < this.ctx.limits.maxPipelineBatch) {
      const next = this.peekOrNext();
      if (next === undefined) break;
      if (next instanceof RespProtocolError) {
        if (out.length > 0) {
          this.pending = next;
          break;
        }
        return next;
      }
      const spec = this.multi === undefined && !this.subscribed ? lookup(next[0]!) : undefined;
      if (spec === undefined) {
        if (out.length > 0) {
          this.pending = next;
          break;
        }
        return { cmds: [next], specs: undefined };
      }
      out.push(next);
      specs.push(spec);
    }
    return out.length > 0 ? { cmds: out, specs } : undefined;
  }

  private pending: Buffer[] | RespProtocolError | undefined;

  private peekOrNext(): Buffer[] | RespProtocolError | undefined {
    if (this.pending !== undefined) {
      const p = this.pending;
      this.pending = undefined;
      return p;
    }
    return this.parser.next();
  }

  private async runBatch(batch: Batch | RespProtocolError): Promise<void> {
    if (batch instanceof RespProtocolError) {
      this.endAfter({ t: 'error', s: batch.reply });
      return;
    }
    const started = performance.now();
    const { cmds, specs } = batch;
    if (specs === undefined) {
      const cmd = cmds[0]!;
      const r = await this.dispatchOne(cmd);
      if (r !== undefined) this.writer.reply(r);
      this.ctx.observeCommand?.(cmd[0]!.toString('latin1'), secondsSince(started), r?.t === 'error');
      return;
    }
    // Arity errors are answered here and never reach the backend.
    let refused: (Reply | undefined)[] | undefined;
    for (let i = 0; i < cmds.length; i++) {
      const bad = checkArity(specs[i]!, cmds[i]!);
      if (bad === undefined) continue;
      refused ??= new Array<Reply | undefined>(cmds.length).fill(undefined);
      refused[i] = bad;
    }
    const ready = refused === undefined ? cmds : cmds.filter((_, i) => refused[i] === undefined);
    const results = ready.length > 0 ? await orErrors(this.ctx.backend.run(ready), ready.length) : [];
    const replies: Reply[] = new Array(cmds.length);
    for (let i = 0, k = 0; i < cmds.length; i++) {
      const r = refused?.[i] ?? results[k++]!;
      this.writer.reply(r);
      replies[i] = r;
    }
    this.observeBatch(specs, replies, started);
  }

  /** A pipelined command's latency is its batch's: they ran as one transaction. */
  private observeBatch(specs: CommandSpec[], replies: Reply[], started: number): void {
    const hook = this.ctx.observeCommand;
    if (hook === undefined) return;
    const seconds = secondsSince(started);
    for (let i = 0; i < specs.length; i++) hook(specs[i]!.name, seconds, replies[i]!.t === 'error');
  }

  /** A command outside the plain keyspace fast path. Returns undefined when it wrote its own replies. */
  private async dispatchOne(args: Buffer[]): Promise<Reply | undefined> {
    const name = args[0]!.toString('latin1').toLowerCase();
    if (this.subscribed && !SUBSCRIBED_ALLOWED.has(name)) {
      return {
        t: 'error',
        s: `ERR Can't execute '${name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
      };
    }
    switch (name) {
      case 'multi':
        if (this.multi !== undefined) return { t: 'error', s: 'ERR MULTI calls can not be nested' };
        this.multi = [];
        this.multiDirty = false;
        return OK;
      case 'exec':
        return this.exec();
      case 'discard':
        if (this.multi === undefined) return { t: 'error', s: 'ERR DISCARD without MULTI' };
        this.resetMulti();
        return OK;
      case 'watch':
        return this.watch(args);
      case 'unwatch':
        this.watches = [];
        return OK;
    }
    const spec = lookup(args[0]!);
    if (this.multi !== undefined) return this.queue(args, spec !== undefined);
    if (spec !== undefined) {
      const bad = checkArity(spec, args);
      if (bad !== undefined) return bad;
      return (await orErrors(this.ctx.backend.run([args]), 1))[0]!;
    }
    return this.local.run(name, args);
  }

  private queue(args: Buffer[], keyspace: boolean): Reply {
    const name = args[0]!.toString('latin1').toLowerCase();
    if (keyspace) {
      const bad = checkArity(lookup(args[0]!)!, args);
      if (bad !== undefined) {
        this.multiDirty = true;
        return bad;
      }
      this.multi!.push({ kind: 'keyspace', args });
    } else if (this.local.queueable(name)) {
      this.multi!.push({ kind: 'local', args });
    } else {
      this.multiDirty = true;
      return { t: 'error', s: E.unknown(args[0]!.toString(), args.slice(1)) };
    }
    return { t: 'simple', s: 'QUEUED' };
  }

  private async exec(): Promise<Reply> {
    if (this.multi === undefined) return { t: 'error', s: 'ERR EXEC without MULTI' };
    const queued = this.multi;
    const dirty = this.multiDirty;
    const watches = this.watches;
    this.resetMulti();
    if (dirty) return { t: 'error', s: 'EXECABORT Transaction discarded because of previous errors.' };
    const keyspace = queued.filter((q) => q.kind === 'keyspace').map((q) => q.args);
    const results =
      keyspace.length > 0 || watches.length > 0 ? await this.ctx.backend.transaction(keyspace, watches) : [];
    if (results === null) return { t: 'array', items: null };
    let k = 0;
    const replies: Reply[] = [];
    for (const q of queued) {
      replies.push(
        q.kind === 'keyspace'
          ? results[k++]!
          : ((await this.local.run(q.args[0]!.toString('latin1').toLowerCase(), q.args)) ?? OK),
      );
    }
    return arr(replies);
  }

  private async watch(args: Buffer[]): Promise<Reply> {
    if (this.multi !== undefined) return { t: 'error', s: 'ERR WATCH inside MULTI is not allowed' };
    if (args.length < 2) return { t: 'error', s: E.arity('watch') };
    try {
      this.watches.push(await this.ctx.backend.watch(args.slice(1)));
    } catch (e) {
      if (e instanceof SealError) return { t: 'error', s: sealErrorReply(e) };
      throw e;
    }
    return OK;
  }

  private resetMulti(): void {
    this.multi = undefined;
    this.multiDirty = false;
    this.watches = [];
  }

  /** Hands buffered replies to the socket; disconnects a client that lets them pile up. */
  flush(): void {
    if (this.writer.pendingBytes === 0 || this.socket.destroyed) return;
    const segments = this.writer.take();
    if (segments.length === 1) this.socket.write(segments[0]!);
    else {
      this.socket.cork();
      for (const s of segments) this.socket.write(s);
      this.socket.uncork();
    }
    if (this.socket.writableLength > this.ctx.limits.outputHardLimitBytes) {
      this.ctx.log?.('redis client output buffer limit reached; disconnecting', {
        id: this.id,
        bytes: this.socket.writableLength,
      });
      this.close();
    }
  }

  /** Used by connection commands that reply more than once (SUBSCRIBE). */
  write(r: Reply): void {
    this.writer.reply(r);
  }
}

/** A failed backend call (no leader, lost leadership, timeout) answers every command with the error. */
function orErrors(p: Promise<Reply[]>, n: number): Promise<Reply[]> {
  return p.catch((e: unknown) => {
    if (!(e instanceof SealError)) throw e;
    const r: Reply = { t: 'error', s: sealErrorReply(e) };
    return Array.from({ length: n }, () => r);
  });
}

function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
