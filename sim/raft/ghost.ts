// Ghost state of docs/spec/raft.md §1: facts no node can see, recorded as the run goes and
// compared with every node after every event. The first violation stops the run.

import type { ConfState } from '../../src/raft/core/types.ts';

/** `v1,2,3/l4`: a config as text, members sorted. */
export function confKey(c: ConfState): string {
  return `v${[...c.voters].sort().join(',')}/l${[...c.learners].sort().join(',')}`;
}

export interface Violation {
  readonly ev: number;
  readonly invariant: string;
  readonly detail: string;
}

export class Ghost {
  /** I1: the leader of each term. */
  readonly leaderOf = new Map<number, number>();
  /** I5: chain hash of every (index, term) any node has stored. */
  readonly chainAt = new Map<string, number>();
  /** I7: term of each committed index (index → term; 0 = unset). */
  readonly committedTerm: number[] = [0];
  /** I6: the term in which each index was committed (the committing leader's term). */
  readonly committedIn: number[] = [0];
  /** I8: content hash of the entry applied at each index, and the FSM hash after it. */
  readonly appliedHash: number[] = [0];
  readonly stateHash: number[] = [0];
  /** I2: the candidate each voter granted in each term (`term/voter` → candidate). */
  readonly voteOf = new Map<string, string>();
  /** I15: the highest commit index any node has reached. */
  maxCommit = 0;
  /** I17: where each client proposal (`client:reqId`) was first applied, and that entry's term. */
  readonly opAt = new Map<string, { index: number; term: number }>();
  /** I17: acknowledgements whose entry must be seen committed once the event's checks ran. */
  private acks: { node: number; op: string; index: number; term: number }[] = [];
  /** I9, I13: the voters of the config that committed each index (unset: every node). */
  readonly committedVoters: (readonly string[] | undefined)[] = [];
  /** I14: the config every node must hold after applying the conf entry at each index. */
  readonly confAfter = new Map<number, string>();
  /** I13: every index up to here was checked to be durable on a voter majority when committed. */
  private quorumChecked = 0;
  violation: Violation | undefined;

  constructor(private readonly eventNow: () => number) {}

  fail(invariant: string, detail: string): void {
    if (this.violation === undefined) this.violation = { ev: this.eventNow(), invariant, detail };
  }

  leader(term: number, node: number): void {
    const prev = this.leaderOf.get(term);
    if (prev !== undefined && prev !== node) this.fail('I1', `t${term} led by n${prev} and n${node}`);
    else if (prev === undefined) this.leaderOf.set(term, node);
  }

  vote(voter: number, term: number, candidate: string): void {
    const key = `${term}/${voter}`;
    const prev = this.voteOf.get(key);
    if (prev === undefined) this.voteOf.set(key, candidate);
    else if (prev !== candidate) this.fail('I2', `n${voter} granted t${term} to n${prev} and n${candidate}`);
  }

  /**
   * I9: every committed index is still in the durable image of a majority. `holds` says
   * whether a node's durable image holds t/i, in its log or under a durable snapshot.
   */
  durableQuorum(holds: readonly ((i: number, t: number | undefined) => boolean)[]): void {
    for (let i = 1; i <= this.maxCommit; i++) {
      const t = this.committedTerm[i];
      // holds[k] is node k+1; the entry must survive on a majority of the voters that committed it.
      const voters = this.committedVoters[i];
      const ks = voters === undefined ? holds.map((_, k) => k) : voters.map((v) => Number(v) - 1);
      let holders = 0;
      for (const k of ks) if (holds[k]?.(i, t) === true) holders++;
      if (holders <= ks.length / 2) {
        this.fail('I9', `committed ${t ?? '?'}/${i} durable on ${holders} of ${ks.length} voters`);
        return;
      }
    }
  }

  /**
   * I13: a node that won term t holds grants from a majority of the voters (its own vote
   * included); a learner's grant counts for nothing.
   */
  winner(term: number, node: number, voters: readonly string[]): void {
    let grants = 0;
    for (const v of voters)
      if (v === String(node) || this.voteOf.get(`${term}/${v}`) === String(node)) grants++;
    if (grants <= voters.length / 2) {
      this.fail('I13', `n${node} leads t${term} with grants from ${grants} of ${voters.length} voters`);
    }
  }

  /**
   * I13: commit counts voters only. Each index the cluster newly committed is durable, by its
   * holders' own account, on a majority of the voters.
   */
  commitQuorum(
    voters: readonly { id: number; termAt: (i: number) => number | undefined; snapIndex: number }[],
  ) {
    for (let i = this.quorumChecked + 1; i <= this.maxCommit; i++) {
      const t = this.committedTerm[i];
      const ids = this.committedVoters[i];
      // Learners and nodes outside the committing config hold copies that count for nothing.
      const counted = ids === undefined ? voters : voters.filter((v) => ids.includes(String(v.id)));
      let holders = 0;
      for (const v of counted) if (i <= v.snapIndex || v.termAt(i) === t) holders++;
      if (holders <= counted.length / 2) {
        this.fail(
          'I13',
          `${t ?? '?'}/${i} committed while durable on ${holders} of ${counted.length} voters`,
        );
        return;
      }
      this.quorumChecked = i;
    }
  }

  /**
   * I14: applying the conf entry at `index` moved `node` from config `before` to `after`; the
   * two differ in exactly one member's role, and every node holds the same config after it.
   */
  confApplied(node: number, index: number, before: ConfState, after: ConfState): void {
    const role = (c: ConfState, id: string): string =>
      c.voters.includes(id) ? 'v' : c.learners.includes(id) ? 'l' : '-';
    const ids = new Set([...before.voters, ...before.learners, ...after.voters, ...after.learners]);
    const changed = [...ids].filter((id) => role(before, id) !== role(after, id));
    const key = confKey(after);
    if (changed.length !== 1) {
      this.fail(
        'I14',
        `n${node} applied ${index}: ${confKey(before)} → ${key} changes ${changed.length} members`,
      );
      return;
    }
    const prev = this.confAfter.get(index);
    if (prev === undefined) this.confAfter.set(index, key);
    else if (prev !== key)
      this.fail('I14', `n${node} holds ${key} after ${index}; another node holds ${prev}`);
  }

  /** I17: node answers a write `op` as done; it must have applied the entry carrying op. */
  ack(node: number, op: string, nodeApplied: number): void {
    const at = this.opAt.get(op);
    if (at === undefined || at.index > nodeApplied) {
      this.fail('I17', `n${node} acked ${op}, which it has not applied (applied ${nodeApplied})`);
      return;
    }
    this.acks.push({ node, op, ...at });
  }

  /** I17, after each event's checks: every acknowledged entry is committed with its term. */
  checkAcks(): void {
    for (const a of this.acks) {
      if (this.committedTerm[a.index] !== a.term) {
        this.fail('I17', `n${a.node} acked ${a.op} at ${a.term}/${a.index}, not committed there`);
      }
    }
    this.acks = [];
  }

  chain(node: number, index: number, term: number, hash: number): void {
    const key = `${index}/${term}`;
    const prev = this.chainAt.get(key);
    if (prev === undefined) this.chainAt.set(key, hash);
    else if (prev !== hash) this.fail('I5', `n${node} holds ${term}/${index} with a different log prefix`);
  }

  /**
   * `node`'s commit covers `index`, where it holds an entry of `term`; `nodeTerm` is its
   * current term. The first node to see an index committed is the leader that committed it,
   * so its term says in which term the index was committed (I6).
   */
  committed(
    node: number,
    index: number,
    term: number | undefined,
    nodeTerm = 0,
    voters?: readonly string[],
  ): void {
    if (index > this.maxCommit) this.maxCommit = index;
    const prev = this.committedTerm[index];
    if (prev === undefined || prev === 0) {
      if (term === undefined) this.fail('I7', `n${node} commit covers ${index} but holds no entry there`);
      else {
        this.committedTerm[index] = term;
        this.committedIn[index] = nodeTerm;
        if (voters !== undefined) this.committedVoters[index] = voters;
      }
    } else if (prev !== term) {
      this.fail('I7', `n${node} has t${term ?? '?'} at committed ${index} (committed in t${prev})`);
    }
  }

  applied(node: number, index: number, entryHash: number, fsmHash: number, op?: string, term?: number): void {
    if (op !== undefined && term !== undefined && !this.opAt.has(op)) this.opAt.set(op, { index, term });
    const e = this.appliedHash[index];
    if (e === undefined || e === 0) {
      this.appliedHash[index] = entryHash;
      this.stateHash[index] = fsmHash;
      return;
    }
    if (e !== entryHash) this.fail('I8', `n${node} applied a different entry at ${index}`);
    else if (this.stateHash[index] !== fsmHash) this.fail('I8', `n${node} FSM hash differs after ${index}`);
  }
}
