import { array, error, integer, type RespReply, bulk as respBulk } from '../resp/reply.ts';
import type { RedisValue } from '../value.ts';

/** Command replies are RESP reply trees; the connection encodes them. */
export type Reply = RespReply;

export interface KeyRecord {
  value: RedisValue;
  /** Absolute expiry in ms since the epoch; 0 = no TTL. */
  expireAtMs: number;
}

/**
 * What a command sees while it runs: a consistent snapshot of the keyspace at
 * one read timestamp plus its own buffered writes (read-your-writes). The
 * coordinator turns the reads into the OCC read set and the writes into one
 * Raft proposal, so a command body is a pure function of (args, view).
 */
export interface CommandTx {
  /** Wall-clock ms of this execution (TTL decisions); fixed for the whole command. */
  readonly nowMs: number;
  /** The live (non-expired) record, or undefined. */
  get(key: Buffer): KeyRecord | undefined;
  put(key: Buffer, rec: KeyRecord): void;
  del(key: Buffer): void;
  /**
   * Live keys in byte order strictly after `after` (or from the start), at most
   * `limit`. Used by KEYS, SCAN, DBSIZE, RANDOMKEY, FLUSHDB.
   */
  keysAfter(after: Buffer | undefined, limit: number): Buffer[];
  /** Deletes every key (FLUSHDB/FLUSHALL) as one range operation, not one tombstone per key. */
  flushAll(): void;
  /** A random number in [0, 1) for SPOP, SRANDMEMBER, RANDOMKEY (injected). */
  random(): number;
  /**
   * SCAN cursors: keys are ordered, but clients (redis-cli) require numeric
   * cursors, so the node keeps a bounded table from cursor number to the last
   * key returned. An unknown cursor answers an error rather than restarting.
   */
  cursors: CursorStore;
}

export interface CursorStore {
  save(lastKey: Buffer): string;
  load(cursor: string): Buffer | undefined;
}

export interface CommandSpec {
  name: string;
  /** Redis arity: positive = exact argc (incl. the name), negative = at least |arity|. */
  arity: number;
  /** Whether the command may write (goes through Raft) or only reads. */
  write: boolean;
  run(tx: CommandTx, args: Buffer[]): Reply;
}

export const OK: Reply = { t: 'simple', s: 'OK' };
export const NIL: Reply = { t: 'bulk', b: null };
export const NIL_ARRAY: Reply = { t: 'array', items: null };

export const int = integer;
export const bulk = respBulk;
export const err = error;

export function arr(items: Reply[]): Reply {
  return array(items);
}

export function bulks(items: Buffer[]): Reply {
  return array(items.map((b) => respBulk(b)));
}
