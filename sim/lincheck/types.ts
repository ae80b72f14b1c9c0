// Types shared by the linearizability checker (docs/spec/raft.md §5).

/** A history op as the checker sees it: definite ops have an output, pending ones do not. */
export interface Op<I, O> {
  readonly id: number;
  readonly client: number;
  /** Partition key; multi-key ops use a descriptive key such as "*". */
  readonly key: string;
  readonly input: I;
  /** Virtual ms at invocation. */
  readonly call: number;
  /** Virtual ms at response; +Infinity for a pending op. */
  readonly ret: number;
  /** undefined for a pending op: the model accepts any output for it. */
  readonly output: O | undefined;
}

/** How the client saw an op end. */
export type Outcome = 'ok' | 'failed' | 'unknown';

/** A raw client record before preparation (see history.ts). */
export interface RawOp<I, O> {
  readonly id: number;
  readonly client: number;
  readonly key: string;
  readonly input: I;
  readonly call: number;
  /** Response time; ignored unless outcome is 'ok'. */
  readonly ret: number;
  readonly outcome: Outcome;
  readonly output?: O;
}

/**
 * A sequential specification. States are immutable values; `hash` must be canonical so
 * that equal states give equal strings (it is also the exact memo comparison).
 */
export interface Model<S, I, O> {
  readonly name: string;
  init(): S;
  /** The state after applying input with the observed output, or undefined if illegal. */
  step(state: S, input: I, output: O | undefined): S | undefined;
  hash(state: S): string;
  /** True for ops that never change state (their pending form is dropped). */
  isRead(input: I): boolean;
  describeOp(input: I, output: O | undefined): string;
  describeState(state: S): string;
}

export interface CheckCaps {
  /** Partitions with more ops than this are not searched: result unknown. */
  readonly maxOps: number;
  /** Search steps (model steps plus backtracks) per partition before giving up. */
  readonly maxSteps: number;
  /** Optional injected wall clock in ms and a per-partition budget for it. */
  readonly clockMs?: () => number;
  readonly maxMs?: number;
}

export const DEFAULT_CAPS: CheckCaps = { maxOps: 2000, maxSteps: 5_000_000 };

export type Verdict = 'ok' | 'illegal' | 'unknown';

/** Diagnostics of a non-linearizable partition. */
export interface Counterexample<I, O> {
  readonly key: string;
  /** Longest linearizable prefix found, in linearization order. */
  readonly prefix: readonly Op<I, O>[];
  /** The model state after that prefix. */
  readonly stateAtEnd: string;
  /** Ops that were eligible next but no model step accepted. */
  readonly blocked: readonly Op<I, O>[];
  /** The (shrunk) ops that still fail, and their per-client timelines. */
  readonly ops: readonly Op<I, O>[];
  readonly timelines: string;
}

export interface PartitionResult<I, O> {
  readonly key: string;
  readonly verdict: Verdict;
  readonly steps: number;
  /** Why the result is unknown (which cap was hit). */
  readonly reason?: string;
  readonly counterexample?: Counterexample<I, O>;
}

export interface CheckResult<I, O> {
  readonly verdict: Verdict;
  readonly partitions: readonly PartitionResult<I, O>[];
}
