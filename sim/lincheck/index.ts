// Public surface of the linearizability checker.

export type { CheckOptions } from './check.ts';
export { checkKvHistory, checkPartition, modelForKey, overallVerdict } from './check.ts';
export { partitionByKey, prepareHistory } from './history.ts';
export type { KvCmd, KvInput, KvOutput, MapState } from './models.ts';
export { describeKvOp, listModel, mapModel, registerModel } from './models.ts';
export type { ShrinkBudget } from './report.ts';
export { buildCounterexample, formatCounterexample, renderTimelines, shrinkHistory } from './report.ts';
export type {
  CheckCaps,
  CheckResult,
  Counterexample,
  Model,
  Op,
  Outcome,
  PartitionResult,
  RawOp,
  Verdict,
} from './types.ts';
export { DEFAULT_CAPS } from './types.ts';
export { searchPartition } from './wgl.ts';
