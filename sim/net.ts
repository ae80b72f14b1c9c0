// Generic simulated network over opaque payloads. Every message becomes a queue event;
// drop, duplicate, delay (and so reordering), connection resets, partitions, asymmetric
// links and clogging are all decided by the injected PRNG, so a run is a function of its seed.

import type { Prng } from './prng.ts';
import type { Scheduler } from './queue.ts';

export type NodeId = number;

export interface Envelope<P> {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly payload: P;
}

export interface NetFaultRates {
  /** Probability that a message is silently lost. */
  readonly dropP: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  readonly duplicateP: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

export const CALM_NET: NetFaultRates = { dropP: 0, duplicateP: 0, minDelayMs: 1, maxDelayMs: 1 };

export interface NetHooks<P> {
  deliver(msg: Envelope<P>): void;
  /** Called for every fault action, with a grep-able description. */
  fault?(text: string): void;
}

export interface NetStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  lostToReset: number;
  lostToPartition: number;
}

interface InFlight<P> {
  readonly msg: Envelope<P>;
  readonly epoch: number;
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

export class SimNet<P> {
  readonly stats: NetStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    lostToReset: 0,
    lostToPartition: 0,
  };
  private readonly blocked = new Set<string>();
  private readonly epochs = new Map<string, number>();
  private readonly clogged = new Set<NodeId>();
  private held: InFlight<P>[] = [];

  constructor(
    private readonly sched: Scheduler,
    private readonly rand: Prng,
    readonly nodes: readonly NodeId[],
    private rates: NetFaultRates,
    private readonly hooks: NetHooks<P>,
  ) {
    if (rates.minDelayMs < 0 || rates.maxDelayMs < rates.minDelayMs) {
      throw new RangeError(`bad delay range ${rates.minDelayMs}..${rates.maxDelayMs}`);
    }
  }

  setRates(rates: NetFaultRates): void {
    this.rates = rates;
  }

  send(from: NodeId, to: NodeId, payload: P): void {
    this.stats.sent++;
    const msg: Envelope<P> = { from, to, payload };
    // Draw every decision unconditionally so the stream does not depend on link state.
    const lost = this.rand.chance(this.rates.dropP);
    const dup = this.rand.chance(this.rates.duplicateP);
    if (lost) {
      this.stats.dropped++;
      return;
    }
    this.launch(msg, this.drawDelayMs());
    if (dup) {
      this.stats.duplicated++;
      this.launch(msg, this.drawDelayMs());
    }
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.has(linkKey(from, to));
  }

  isClogged(node: NodeId): boolean {
    return this.clogged.has(node);
  }

  /** Cut every link between different groups, both directions. Nodes not listed keep all links. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]!) for (const b of groups[j]!) this.blocked.add(linkKey(a, b));
      }
    }
    this.emitFault(`partition ${groups.map((g) => `{${[...g].sort(cmpNum).join(',')}}`).join(' | ')}`);
  }

  /** Isolate one node from all others. */
  isolate(node: NodeId): void {
    const rest = this.nodes.filter((n) => n !== node);
    this.partition([[node], rest]);
  }

  /** Random split of `among` (default: all nodes) into two non-empty sides. */
  randomSplit(among: readonly NodeId[] = this.nodes): void {
    if (among.length < 2) return;
    const order = this.rand.shuffle([...among]);
    const cut = this.rand.int(1, order.length - 1);
    this.partition([order.slice(0, cut), order.slice(cut)]);
  }

  /** Asymmetric fault: from→to dies while to→from stays alive. */
  blockLink(from: NodeId, to: NodeId): void {
    this.blocked.add(linkKey(from, to));
    this.emitFault(`link ${from}->${to} dead`);
  }

  /** Remove every partition and dead link. */
  heal(): void {
    this.blocked.clear();
    this.emitFault('heal');
  }

  /** Connection reset between a and b: everything in flight on the link is lost. */
  reset(a: NodeId, b: NodeId): void {
    for (const key of [linkKey(a, b), linkKey(b, a)]) this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1);
    this.emitFault(`reset ${a}<->${b}`);
  }

  /** Hold all traffic to and from a node until unclog. */
  clog(node: NodeId): void {
    this.clogged.add(node);
    this.emitFault(`clog n${node}`);
  }

  /** Release everything held for a node at once, in the order it was held. */
  unclog(node: NodeId): void {
    this.clogged.delete(node);
    const keep: InFlight<P>[] = [];
    const release: InFlight<P>[] = [];
    for (const f of this.held) {
      const stillHeld = this.clogged.has(f.msg.from) || this.clogged.has(f.msg.to);
      (stillHeld ? keep : release).push(f);
    }
    this.held = keep;
    this.emitFault(`unclog n${node} release=${release.length}`);
    for (const f of release) this.sched.after(0, 'net.release', () => this.arrive(f));
  }

  private drawDelayMs(): number {
    return this.rand.int(this.rates.minDelayMs, this.rates.maxDelayMs);
  }

  private launch(msg: Envelope<P>, delayMs: number): void {
    const f: InFlight<P> = { msg, epoch: this.epochs.get(linkKey(msg.from, msg.to)) ?? 0 };
    if (this.clogged.has(msg.from) || this.clogged.has(msg.to)) {
      this.held.push(f);
      return;
    }
    this.sched.after(delayMs, 'net.deliver', () => this.arrive(f));
  }

  private arrive(f: InFlight<P>): void {
    const { msg } = f;
    const key = linkKey(msg.from, msg.to);
    if ((this.epochs.get(key) ?? 0) !== f.epoch) {
      this.stats.lostToReset++;
      return;
    }
    if (this.blocked.has(key)) {
      this.stats.lostToPartition++;
      return;
    }
    if (this.clogged.has(msg.from) || this.clogged.has(msg.to)) {
      this.held.push(f);
      return;
    }
    this.stats.delivered++;
    this.hooks.deliver(msg);
  }

  private emitFault(text: string): void {
    this.hooks.fault?.(text);
  }
}

function cmpNum(a: number, b: number): number {
  return a - b;
}
