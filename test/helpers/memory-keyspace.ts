import { checkArity, execute, lookup } from '../../src/redis/commands/registry.ts';
import type { CommandTx, CursorStore, KeyRecord, Reply } from '../../src/redis/commands/types.ts';

/**
 * A single-node, in-memory keyspace that runs the real command bodies with
 * all-or-nothing writes: the reference the differential tests compare against
 * redis-server before the replicated node exists, and a fast unit-test target.
 */
export class MemoryKeyspace {
  readonly data = new Map<string, KeyRecord>();
  private readonly cursorTable = new Map<string, Buffer>();
  private nextCursor = 1;
  constructor(
    private readonly clock: () => number = () => Date.now(),
    private readonly rand: () => number = Math.random,
  ) {}

  run(args: Buffer[]): Reply {
    const spec = lookup(args[0]!);
    if (spec === undefined) return { t: 'error', s: `ERR unknown command '${args[0]!.toString()}'` };
    const bad = checkArity(spec, args);
    if (bad !== undefined) return bad;
    const tx = this.tx();
    const { reply, ok } = execute(spec, tx, args);
    if (ok) tx.commit();
    return reply;
  }

  private tx(): CommandTx & { commit(): void } {
    const nowMs = this.clock();
    const writes = new Map<string, KeyRecord | null>();
    let flushed = false;
    const live = (k: string): KeyRecord | undefined => {
      const w = writes.get(k);
      if (w !== undefined) return w ?? undefined;
      if (flushed) return undefined;
      const rec = this.data.get(k);
      return rec !== undefined && (rec.expireAtMs === 0 || rec.expireAtMs > nowMs) ? rec : undefined;
    };
    const cursors: CursorStore = {
      save: (last) => {
        const c = String(this.nextCursor++);
        this.cursorTable.set(c, last);
        return c;
      },
      load: (c) => this.cursorTable.get(c),
    };
    return {
      nowMs,
      get: (k) => live(k.toString('latin1')),
      put: (k, rec) => void writes.set(k.toString('latin1'), rec),
      del: (k) => void writes.set(k.toString('latin1'), null),
      flushAll: () => {
        flushed = true;
        writes.clear();
      },
      keysAfter: (after, limit) => {
        const all = new Set([...(flushed ? [] : this.data.keys()), ...writes.keys()]);
        const a = after?.toString('latin1');
        return [...all]
          .filter((k) => (a === undefined || k > a) && live(k) !== undefined)
          .sort()
          .slice(0, limit)
          .map((k) => Buffer.from(k, 'latin1'));
      },
      random: this.rand,
      cursors,
      commit: () => {
        if (flushed) this.data.clear();
        for (const [k, v] of writes) {
          if (v === null) this.data.delete(k);
          else this.data.set(k, v);
        }
      },
    };
  }
}
