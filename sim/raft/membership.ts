// Membership changes of the Raft model, drawn per seed: on membership seeds the world holds
// one spare server that starts outside the configuration, and the leader is asked, one change
// at a time, to add a node outside the config as a learner, promote a learner, or remove a
// voter (never below 3 voters); more rarely to add a voter straight or remove a learner. A
// removed node keeps running on its own disk; adding it back later makes it a member again,
// replaying its removal and re-addition from the log, so no disk is wiped (its durable term
// and vote stay as Raft requires).

import { ConfChangeType } from '../../src/raft/core/types.ts';
import type { Prng } from '../prng.ts';
import type { Scheduler } from '../queue.ts';
import type { SimRaftNode } from './node.ts';

export interface MemberPlan {
  /** Mean virtual ms between membership changes; 0 = none this seed (and no spare node). */
  readonly confEveryMs: number;
}

export function drawMemberPlan(rand: Prng): MemberPlan {
  return { confEveryMs: rand.chance(0.4) ? rand.int(500, 1500) : 0 };
}

const MIN_VOTERS = 3;
/** Chance that a step may also pick a direct voter add or a learner removal. */
const RARE = 0.25;

export class MembershipActions {
  private stopped = false;
  /** Nodes that were once removed: adding one back is a re-add. */
  private readonly removed = new Set<string>();
  /** Changes asked for and refused, by kind. */
  readonly counts = new Map<string, number>();

  constructor(
    private readonly sched: Scheduler,
    private readonly rand: Prng,
    private readonly plan: MemberPlan,
    private readonly nodes: readonly SimRaftNode[],
    private readonly note: (text: string) => void,
    /** Self-test only: ask for a second change at once, while the first is pending. */
    private readonly twice = false,
  ) {}

  start(): void {
    if (this.plan.confEveryMs > 0) this.next();
  }

  stop(): void {
    this.stopped = true;
  }

  private next(): void {
    const mean = this.plan.confEveryMs;
    this.sched.after(this.rand.int(mean >> 1, mean + (mean >> 1)), 'action.conf', () => {
      if (this.stopped) return;
      this.changeOne();
      if (this.twice) this.changeOne();
      this.next();
    });
  }

  private count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  private changeOne(): void {
    const leader = this.nodes.find((n) => n.alive && !n.paused && n.roleLetter() === 'L');
    if (leader === undefined) return;
    const conf = leader.confState();
    const outside = this.nodes
      .map((n) => n.sid)
      .filter((id) => !conf.voters.includes(id) && !conf.learners.includes(id));
    const options: (() => void)[] = [];
    if (outside.length > 0) {
      options.push(() => {
        const id = this.rand.pick(outside);
        this.ask(
          leader,
          this.removed.has(id) ? 'readd-learner' : 'add-learner',
          ConfChangeType.AddLearner,
          id,
        );
      });
    }
    // Rarer paths: a voter added straight (P42: it counts before it has caught up) and a
    // learner dropped before promotion.
    if (outside.length > 0 && this.rand.chance(RARE))
      options.push(() => this.ask(leader, 'add-voter', ConfChangeType.AddVoter, this.rand.pick(outside)));
    if (conf.learners.length > 0)
      options.push(() =>
        this.ask(leader, 'promote', ConfChangeType.PromoteLearner, this.rand.pick(conf.learners)),
      );
    if (conf.learners.length > 0 && this.rand.chance(RARE))
      options.push(() =>
        this.ask(leader, 'remove-learner', ConfChangeType.RemoveNode, this.rand.pick(conf.learners)),
      );
    if (conf.voters.length > MIN_VOTERS)
      options.push(() => this.ask(leader, 'remove', ConfChangeType.RemoveNode, this.rand.pick(conf.voters)));
    if (options.length > 0) this.rand.pick(options)();
  }

  private ask(leader: SimRaftNode, kind: string, type: ConfChangeType, id: string): void {
    leader.proposeConf({ type, node: id, context: new Uint8Array() }, (refused) => {
      if (refused !== undefined) {
        this.count('conf.refused');
        this.note(`conf ${kind} n${id} on n${leader.id} refused: ${refused}`);
        return;
      }
      this.count(`conf.${kind}`);
      if (kind === 'remove' || kind === 'remove-learner') this.removed.add(id);
      if (kind === 'remove' && id === leader.sid) this.count('conf.remove.leader');
      this.note(`conf ${kind} n${id} proposed on n${leader.id}`);
    });
  }
}
