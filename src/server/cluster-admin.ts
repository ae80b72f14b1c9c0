import { ClusterAdminClient } from '../admin/client.ts';
import type {
  AddLearnerRequest,
  ClusterAdminHandler,
  ClusterMember,
  ClusterStatus,
  ConfChangeResponse,
  TransferLeaderResponse,
} from '../admin/handlers.ts';
import { fullNodeId } from '../encryption/identity.ts';
import { type ConfChange, ConfChangeType } from '../raft/core/index.ts';
import type { RaftNode } from '../raft/node.ts';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import type { ServerConfig } from './config.ts';
import { encodeContext, type MemberDirectory } from './members.ts';

const NO_LEADER_WAIT_MS = 3000;
const POLL_MS = 25;

/** ClusterAdmin on a node, plus the routing answer "where is the leader's Redis listener". */
export class ClusterAdmin implements ClusterAdminHandler {
  private leaderRedis: { leader: string; addr: { host: string; port: number } } | undefined;

  constructor(
    private readonly config: ServerConfig,
    private readonly raft: RaftNode,
    private readonly members: MemberDirectory,
    private readonly redisAddr: () => string,
  ) {}

  async status(): Promise<ClusterStatus> {
    const st = this.raft.status();
    const list: ClusterMember[] = [];
    const add = (id: string, role: 'voter' | 'learner') => {
      const a = this.members.get(id);
      list.push({ id, role, raftAddr: a?.raft ?? '', adminAddr: a?.admin ?? '', fullNodeId: fullNodeId(id) });
    };
    for (const id of st.conf.voters) add(id, 'voter');
    for (const id of st.conf.learners) add(id, 'learner');
    return {
      members: list,
      leaderId: st.lead,
      term: BigInt(st.term),
      commitIndex: BigInt(st.commit),
      appliedIndex: BigInt(st.applied),
      nodeId: this.config.id,
      redisAddr: this.redisAddr(),
    };
  }

  addLearner(req: AddLearnerRequest): Promise<ConfChangeResponse> {
    return this.change({
      type: ConfChangeType.AddLearner,
      node: req.id,
      context: encodeContext({ raft: req.raftAddr, admin: req.adminAddr }),
    });
  }

  promote(id: string): Promise<ConfChangeResponse> {
    return this.change({ type: ConfChangeType.PromoteLearner, node: id, context: new Uint8Array() });
  }

  remove(id: string): Promise<ConfChangeResponse> {
    return this.change({ type: ConfChangeType.RemoveNode, node: id, context: new Uint8Array() });
  }

  async transferLeader(to: string): Promise<TransferLeaderResponse> {
    this.requireLeader();
    this.raft.transferLeadership(to);
    const deadline = Date.now() + NO_LEADER_WAIT_MS;
    while (Date.now() < deadline) {
      const lead = this.raft.status().lead;
      if (lead === to) return { leaderId: lead };
      await sleep(POLL_MS);
    }
    throw sealError(
      Err.ProposalFailed,
      `leadership did not move to ${to} in time; current leader ${this.raft.status().lead || 'unknown'}`,
    );
  }

  private async change(cc: ConfChange): Promise<ConfChangeResponse> {
    this.requireLeader();
    const { index } = await this.raft.proposeConfChange(cc);
    await this.raft.waitApplied(index);
    return { appliedIndex: BigInt(index) };
  }

  private requireLeader(): void {
    const st = this.raft.status();
    if (st.role === 'leader') return;
    const leader = st.lead === '' ? undefined : this.members.get(st.lead);
    throw sealError(
      Err.NotLeader,
      st.lead === ''
        ? 'no known leader'
        : `not the leader; leader is ${st.lead} at ${leader?.admin ?? 'unknown address'}`,
      { leaderId: st.lead, leaderAddr: leader?.admin ?? '' },
    );
  }

  /**
   * Where client commands go: this node once it may serve as leader, else the
   * leader's Redis listener (asked once per leader through its admin API).
   * With no leader known it waits briefly, then answers ErrNotLeader (TRYAGAIN).
   */
  async route(
    localReady: () => boolean,
  ): Promise<{ local: true } | { local: false; addr: { host: string; port: number } }> {
    const deadline = Date.now() + NO_LEADER_WAIT_MS;
    for (;;) {
      if (localReady()) return { local: true };
      const lead = this.raft.status().lead;
      if (lead !== '' && lead !== this.config.id) {
        if (this.leaderRedis?.leader === lead) return { local: false, addr: this.leaderRedis.addr };
        const admin = this.members.get(lead)?.admin;
        if (admin !== undefined) {
          const client = new ClusterAdminClient(admin, { timeoutMs: 1000 });
          try {
            const st = await client.status();
            const m = /^(.*):(\d+)$/.exec(st.redisAddr);
            if (st.nodeId === lead && m !== null) {
              this.leaderRedis = { leader: lead, addr: { host: m[1]!, port: Number(m[2]) } };
              return { local: false, addr: this.leaderRedis.addr };
            }
          } catch {
            // The leader may be moving; poll again below.
          } finally {
            client.close();
          }
        }
      }
      if (Date.now() > deadline) throw sealError(Err.NotLeader, 'no leader is available yet; retry');
      await sleep(POLL_MS);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
