import { ClusterAdminClient } from '../admin/client.ts';
import { PUBLISH_LOCAL_CMD } from '../redis/forwarding.ts';
import { Upstream } from './forward.ts';
import type { MemberDirectory } from './members.ts';

/**
 * Carries a PUBLISH to every other member's Redis listener (pub/sub is not
 * persisted and not replicated through Raft). A member's Redis address is
 * asked once from its admin API; an unreachable member counts zero receivers.
 */
export class PubSubFanout {
  private readonly upstreams = new Map<string, Upstream>();

  constructor(
    private readonly self: string,
    private readonly members: MemberDirectory,
  ) {}

  async publish(channel: Buffer, message: Buffer): Promise<number> {
    const peers = this.members.all().filter(([id]) => id !== this.self);
    const counts = await Promise.all(
      peers.map(async ([id, addrs]) => {
        try {
          const up = await this.upstream(id, addrs.admin);
          const [r] = await up.send([[Buffer.from(PUBLISH_LOCAL_CMD), channel, message]]);
          return r?.t === 'int' ? Number(r.n) : 0;
        } catch {
          this.upstreams.get(id)?.close();
          this.upstreams.delete(id);
          return 0;
        }
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  private async upstream(id: string, admin: string): Promise<Upstream> {
    const cached = this.upstreams.get(id);
    if (cached !== undefined) return cached;
    const client = new ClusterAdminClient(admin, { timeoutMs: 1000 });
    try {
      const st = await client.status();
      const m = /^(.*):(\d+)$/.exec(st.redisAddr);
      if (m === null) throw new Error(`member ${id} reported no Redis address`);
      const up = new Upstream({ host: m[1]!, port: Number(m[2]) });
      this.upstreams.set(id, up);
      return up;
    } finally {
      client.close();
    }
  }

  close(): void {
    for (const u of this.upstreams.values()) u.close();
  }
}
