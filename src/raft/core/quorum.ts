import type { NodeId } from './types.ts';

/**
 * Majority arithmetic over a voter set. Learners are never passed in: callers hand over
 * voters only, so learner acks can never satisfy a quorum (pitfall 11, I13).
 */

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest value v such that a majority of voters report >= v. With no voters the
 * result is 0: nothing can be committed or confirmed by an empty configuration.
 */
export function quorumValue(voters: readonly NodeId[], value: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const vals = voters.map(value).sort((a, b) => b - a);
  return vals[majority(voters.length) - 1] ?? 0;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Tallies only the answers of voters; other answers are ignored (pitfall 10). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = majority(voters.length);
  if (granted >= q) return 'won';
  if (voters.length - rejected < q) return 'lost';
  return 'pending';
}
