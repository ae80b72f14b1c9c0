/** In-process Raft clusters over real loopback transports and real WAL directories. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Entry, SnapshotMeta } from '../../../src/raft/core/types.ts';
import { EntryType } from '../../../src/raft/core/types.ts';
import type { Disk } from '../../../src/raft/disk/disk.ts';
import { NodeDisk } from '../../../src/raft/disk/node-disk.ts';
import {
  type ApplyResult,
  type HaltInfo,
  type NodeTransport,
  RaftNode,
  type RaftNodeOptions,
} from '../../../src/raft/node.ts';
import type { PeerAddr } from '../../../src/raft/transport/options.ts';
import { Transport } from '../../../src/raft/transport/transport.ts';
import { isSealError } from '../../../src/util/errors.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A trivial replicated state machine: the ordered list of applied non-empty normal
 * entries. Kept across a node's restarts, it plays a durable FSM (its applied index
 * survives); a fresh instance plays an empty store.
 */
export class ListFsm {
  applied = 0;
  items: string[] = [];
  restores = 0;
  /** Returns a halt for an entry to refuse it (nothing of it is applied). */
  haltOn: ((e: Entry) => HaltInfo | undefined) | undefined;

  appliedIndex(): number {
    return this.applied;
  }

  apply(entries: readonly Entry[]): ApplyResult | undefined {
    for (const e of entries) {
      if (e.index <= this.applied) continue;
      const halt = this.haltOn?.(e);
      if (halt !== undefined) return { halt };
      if (e.type === EntryType.Normal && e.data.length > 0)
        this.items.push(`${e.index}:${dec.decode(e.data)}`);
      this.applied = e.index;
    }
    return undefined;
  }

  async snapshot(): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }> {
    const bytes = enc.encode(JSON.stringify(this.items));
    const index = this.applied;
    return {
      index,
      chunks: (async function* () {
        for (let o = 0; o < bytes.length; o += 1000) yield bytes.subarray(o, o + 1000);
      })(),
    };
  }

  async restore(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c);
    const all = Buffer.concat(parts);
    this.items = all.length === 0 ? [] : (JSON.parse(dec.decode(all)) as string[]);
    this.applied = meta.index;
    this.restores++;
  }
}

export interface Member {
  id: string;
  dir: string;
  addr: PeerAddr;
  fsm: ListFsm;
  node: RaftNode | undefined;
  transport: Transport | undefined;
  logs: string[];
}

export interface ClusterOptions {
  n?: number;
  tickMs?: number;
  node?: Partial<RaftNodeOptions>;
  /** Options for one member (applied after `node`). */
  perNode?: (id: string) => Partial<RaftNodeOptions>;
  /** Wraps each node's disk or transport (instrumentation). */
  wrapDisk?: (id: string, d: Disk) => Disk;
  wrapTransport?: (id: string, t: NodeTransport) => NodeTransport;
}

export class Cluster {
  readonly members = new Map<string, Member>();
  private readonly root = mkdtempSync(join(tmpdir(), 'sealkv-raft-node-'));

  constructor(readonly o: ClusterOptions = {}) {
    for (let i = 1; i <= (o.n ?? 3); i++) {
      const id = `n${i}`;
      this.members.set(id, {
        id,
        dir: join(this.root, id),
        addr: { host: '127.0.0.1', port: 0 },
        fsm: new ListFsm(),
        node: undefined,
        transport: undefined,
        logs: [],
      });
    }
  }

  get ids(): string[] {
    return [...this.members.keys()];
  }

  m(id: string): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: string): RaftNode {
    const n = this.m(id).node;
    if (n === undefined) throw new Error(`${id} is not running`);
    return n;
  }

  /** Listens on every member first (ports are needed by all), then starts the nodes. */
  async start(): Promise<void> {
    for (const m of this.members.values()) await this.listen(m);
    for (const m of this.members.values()) await this.boot(m);
  }

  private async listen(m: Member): Promise<Transport> {
    const t = new Transport({ id: m.id, clusterId: 'raft-node-test', backoffBaseMs: 10, backoffMaxMs: 100 });
    m.addr = await t.listen('127.0.0.1', m.addr.port);
    m.transport = t;
    return t;
  }

  private async boot(m: Member, extra: Partial<RaftNodeOptions> = {}): Promise<void> {
    const t = m.transport;
    if (t === undefined) throw new Error('listen first');
    for (const p of this.members.values()) if (p !== m) t.addPeer(p.id, p.addr);
    const disk = this.o.wrapDisk?.(m.id, new NodeDisk()) ?? new NodeDisk();
    const transport = this.o.wrapTransport?.(m.id, t) ?? t;
    m.node = await RaftNode.start({
      id: m.id,
      voters: this.ids,
      dir: m.dir,
      disk,
      transport,
      fsm: m.fsm,
      tickMs: this.o.tickMs ?? 25,
      logger: (level, msg, details) => {
        m.logs.push(`${level} ${msg} ${details === undefined ? '' : JSON.stringify(details)}`);
        if (m.logs.length > 2000) m.logs.splice(0, 1000);
      },
      ...this.o.node,
      ...this.o.perNode?.(m.id),
      ...extra,
    });
  }

  /** Restarts a stopped or aborted member from its directory (same port). */
  async restart(id: string, extra: Partial<RaftNodeOptions> = {}): Promise<void> {
    const m = this.m(id);
    await this.listen(m);
    await this.boot(m, extra);
  }

  /** Crash: the node is abandoned, nothing more reaches its disk. */
  async kill(id: string): Promise<void> {
    const m = this.m(id);
    await m.node?.abort();
    m.node = undefined;
    m.transport = undefined;
  }

  running(): RaftNode[] {
    const out: RaftNode[] = [];
    for (const m of this.members.values()) if (m.node?.isRunning) out.push(m.node);
    return out;
  }

  leader(): RaftNode | undefined {
    const leaders = this.running().filter((n) => n.status().role === 'leader');
    if (leaders.length !== 1) return undefined;
    return leaders[0];
  }

  async waitLeader(timeoutMs = 10_000): Promise<RaftNode> {
    await waitFor('a leader', () => this.leader() !== undefined, timeoutMs);
    const l = this.leader();
    if (l === undefined) throw new Error('the leader went away again');
    return l;
  }

  /** Proposes on whoever leads, retrying through elections. */
  async propose(data: string, timeoutMs = 10_000): Promise<{ index: number; term: number }> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const l = this.leader();
      if (l !== undefined) {
        try {
          return await l.propose(enc.encode(data));
        } catch (e) {
          if (!isSealError(e)) throw e;
        }
      }
      if (performance.now() > deadline) throw new Error(`no leader accepted ${data}`);
      await sleep(5);
    }
  }

  /** Proposes `count` entries with at most `concurrency` in flight; resolves when all are appended. */
  async proposeMany(prefix: string, count: number, concurrency: number): Promise<number> {
    let next = 0;
    let last = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const r = await this.propose(`${prefix}${i}`);
        last = Math.max(last, r.index);
        // Keep a bounded number in flight: wait until the leader applied it.
        await waitFor(
          `apply of ${r.index}`,
          () => (this.leader()?.appliedIndex ?? 0) >= r.index || this.applied(r.index),
          20_000,
        );
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return last;
  }

  private applied(index: number): boolean {
    return this.running().some((n) => n.appliedIndex >= index);
  }

  async waitAllApplied(index: number, ids = this.ids, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      `all of ${ids.join(',')} applied ${index}`,
      () => ids.every((id) => this.m(id).fsm.applied >= index),
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    for (const m of this.members.values()) {
      if (m.node !== undefined) await m.node.stop();
      else await m.transport?.close();
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

export async function waitFor(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
