// Entry points of the checker: a generic per-partition check, and the key-value history
// check that splits single-key ops by key and falls back to the whole-map model when
// MULTI/EXEC batches are present.

import { dropUnobservedPending, valuesGrounded } from './grounded.ts';
import { partitionByKey, prepareHistory } from './history.ts';
import { looseListModelFor } from './listfast.ts';
import { type KvInput, type KvOutput, listModel, mapModel, registerModel } from './models.ts';
import { buildCounterexample, DEFAULT_SHRINK, type ShrinkBudget } from './report.ts';
import type { CheckCaps, CheckResult, Model, Op, PartitionResult, RawOp, Verdict } from './types.ts';
import { DEFAULT_CAPS } from './types.ts';
import { searchPartition } from './wgl.ts';

export interface CheckOptions<I = KvInput, O = KvOutput> {
  readonly caps?: CheckCaps;
  readonly shrink?: ShrinkBudget<I, O>;
}

export function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  key: string,
  ops: readonly Op<I, O>[],
  opts: CheckOptions<I, O> = {},
): PartitionResult<I, O> {
  const caps = opts.caps ?? DEFAULT_CAPS;
  const out = searchPartition(model, ops, caps);
  if (out.verdict !== 'illegal') {
    return out.reason === undefined
      ? { key, verdict: out.verdict, steps: out.steps }
      : { key, verdict: out.verdict, steps: out.steps, reason: out.reason };
  }
  const counterexample = buildCounterexample(model, key, ops, caps, opts.shrink ?? DEFAULT_SHRINK);
  return { key, verdict: 'illegal', steps: out.steps, counterexample };
}

export function overallVerdict(parts: readonly { readonly verdict: Verdict }[]): Verdict {
  if (parts.some((p) => p.verdict === 'illegal')) return 'illegal';
  if (parts.some((p) => p.verdict === 'unknown')) return 'unknown';
  return 'ok';
}

type KvModel = Model<unknown, KvInput, KvOutput>;

/** register for get/put/cas keys, list-append for append/read keys, the map when mixed. */
export function modelForKey(ops: readonly Op<KvInput, KvOutput>[]): KvModel {
  const fs = new Set(ops.map((o) => o.input.f));
  const listOnly = [...fs].every((f) => f === 'append' || f === 'read');
  const registerOnly = [...fs].every((f) => f === 'get' || f === 'put' || f === 'cas');
  if (registerOnly) return registerModel as KvModel;
  if (listOnly) return (looseListModelFor(ops) ?? listModel) as KvModel;
  return mapModel as KvModel;
}

/** Check a key-value client history (raw records with outcomes). */
export function checkKvHistory(
  raw: readonly RawOp<KvInput, KvOutput>[],
  options: CheckOptions = {},
): CheckResult<KvInput, KvOutput> & { readonly modelOf: (key: string) => KvModel } {
  const opts: CheckOptions = {
    ...options,
    shrink: { keep: valuesGrounded, ...(options.shrink ?? DEFAULT_SHRINK) },
  };
  if (raw.some((r) => r.input.f === 'multi')) {
    const model = mapModel as KvModel;
    const ops = dropUnobservedPending(prepareHistory(model, raw)).map((o) => ({ ...o, key: '*' }));
    const partitions = [checkPartition(model, '*', ops, opts)];
    return { verdict: overallVerdict(partitions), partitions, modelOf: () => model };
  }
  const models = new Map<string, KvModel>();
  const partitions: PartitionResult<KvInput, KvOutput>[] = [];
  const prepared = dropUnobservedPending(prepareHistory(registerModel as KvModel, raw));
  for (const [key, ops] of partitionByKey(prepared)) {
    const model = modelForKey(ops);
    models.set(key, model);
    partitions.push(checkPartition(model, key, ops, opts));
  }
  return {
    verdict: overallVerdict(partitions),
    partitions,
    modelOf: (k) => models.get(k) ?? (mapModel as KvModel),
  };
}
