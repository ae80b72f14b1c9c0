import type { Reply } from './commands/types.ts';

/**
 * What a Redis connection needs from the node. The server wiring implements it
 * over the coordinator (replicated) or, in tests, over an in-memory keyspace.
 */
export interface Backend {
  /**
   * Runs keyspace commands in order, each atomically; one reply per command.
   * A pipeline is passed whole so the node can batch it into one proposal.
   */
  run(cmds: Buffer[][]): Promise<Reply[]>;
  /**
   * While this node follows: answers read-only commands here (a follower
   * read), or undefined when the leader must answer them.
   */
  runHere?(cmds: Buffer[][]): Promise<Reply[] | undefined>;
  /**
   * MULTI/EXEC: runs all commands as one atomic transaction. Returns null (EXEC
   * answers a null array) when a watched key changed after its WATCH.
   */
  transaction(cmds: Buffer[][], watches: Watch[]): Promise<Reply[] | null>;
  /** Starts watching keys: returns the token EXEC later validates against. */
  watch(keys: Buffer[]): Promise<Watch>;
  /** Fields for INFO (role, leader, raft_term, raft_commit_index, encryption, …). */
  info(): Record<string, string | number>;
}

export interface Watch {
  keys: Buffer[];
  /** Read timestamp of the WATCH: any commit to these keys above it fails EXEC. */
  sinceTs: bigint;
}

export interface Subscriber {
  deliver(pattern: Buffer | undefined, channel: Buffer, message: Buffer): void;
}

/** Pub/sub fan-out. Messages are not persisted; the node forwards them to its peers. */
export interface PubSub {
  /** Delivers to subscribers on every node; resolves with how many received it. */
  publish(channel: Buffer, message: Buffer): Promise<number>;
  /** Delivers to this node's subscribers only (a message forwarded by a peer). */
  deliverLocal(channel: Buffer, message: Buffer): number;
  subscribe(sub: Subscriber, channel: Buffer, pattern: boolean): void;
  unsubscribe(sub: Subscriber, channel: Buffer, pattern: boolean): void;
}
