import type { Engine } from '../storage/index.ts';
import { WriteBatch } from '../storage/index.ts';
import { utf8 } from '../util/bytes.ts';
import type { Peer } from './config.ts';
import { formatHostPort } from './config.ts';

export interface MemberAddrs {
  raft: string;
  admin: string;
}

const PREFIX = utf8('_meta_member|');

/**
 * Where each member listens (raft and admin addresses). Founders come from
 * --peers; members added later carry their addresses in the conf-change
 * context, and every replica records them in its store's meta namespace when
 * the change applies, so restarts and snapshots keep them.
 */
export class MemberDirectory {
  private readonly members = new Map<string, MemberAddrs>();

  constructor(private readonly engine: Engine) {
    for (const row of engine.range('meta', { start: PREFIX, end: prefixEnd(PREFIX) })) {
      const id = Buffer.from(row.key.subarray(PREFIX.length)).toString('utf8');
      const parsed = parseContext(row.value);
      if (parsed !== undefined) this.members.set(id, parsed);
    }
  }

  async seed(peers: readonly Peer[]): Promise<void> {
    for (const p of peers) {
      if (!this.members.has(p.id)) {
        await this.set(p.id, { raft: formatHostPort(p.raftAddr), admin: formatHostPort(p.adminAddr) });
      }
    }
  }

  get(id: string): MemberAddrs | undefined {
    return this.members.get(id);
  }

  all(): [string, MemberAddrs][] {
    return [...this.members.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  async set(id: string, addrs: MemberAddrs): Promise<void> {
    this.members.set(id, addrs);
    const b = new WriteBatch();
    b.put('meta', concat(PREFIX, utf8(id)), encodeContext(addrs));
    await this.engine.write(b, { sync: true });
  }
}

export function encodeContext(a: MemberAddrs): Uint8Array {
  return utf8(`${a.raft}@${a.admin}`);
}

export function parseContext(b: Uint8Array): MemberAddrs | undefined {
  const s = Buffer.from(b).toString('utf8');
  const at = s.lastIndexOf('@');
  if (at <= 0) return undefined;
  return { raft: s.slice(0, at), admin: s.slice(at + 1) };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function prefixEnd(p: Uint8Array): Uint8Array {
  const out = Uint8Array.from(p);
  out[out.length - 1]!++;
  return out;
}
