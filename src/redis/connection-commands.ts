import { SealError } from '../util/errors.ts';
import { parseInt64, upper } from './commands/args.ts';
import { E, ReplyError } from './commands/errors.ts';
import { COMMANDS, sealErrorReply } from './commands/registry.ts';
import { arr, bulk, int, NIL, OK, type Reply } from './commands/types.ts';
import type { Connection, ConnectionContext } from './connection.ts';
import { decodeForwardedTxn, PUBLISH_LOCAL_CMD, READTS_CMD, TXN_CMD } from './forwarding.ts';

export const SEALKV_VERSION = '0.1.0';
/** The Redis version whose command semantics sealkv follows; clients gate features on it. */
export const REDIS_COMPAT_VERSION = '7.0.0';

const LOCAL = new Set([
  'ping',
  'echo',
  'quit',
  'select',
  'hello',
  'client',
  'command',
  'info',
  'subscribe',
  'unsubscribe',
  'psubscribe',
  'punsubscribe',
  'publish',
  'reset',
  READTS_CMD.toLowerCase(),
  TXN_CMD.toLowerCase(),
  PUBLISH_LOCAL_CMD.toLowerCase(),
]);

/** Connection-level commands: everything that is not a keyspace command. */
export class ConnectionCommands {
  constructor(
    private readonly conn: Connection,
    private readonly ctx: ConnectionContext,
  ) {}

  /** Whether MULTI may queue it (evaluated at EXEC). */
  queueable(name: string): boolean {
    return ['ping', 'echo', 'publish', 'info'].includes(name);
  }

  async run(name: string, args: Buffer[]): Promise<Reply | undefined> {
    if (!LOCAL.has(name)) return { t: 'error', s: E.unknown(args[0]!.toString(), args.slice(1)) };
    try {
      return await this.dispatch(name, args);
    } catch (e) {
      if (e instanceof ReplyError) return { t: 'error', s: e.reply };
      if (e instanceof SealError) return { t: 'error', s: sealErrorReply(e) };
      throw e;
    }
  }

  private async dispatch(name: string, a: Buffer[]): Promise<Reply | undefined> {
    switch (name) {
      case 'ping':
        if (a.length > 2) return arity(name);
        if (this.conn.subscribed) return arr([bulk('pong'), bulk(a[1] ?? Buffer.alloc(0))]);
        return a.length === 2 ? bulk(a[1]!) : { t: 'simple', s: 'PONG' };
      case 'echo':
        return a.length === 2 ? bulk(a[1]!) : arity(name);
      case 'quit':
        this.conn.endAfter(OK);
        return undefined;
      case 'reset':
        this.unsubscribeAll();
        this.conn.name = undefined;
        return { t: 'simple', s: 'RESET' };
      case 'select':
        if (a.length !== 2) return arity(name);
        return parseInt64(a[1]!) === 0n ? OK : { t: 'error', s: 'ERR DB index is out of range' };
      case 'hello':
        return this.hello(a);
      case 'client':
        return this.client(a);
      case 'command':
        return this.command(a);
      case 'info':
        return bulk(this.ctx.infoText(a[1]?.toString('latin1').toLowerCase()));
      case 'publish':
        if (a.length !== 3) return arity(name);
        return int(await this.ctx.pubsub.publish(a[1]!, a[2]!));
      case 'subscribe':
      case 'psubscribe':
        if (a.length < 2) return arity(name);
        for (const ch of a.slice(1)) this.subscribe(ch, name === 'psubscribe');
        this.conn.flush();
        return undefined;
      case PUBLISH_LOCAL_CMD.toLowerCase():
        if (a.length !== 3) return arity(name);
        return int(this.ctx.pubsub.deliverLocal(a[1]!, a[2]!));
      case READTS_CMD.toLowerCase():
        return bulk((await this.ctx.backend.watch([])).sinceTs.toString());
      case TXN_CMD.toLowerCase(): {
        const { cmds, watches } = decodeForwardedTxn(a);
        const replies = await this.ctx.backend.transaction(cmds, watches);
        return replies === null ? { t: 'array', items: null } : arr(replies);
      }
      case 'unsubscribe':
      case 'punsubscribe':
        this.unsubscribe(a.slice(1), name === 'punsubscribe');
        this.conn.flush();
        return undefined;
    }
    return undefined;
  }

  private hello(a: Buffer[]): Reply {
    if (a.length >= 2) {
      let v: bigint;
      try {
        v = parseInt64(a[1]!);
      } catch {
        return { t: 'error', s: 'ERR Protocol version is not an integer or out of range' };
      }
      if (v !== 2n) return { t: 'error', s: 'NOPROTO sorry, this protocol version is not supported.' };
      for (let i = 2; i < a.length; i++) {
        const opt = upper(a[i]!);
        if (opt === 'SETNAME' && i + 1 < a.length) this.conn.name = a[++i];
        else if (opt === 'AUTH' && i + 2 < a.length) i += 2;
        else return { t: 'error', s: `ERR Syntax error in HELLO option '${a[i]!.toString()}'` };
      }
    }
    const role = String(this.ctx.backend.info().role ?? 'master');
    return arr([
      bulk('server'),
      bulk('redis'),
      bulk('version'),
      bulk(REDIS_COMPAT_VERSION),
      bulk('proto'),
      int(2),
      bulk('id'),
      int(this.conn.id),
      bulk('mode'),
      bulk('standalone'),
      bulk('role'),
      bulk(role),
      bulk('modules'),
      arr([]),
    ]);
  }

  private client(a: Buffer[]): Reply {
    const sub = a[1] === undefined ? '' : upper(a[1]);
    switch (sub) {
      case 'SETNAME': {
        if (a.length !== 3) return arity('client|setname');
        // Redis accepts only printable ASCII without spaces ('!'..'~').
        if (a[2]!.some((b) => b < 0x21 || b > 0x7e)) {
          return { t: 'error', s: 'ERR Client names cannot contain spaces, newlines or special characters.' };
        }
        this.conn.name = a[2]!.length === 0 ? undefined : a[2];
        return OK;
      }
      case 'GETNAME':
        return this.conn.name === undefined ? NIL : bulk(this.conn.name);
      case 'ID':
        return int(this.conn.id);
      case 'SETINFO':
        if (a.length !== 4) return arity('client|setinfo');
        return OK;
      default:
        return {
          t: 'error',
          s: `ERR unknown subcommand '${a[1]?.toString() ?? ''}'. Try CLIENT HELP.`,
        };
    }
  }

  private command(a: Buffer[]): Reply {
    const sub = a[1] === undefined ? '' : upper(a[1]);
    const all = [...COMMANDS.values()];
    switch (sub) {
      case '':
        return arr(
          all.map((c) => arr([bulk(c.name), int(c.arity), arr([bulk(c.write ? 'write' : 'readonly')])])),
        );
      case 'COUNT':
        return int(all.length + LOCAL.size);
      case 'DOCS':
        return arr([]);
      default:
        return { t: 'error', s: `ERR unknown subcommand '${a[1]!.toString()}'. Try COMMAND HELP.` };
    }
  }

  private subscribe(ch: Buffer, pattern: boolean): void {
    const set = pattern ? this.conn.patterns : this.conn.channels;
    const k = ch.toString('latin1');
    if (!set.has(k)) {
      set.add(k);
      this.ctx.pubsub.subscribe(this.conn, ch, pattern);
    }
    const total = this.conn.channels.size + this.conn.patterns.size;
    this.conn.write(arr([bulk(pattern ? 'psubscribe' : 'subscribe'), bulk(ch), int(total)]));
  }

  private unsubscribe(names: Buffer[], pattern: boolean): void {
    const set = pattern ? this.conn.patterns : this.conn.channels;
    const kind = pattern ? 'punsubscribe' : 'unsubscribe';
    const targets = names.length > 0 ? names : [...set].map((k) => Buffer.from(k, 'latin1'));
    if (targets.length === 0) {
      this.conn.write(arr([bulk(kind), NIL, int(this.conn.channels.size + this.conn.patterns.size)]));
      return;
    }
    for (const ch of targets) {
      if (set.delete(ch.toString('latin1'))) this.ctx.pubsub.unsubscribe(this.conn, ch, pattern);
      this.conn.write(arr([bulk(kind), bulk(ch), int(this.conn.channels.size + this.conn.patterns.size)]));
    }
  }

  unsubscribeAll(): void {
    for (const k of this.conn.channels)
      this.ctx.pubsub.unsubscribe(this.conn, Buffer.from(k, 'latin1'), false);
    for (const k of this.conn.patterns)
      this.ctx.pubsub.unsubscribe(this.conn, Buffer.from(k, 'latin1'), true);
    this.conn.channels.clear();
    this.conn.patterns.clear();
  }
}

function arity(name: string): Reply {
  return { t: 'error', s: E.arity(name) };
}
