import type { PubSub, Subscriber } from './backend.ts';
import { globMatch } from './commands/args.ts';

/**
 * The node-local side of pub/sub. `remote` (set by the server wiring) carries a
 * PUBLISH to the other nodes; messages arriving from peers enter through
 * `deliverLocal`. The reply count is the number of local receivers plus what
 * the peers report.
 */
export class LocalPubSub implements PubSub {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private readonly patterns = new Map<string, Set<Subscriber>>();
  remote: ((channel: Buffer, message: Buffer) => Promise<number>) | undefined;

  async publish(channel: Buffer, message: Buffer): Promise<number> {
    const local = this.deliverLocal(channel, message);
    const remote = this.remote === undefined ? 0 : await this.remote(channel, message).catch(() => 0);
    return local + remote;
  }

  deliverLocal(channel: Buffer, message: Buffer): number {
    let n = 0;
    for (const sub of this.channels.get(channel.toString('latin1')) ?? []) {
      sub.deliver(undefined, channel, message);
      n++;
    }
    for (const [pattern, subs] of this.patterns) {
      const p = Buffer.from(pattern, 'latin1');
      if (!globMatch(p, channel)) continue;
      for (const sub of subs) {
        sub.deliver(p, channel, message);
        n++;
      }
    }
    return n;
  }

  subscribe(sub: Subscriber, channel: Buffer, pattern: boolean): void {
    const map = pattern ? this.patterns : this.channels;
    const k = channel.toString('latin1');
    let set = map.get(k);
    if (set === undefined) {
      set = new Set();
      map.set(k, set);
    }
    set.add(sub);
  }

  unsubscribe(sub: Subscriber, channel: Buffer, pattern: boolean): void {
    const map = pattern ? this.patterns : this.channels;
    const k = channel.toString('latin1');
    const set = map.get(k);
    if (set === undefined) return;
    set.delete(sub);
    if (set.size === 0) map.delete(k);
  }
}
