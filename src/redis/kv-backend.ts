import type { Coordinator } from '../kv/coordinator.ts';
import { type KvTx, mergeKeyPage } from '../kv/overlay.ts';
import type { Backend, Watch } from './backend.ts';
import { checkArity, execute, lookup } from './commands/registry.ts';
import type { CommandTx, CursorStore, KeyRecord, Reply } from './commands/types.ts';
import { decodeValue, encodeValue } from './value.ts';

/** Bounded SCAN cursor table: cursor number → last key returned. */
export class CursorTable implements CursorStore {
  private readonly table = new Map<string, Buffer>();
  private next = 1;
  constructor(private readonly capacity = 10_000) {}

  save(lastKey: Buffer): string {
    const c = String(this.next++);
    this.table.set(c, lastKey);
    if (this.table.size > this.capacity) this.table.delete(this.table.keys().next().value!);
    return c;
  }

  load(cursor: string): Buffer | undefined {
    return this.table.get(cursor);
  }
}

/**
 * Read-only commands a follower answers itself: reads of named keys. Scans
 * (their cursors live on the node that made them), random picks, DBSIZE and
 * TTL-style commands (their answer depends on the clock) go to the leader.
 */
const FOLLOWER_READS = new Set(
  [
    'get mget exists strlen getrange substr type',
    'hget hmget hgetall hexists hlen hstrlen hkeys hvals',
    'lrange llen lindex lpos',
    'smembers sismember smismember scard sinter sunion sdiff',
    'zscore zcard zcount zrange zrangebyscore zrevrangebyscore zrevrange zrank zrevrank',
  ]
    .join(' ')
    .split(' '),
);

function servedByFollower(cmd: Buffer[]): boolean {
  const spec = lookup(cmd[0]!);
  return spec !== undefined && !spec.write && FOLLOWER_READS.has(spec.name);
}

export interface KvBackendOptions {
  coordinator: Coordinator;
  info: () => Record<string, string | number>;
  random?: () => number;
  cursors?: CursorStore;
}

/**
 * The Redis Backend of a node: every pipeline segment or MULTI block runs as
 * one coordinator transaction. Each command keeps its own writes only when it
 * succeeds (a failing command in a pipeline changes nothing, as in Redis); a
 * conflict re-runs the whole block on a fresh snapshot.
 */
export class KvBackend implements Backend {
  private readonly random: () => number;
  private readonly cursors: CursorStore;

  constructor(private readonly o: KvBackendOptions) {
    this.random = o.random ?? Math.random;
    this.cursors = o.cursors ?? new CursorTable();
  }

  async run(cmds: Buffer[][]): Promise<Reply[]> {
    // A lone DBSIZE walks the whole key space: count it in slices outside a
    // transaction body so a large store cannot hold the event loop.
    const only = cmds.length === 1 ? cmds[0]! : undefined;
    if (only !== undefined && only.length === 1 && lookup(only[0]!)?.name === 'dbsize') {
      return [{ t: 'int', n: await this.o.coordinator.countKeys() }];
    }
    const r = await this.o.coordinator.transact((tx) => cmds.map((c) => this.runOne(tx, c)));
    return r.ok ? r.value : [];
  }

  async runHere(cmds: Buffer[][]): Promise<Reply[] | undefined> {
    if (!cmds.every(servedByFollower)) return undefined;
    return this.o.coordinator.followerRead((tx) => cmds.map((c) => this.runOne(tx, c)));
  }

  async transaction(cmds: Buffer[][], watches: Watch[]): Promise<Reply[] | null> {
    const r = await this.o.coordinator.transact(
      (tx) => cmds.map((c) => this.runOne(tx, c)),
      watches.map((w) => ({ keys: w.keys, sinceTs: w.sinceTs })),
    );
    return r.ok ? r.value : null;
  }

  async watch(keys: Buffer[]): Promise<Watch> {
    return { keys, sinceTs: await this.o.coordinator.readTimestamp() };
  }

  info(): Record<string, string | number> {
    return this.o.info();
  }

  private runOne(tx: KvTx, args: Buffer[]): Reply {
    const spec = lookup(args[0]!);
    if (spec === undefined) return { t: 'error', s: `ERR unknown command '${args[0]!.toString()}'` };
    const bad = checkArity(spec, args);
    if (bad !== undefined) return bad;
    const ctx = new CommandView(tx, this.random, this.cursors);
    const { reply, ok } = execute(spec, ctx, args);
    if (ok) ctx.commit();
    return reply;
  }
}

/** One command's view: reads through the transaction, writes buffered until the command succeeds. */
class CommandView implements CommandTx {
  readonly nowMs: number;
  private readonly writes = new Map<string, KeyRecord | null>();
  /** The key bytes of each write, so commit() need not re-encode the map's string keys. */
  private readonly writeKeys = new Map<string, Buffer>();
  private flushed = false;

  constructor(
    private readonly tx: KvTx,
    readonly random: () => number,
    readonly cursors: CursorStore,
  ) {
    this.nowMs = tx.nowMs;
  }

  get(key: Buffer): KeyRecord | undefined {
    // Most commands read before they write: no key string needed then.
    const w = this.writes.size === 0 ? undefined : this.writes.get(key.toString('latin1'));
    if (w !== undefined) return w ?? undefined;
    if (this.flushed) return undefined;
    const v = this.tx.get(key);
    if (v === undefined) return undefined;
    return {
      value: decodeValue(Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength)),
      expireAtMs: Number(v.expireAtMs),
    };
  }

  put(key: Buffer, rec: KeyRecord): void {
    const k = key.toString('latin1');
    this.writes.set(k, rec);
    this.writeKeys.set(k, key);
  }

  del(key: Buffer): void {
    const k = key.toString('latin1');
    this.writes.set(k, null);
    this.writeKeys.set(k, key);
  }

  flushAll(): void {
    this.flushed = true;
    this.writes.clear();
    this.writeKeys.clear();
  }

  keysAfter(after: Buffer | undefined, limit: number): Buffer[] {
    const page = this.flushed
      ? []
      : this.tx.keysAfter(after, limit + this.writes.size).map((k) => Buffer.from(k).toString('latin1'));
    return mergeKeyPage(page, this.writes, after?.toString('latin1'), limit).map((k) =>
      Buffer.from(k, 'latin1'),
    );
  }

  commit(): void {
    if (this.flushed) this.tx.flush();
    for (const [k, w] of this.writes) {
      const key = this.writeKeys.get(k) ?? Buffer.from(k, 'latin1');
      if (w === null) this.tx.del(key);
      else this.tx.put(key, encodeValue(w.value), BigInt(w.expireAtMs));
    }
  }
}
