// A faster exact model for one list-append key with unique appended values. The exact list
// model makes every order of concurrent appends a distinct state, which is factorial in the
// concurrency. Here appends not yet seen by a read stay an unordered "loose" set; the next
// read fixes their order, which is allowed exactly when it respects real time among them
// (appends between two reads can be reordered freely otherwise: nothing else observes them).

import { describeKvOp, type KvInput, type KvOutput, listModel } from './models.ts';
import type { Model, Op } from './types.ts';

export interface LooseList {
  /** Order already fixed by a read. */
  readonly fixed: readonly string[];
  /** Canonical encoding of fixed, computed once per read rather than once per step. */
  readonly fixedKey: string;
  /** Appended since, order still open; kept sorted so the state is canonical. */
  readonly loose: readonly string[];
}

interface Interval {
  readonly call: number;
  readonly ret: number;
}

function insertSorted(items: readonly string[], v: string): string[] {
  const out = [...items];
  let i = out.length;
  while (i > 0 && out[i - 1]! > v) i--;
  out.splice(i, 0, v);
  return out;
}

function readLegal(s: LooseList, out: readonly string[], span: ReadonlyMap<string, Interval>): boolean {
  if (out.length !== s.fixed.length + s.loose.length) return false;
  for (let i = 0; i < s.fixed.length; i++) if (out[i] !== s.fixed[i]) return false;
  const rest = out.slice(s.fixed.length);
  const want = new Set(s.loose);
  if (new Set(rest).size !== rest.length || !rest.every((v) => want.has(v))) return false;
  // Real time: an append that finished before another started must come first.
  for (let i = 0; i < rest.length; i++) {
    for (let j = i + 1; j < rest.length; j++) {
      if (span.get(rest[j]!)!.ret < span.get(rest[i]!)!.call) return false;
    }
  }
  return true;
}

/** A list model for these ops, or undefined when appended values repeat. */
export function looseListModelFor(
  ops: readonly Op<KvInput, KvOutput>[],
): Model<LooseList, KvInput, KvOutput> | undefined {
  const span = new Map<string, Interval>();
  for (const o of ops) {
    if (o.input.f !== 'append') continue;
    if (span.has(o.input.value)) return undefined;
    span.set(o.input.value, { call: o.call, ret: o.ret });
  }
  return {
    name: 'list-append (loose)',
    init: () => ({ fixed: [], fixedKey: listModel.hash([]), loose: [] }),
    step(state, input, output) {
      if (input.f === 'append') return { ...state, loose: insertSorted(state.loose, input.value) };
      if (input.f !== 'read') throw new TypeError(`list model cannot run ${input.f}`);
      if (output === undefined) return state;
      if (!Array.isArray(output) || !readLegal(state, output as readonly string[], span)) return undefined;
      if (state.loose.length === 0) return state;
      const fixed = output as readonly string[];
      return { fixed, fixedKey: listModel.hash(fixed), loose: [] };
    },
    hash: (s) => `${s.fixedKey}|${listModel.hash(s.loose)}`,
    isRead: listModel.isRead,
    describeOp: describeKvOp,
    describeState: (s) =>
      `[${s.fixed.join(',')}]${s.loose.length > 0 ? ` + {${s.loose.join(',')}} in any order` : ''}`,
  };
}
