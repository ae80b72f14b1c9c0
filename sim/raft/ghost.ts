// Ghost state of docs/spec/raft.md §1: facts no node can see, recorded as the run goes and
// compared with every node after every event. The first violation stops the run.

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
  /** I8: content hash of the entry applied at each index, and the FSM hash after it. */
  readonly appliedHash: number[] = [0];
  readonly stateHash: number[] = [0];
  /** I2: the candidate each voter granted in each term (`term/voter` → candidate). */
  readonly voteOf = new Map<string, string>();
  /** I15: the highest commit index any node has reached. */
  maxCommit = 0;
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
    const need = Math.floor(holds.length / 2) + 1;
    for (let i = 1; i <= this.maxCommit; i++) {
      const t = this.committedTerm[i];
      let holders = 0;
      for (const f of holds) if (f(i, t)) holders++;
      if (holders < need) {
        this.fail('I9', `committed ${t ?? '?'}/${i} durable on ${holders} of ${holds.length} nodes`);
        return;
      }
    }
  }

  chain(node: number, index: number, term: number, hash: number): void {
    const key = `${index}/${term}`;
    const prev = this.chainAt.get(key);
    if (prev === undefined) this.chainAt.set(key, hash);
    else if (prev !== hash) this.fail('I5', `n${node} holds ${term}/${index} with a different log prefix`);
  }

  committed(node: number, index: number, term: number | undefined): void {
    if (index > this.maxCommit) this.maxCommit = index;
    const prev = this.committedTerm[index];
    if (prev === undefined || prev === 0) {
      if (term === undefined) this.fail('I7', `n${node} commit covers ${index} but holds no entry there`);
      else this.committedTerm[index] = term;
    } else if (prev !== term) {
      this.fail('I7', `n${node} has t${term ?? '?'} at committed ${index} (committed in t${prev})`);
    }
  }

  applied(node: number, index: number, entryHash: number, fsmHash: number): void {
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
