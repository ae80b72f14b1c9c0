// Turns raw client records into checker ops: definite results keep their output, ops that
// definitely did not happen are removed, ambiguous ones become pending (ret = +Infinity,
// any output). A pending read cannot constrain anything, so it is dropped.

import type { Model, Op, RawOp } from './types.ts';

export function prepareHistory<S, I, O>(model: Model<S, I, O>, raw: readonly RawOp<I, O>[]): Op<I, O>[] {
  const ops: Op<I, O>[] = [];
  for (const r of raw) {
    if (r.outcome === 'failed') continue;
    if (r.outcome === 'unknown') {
      if (model.isRead(r.input)) continue;
      ops.push({ ...pick(r), ret: Number.POSITIVE_INFINITY, output: undefined });
      continue;
    }
    if (!(r.ret >= r.call)) throw new RangeError(`op ${r.id}: ret ${r.ret} before call ${r.call}`);
    ops.push({ ...pick(r), ret: r.ret, output: r.output });
  }
  return ops;
}

function pick<I, O>(r: RawOp<I, O>): Pick<Op<I, O>, 'id' | 'client' | 'key' | 'input' | 'call'> {
  return { id: r.id, client: r.client, key: r.key, input: r.input, call: r.call };
}

/** Group ops by key, keys in sorted order so results are stable. */
export function partitionByKey<I, O>(ops: readonly Op<I, O>[]): Map<string, Op<I, O>[]> {
  const byKey = new Map<string, Op<I, O>[]>();
  for (const key of [...new Set(ops.map((o) => o.key))].sort()) byKey.set(key, []);
  for (const op of ops) byKey.get(op.key)!.push(op);
  return byKey;
}
