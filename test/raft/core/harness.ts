import { decodeConfChange } from '../../../src/raft/core/confchange.ts';
import type { RaftConfig } from '../../../src/raft/core/config.ts';
import { RaftCore } from '../../../src/raft/core/core.ts';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.ts';
import type { Message } from '../../../src/raft/core/messages.ts';
import type { ReadState } from '../../../src/raft/core/readonly.ts';
import type { Ready } from '../../../src/raft/core/ready.ts';
import { type ConfState, type Entry, EntryType, type NodeId } from '../../../src/raft/core/types.ts';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A deterministic PRNG (mulberry32) for election jitter in tests. */
export function seededRand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimNode {
  id: NodeId;
  core: RaftCore;
  storage: MemoryStorage;
  /** Entries applied to the (in-memory) state machine, in order. */
  applied: Entry[];
  appliedIndex: number;
  readStates: ReadState[];
  /** Membership right after each applied conf entry, by index. */
  confAt: Map<number, ConfState>;
  /** Apply of this index halts the node (it exits without writing anything for it). */
  haltAt: number | undefined;
  /** Set when the last Ready cycle ended in a halt. */
  halted: boolean;
  clockMs: number;
  crashed: boolean;
  opts: Partial<RaftConfig>;
}

export interface ClusterOptions {
  voters: number;
  learners?: number;
  extra?: number;
  seed?: number;
  cfg?: Partial<RaftConfig>;
  perNode?: Record<string, Partial<RaftConfig>>;
  logger?: (line: string) => void;
}

/**
 * A tiny in-memory network of cores driven by the D1 cycle: per node, persist the Ready
 * into MemoryStorage, queue its messages, apply committed entries, advance. Links can be
 * cut one way or both; messages on a cut link are dropped when sent.
 */
export class Network {
  readonly nodes = new Map<NodeId, SimNode>();
  /** Messages in flight, per destination, in send order. */
  readonly queues = new Map<NodeId, Message[]>();
  private readonly cut = new Set<string>();
  /** Ghost state: the leader of each term (I1). */
  readonly leaderOf = new Map<number, NodeId>();
  readonly violations: string[] = [];
  readonly logger: ((line: string) => void) | undefined;
  private readonly seed: number;
  private readonly cfg: Partial<RaftConfig>;

  constructor(opts: ClusterOptions) {
    this.logger = opts.logger;
    this.seed = opts.seed ?? 1;
    this.cfg = opts.cfg ?? {};
    const voters: string[] = [];
    const learners: string[] = [];
    for (let i = 1; i <= opts.voters; i++) voters.push(String(i));
    for (let i = 0; i < (opts.learners ?? 0); i++) learners.push(String(opts.voters + 1 + i));
    const conf = { voters, learners };
    for (const id of [...voters, ...learners]) this.addNode(id, conf, opts.perNode?.[id] ?? {});
    const total = voters.length + learners.length;
    for (let i = 1; i <= (opts.extra ?? 0); i++) {
      // A node about to join knows the bootstrap membership but is not part of it: the
      // initial configuration is not in the log, so it must start from it.
      this.addNode(String(total + i), conf, opts.perNode?.[String(total + i)] ?? {});
    }
  }

  addNode(id: NodeId, conf: ConfState, opts: Partial<RaftConfig> = {}): SimNode {
    const storage = new MemoryStorage(conf);
    const n: SimNode = {
      id,
      storage,
      core: undefined as unknown as RaftCore,
      applied: [],
      appliedIndex: 0,
      readStates: [],
      confAt: new Map(),
      haltAt: undefined,
      halted: false,
      clockMs: 0,
      crashed: false,
      opts,
    };
    n.core = this.makeCore(n);
    this.nodes.set(id, n);
    this.queues.set(id, []);
    return n;
  }

  private makeCore(n: SimNode): RaftCore {
    let k = 0;
    for (const ch of n.id) k = (k * 31 + ch.charCodeAt(0)) >>> 0;
    return new RaftCore({
      id: n.id,
      storage: n.storage,
      rand: seededRand(this.seed * 7919 + k),
      now: () => n.clockMs,
      applied: n.appliedIndex,
      ...(this.logger ? { logger: this.logger } : {}),
      ...this.cfg,
      ...n.opts,
    });
  }

  /**
   * Replaces a node's durable state with a log of the given terms (index i+1 has
   * terms[i]) and a hard state, then restarts it.
   */
  setLog(id: NodeId, terms: number[], hs: { term: number; vote?: NodeId; commit?: number }): void {
    const n = this.node(id);
    n.storage = new MemoryStorage(n.storage.confState);
    n.storage.append(
      terms.map((term, i) => ({ term, index: i + 1, type: EntryType.Normal, data: enc(`e${i + 1}`) })),
    );
    n.storage.hardState = { term: hs.term, vote: hs.vote ?? '', commit: hs.commit ?? 0 };
    n.applied = [];
    n.appliedIndex = 0;
    n.core = this.makeCore(n);
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  }

  /** Runs one D1 cycle on `id`; returns the Ready (or undefined if there was no work). */
  readyOnce(id: NodeId): Ready | undefined {
    const n = this.node(id);
    if (n.crashed || !n.core.hasReady()) return undefined;
    const rd = n.core.ready();
    // 1. persist
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.hardState = { ...rd.hardState };
    // 2. send
    for (const m of rd.messages) this.send(m);
    // 3. apply
    if (rd.snapshot !== undefined) {
      // The snapshot image is the list of applied payloads (see compact()).
      const data = JSON.parse(new TextDecoder().decode(rd.snapshot.data)) as string[];
      n.appliedIndex = rd.snapshot.meta.index;
      n.applied = data.map((d) => ({ term: 0, index: 0, type: EntryType.Normal, data: enc(d) }));
    }
    for (const e of rd.committedEntries) {
      if (e.index === n.haltAt) {
        // Halt: nothing is written for this entry, the rest of the Ready is skipped and
        // the process exits; restart replays from the durable applied index.
        n.halted = true;
        this.crash(n.id);
        return rd;
      }
      if (e.type === EntryType.ConfChange) {
        const cs = n.core.applyConfChange(decodeConfChange(e.data));
        n.storage.confState = cs;
        n.confAt.set(e.index, cs);
      }
      n.applied.push(e);
      n.appliedIndex = e.index;
    }
    n.readStates.push(...rd.readStates);
    // 4. advance
    n.core.advance(rd);
    this.observe(n);
    return rd;
  }

  private observe(n: SimNode): void {
    const st = n.core.status();
    if (st.role === 'leader') {
      const prev = this.leaderOf.get(st.term);
      if (prev !== undefined && prev !== n.id) this.violations.push(`I1: two leaders in t${st.term}`);
      this.leaderOf.set(st.term, n.id);
    }
  }

  /** Messages for which this returns true are dropped when sent. */
  dropIf: ((m: Message) => boolean) | undefined;

  send(m: Message): void {
    if (this.cut.has(`${m.from}->${m.to}`)) return;
    if (this.dropIf?.(m)) return;
    const q = this.queues.get(m.to);
    if (q !== undefined) q.push(m);
  }

  /** Delivers queued messages to `to` (optionally filtered); returns the delivered ones. */
  deliver(to: NodeId, filter: (m: Message) => boolean = () => true): Message[] {
    const take = this.take(to, filter);
    const n = this.node(to);
    const done: Message[] = [];
    for (const m of take) {
      if (n.crashed || this.cut.has(`${m.from}->${m.to}`)) continue;
      n.core.step(m);
      done.push(m);
    }
    return done;
  }

  drop(to: NodeId, filter: (m: Message) => boolean = () => true): Message[] {
    return this.take(to, filter);
  }

  /** Removes and returns the queued messages for `to` that pass `filter` (called once each). */
  private take(to: NodeId, filter: (m: Message) => boolean): Message[] {
    const taken: Message[] = [];
    const kept: Message[] = [];
    for (const m of this.queues.get(to) ?? []) (filter(m) ? taken : kept).push(m);
    this.queues.set(to, kept);
    return taken;
  }

  /** Runs ready + deliver rounds until no node has work. */
  stabilize(ids: NodeId[] = this.ids(), maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let progress = false;
      for (const id of ids) if (this.readyOnce(id)) progress = true;
      for (const id of ids) if (this.deliver(id).length > 0) progress = true;
      if (!progress) return;
    }
    throw new Error('stabilize did not converge');
  }

  tick(id: NodeId, n = 1): void {
    const node = this.node(id);
    for (let i = 0; i < n; i++) {
      node.clockMs += 100;
      node.core.tick();
    }
  }

  /** Ticks every live node `n` times, stabilizing after each tick. */
  tickAll(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.ids()) if (!this.node(id).crashed) this.tick(id);
      this.stabilize();
    }
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}->${to}`);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}->${to}`);
  }

  /** Splits the nodes into groups that cannot talk to each other. */
  partition(...groups: NodeId[][]): void {
    for (const a of groups)
      for (const b of groups) if (a !== b) for (const x of a) for (const y of b) this.cutLink(x, y);
  }

  isolate(id: NodeId): void {
    this.partition(
      [id],
      this.ids().filter((x) => x !== id),
    );
  }

  heal(): void {
    this.cut.clear();
  }

  crash(id: NodeId): void {
    const n = this.node(id);
    n.crashed = true;
    this.queues.set(id, []);
  }

  /** Restarts from the durable storage (everything persisted by completed Ready cycles). */
  restart(id: NodeId): void {
    const n = this.node(id);
    n.crashed = false;
    n.halted = false;
    n.core = this.makeCore(n);
  }

  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined;
    for (const id of this.ids()) {
      const st = this.node(id).core.status();
      if (!this.node(id).crashed && st.role === 'leader' && (best === undefined || st.term > best.term))
        best = { id, term: st.term };
    }
    return best?.id;
  }

  /** Elects `id` by timing it out first (pre-vote + vote), then stabilizes. */
  elect(id: NodeId): void {
    this.core(id).campaign();
    this.stabilize();
  }

  /** Takes a snapshot at `index` (<= applied) if newer, then drops the log before it. */
  compact(id: NodeId, index: number): void {
    const n = this.node(id);
    if (index > n.storage.snapshot().meta.index) {
      const upTo = n.applied.filter((e) => e.index <= index);
      const data = upTo.filter((e) => e.type === EntryType.Normal && e.data.length > 0);
      const json = JSON.stringify(data.map((e) => new TextDecoder().decode(e.data)));
      n.storage.createSnapshot(index, n.core.status().conf, enc(json));
    }
    n.storage.compact(index);
  }

  /** Data of the normal, non-empty entries applied on `id`. */
  appliedData(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }

  /** I5/I7-style check: committed prefixes agree on every live node. */
  checkCommittedAgreement(): string[] {
    const out = [...this.violations];
    const seen = new Map<number, number>();
    for (const id of this.ids()) {
      const n = this.node(id);
      const st = n.core.status();
      if (st.commit > st.lastIndex) out.push(`I11: n${id} commit ${st.commit} > last ${st.lastIndex}`);
      for (let i = st.firstIndex; i <= st.commit; i++) {
        const t = n.core.raft.log.term(i);
        if (t === undefined) continue;
        const prev = seen.get(i);
        if (prev !== undefined && prev !== t) out.push(`I7: index ${i} committed as t${prev} and t${t}`);
        seen.set(i, t);
      }
    }
    return out;
  }
}
