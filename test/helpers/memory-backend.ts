import type { Backend, Watch } from '../../src/redis/backend.ts';
import type { Reply } from '../../src/redis/commands/types.ts';
import { key } from '../../src/redis/value.ts';
import { MemoryKeyspace } from './memory-keyspace.ts';

/**
 * A single-process Backend over MemoryKeyspace, with WATCH implemented by
 * per-key write versions. Lets the Redis server be tested with real clients
 * before and independently of the replicated node.
 */
export class MemoryBackend implements Backend {
  readonly keyspace = new MemoryKeyspace();
  private version = 0n;
  private readonly written = new Map<string, bigint>();

  async run(cmds: Buffer[][]): Promise<Reply[]> {
    return cmds.map((c) => this.runOne(c));
  }

  async transaction(cmds: Buffer[][], watches: Watch[]): Promise<Reply[] | null> {
    for (const w of watches) {
      for (const k of w.keys) if ((this.written.get(key(k)) ?? 0n) > w.sinceTs) return null;
    }
    return cmds.map((c) => this.runOne(c));
  }

  async watch(keys: Buffer[]): Promise<Watch> {
    return { keys, sinceTs: this.version };
  }

  info(): Record<string, string | number> {
    return { role: 'master', leader: 'local', raft_term: 0, raft_commit_index: 0, encryption: 'off' };
  }

  private runOne(cmd: Buffer[]): Reply {
    const before = new Map(this.keyspace.data);
    const r = this.keyspace.run(cmd);
    this.version++;
    const touched = new Set([...before.keys(), ...this.keyspace.data.keys()]);
    for (const k of touched)
      if (before.get(k) !== this.keyspace.data.get(k)) this.written.set(k, this.version);
    return r;
  }
}
