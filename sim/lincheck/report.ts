// Counterexamples for a non-linearizable partition: greedy shrinking, the longest
// linearizable prefix with its end state, the ops that could not go next, and per-client
// timelines such as `c3 |--put k 7--|`.

import type { CheckCaps, Counterexample, Model, Op } from './types.ts';
import { searchPartition } from './wgl.ts';

export interface ShrinkBudget<I = unknown, O = unknown> {
  /** Maximum number of re-checks while shrinking. */
  readonly maxChecks: number;
  /** Optional injected wall clock and a budget for it. */
  readonly clockMs?: () => number;
  readonly maxMs?: number;
  /**
   * Optional guard: a deletion is kept only if the remaining ops still satisfy it. Used to
   * keep every value a read observed backed by a write, so shrinking does not end on a
   * trivial "read of a value nobody wrote".
   */
  readonly keep?: (ops: readonly Op<I, O>[]) => boolean;
}

export const DEFAULT_SHRINK: { readonly maxChecks: number } = { maxChecks: 400 };

function shrinkOrder<S, I, O>(model: Model<S, I, O>, ops: readonly Op<I, O>[]): Op<I, O>[] {
  const rank = (o: Op<I, O>): number => (o.output === undefined ? 2 : model.isRead(o.input) ? 0 : 1);
  return [...ops].sort((a, b) => rank(a) - rank(b) || a.id - b.id);
}

/**
 * Delete one op at a time (reads, then writes, then pending), keeping a deletion only while
 * the history stays non-linearizable. An unknown verdict counts as "not proven illegal".
 */
export function shrinkHistory<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Op<I, O>[],
  caps: CheckCaps,
  budget: ShrinkBudget<I, O> = DEFAULT_SHRINK,
): Op<I, O>[] {
  let cur = [...ops];
  const startMs = budget.clockMs?.();
  let checks = 0;
  for (const victim of shrinkOrder(model, ops)) {
    if (checks++ >= budget.maxChecks) break;
    if (startMs !== undefined && budget.clockMs!() - startMs > (budget.maxMs ?? Infinity)) break;
    const trial = cur.filter((o) => o !== victim);
    if (budget.keep !== undefined && !budget.keep(trial)) continue;
    if (searchPartition(model, trial, caps).verdict === 'illegal') cur = trial;
  }
  return cur;
}

/** Ops that were eligible right after the prefix (real-time minimal) but no step accepted. */
function blockedAfter<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Op<I, O>[],
  placed: ReadonlySet<number>,
  state: S,
): Op<I, O>[] {
  const rest = ops.map((o, i) => ({ o, i })).filter(({ i }) => !placed.has(i));
  const firstRet = Math.min(...rest.map(({ o }) => o.ret));
  const eligible = rest.filter(({ o }) => o.call <= firstRet).map(({ o }) => o);
  const illegal = eligible.filter((o) => model.step(state, o.input, o.output) === undefined);
  return illegal.length > 0 ? illegal : eligible;
}

export function buildCounterexample<S, I, O>(
  model: Model<S, I, O>,
  key: string,
  ops: readonly Op<I, O>[],
  caps: CheckCaps,
  budget: ShrinkBudget<I, O> = DEFAULT_SHRINK,
): Counterexample<I, O> {
  const small = shrinkHistory(model, ops, caps, budget);
  const out = searchPartition(model, small, caps, true);
  const order = out.longest?.order ?? [];
  const state = out.longest?.state ?? model.init();
  return {
    key,
    prefix: order.map((i) => small[i]!),
    stateAtEnd: model.describeState(state),
    blocked: out.verdict === 'illegal' ? blockedAfter(model, small, new Set(order), state) : [],
    ops: small,
    timelines: renderTimelines(model, small),
  };
}

const COLS_PER_TICK = 4;

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(3);
}

/** One line per client; op boxes are placed by the rank of their call and return times. */
export function renderTimelines<S, I, O>(model: Model<S, I, O>, ops: readonly Op<I, O>[]): string {
  const times = [...new Set(ops.flatMap((o) => [o.call, o.ret]).filter(Number.isFinite))].sort(
    (a, b) => a - b,
  );
  const col = (t: number): number =>
    Number.isFinite(t) ? times.indexOf(t) * COLS_PER_TICK : Number.MAX_SAFE_INTEGER;
  const clients = [...new Set(ops.map((o) => o.client))].sort((a, b) => a - b);
  const width = Math.max(...clients.map((c) => `c${c}`.length));
  const lines = clients.map((c) => {
    const mine = ops.filter((o) => o.client === c).sort((a, b) => a.call - b.call || a.id - b.id);
    return `${`c${c}`.padEnd(width)} ${clientRow(model, mine, col)}`;
  });
  const window =
    times.length > 0 ? `window ${fmtMs(times[0]!)}..${fmtMs(times[times.length - 1]!)} ms` : 'window empty';
  const legend = ops
    .slice()
    .sort((a, b) => a.call - b.call || a.id - b.id)
    .map(
      (o) =>
        `  #${o.id} c${o.client} [${fmtMs(o.call)}, ${fmtMs(o.ret)}] ${model.describeOp(o.input, o.output)}`,
    );
  return [window, ...lines, ...legend].join('\n');
}

function clientRow<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Op<I, O>[],
  col: (t: number) => number,
): string {
  let row = '';
  for (const o of ops) {
    const start = Math.max(col(o.call), row.length === 0 ? 0 : row.length + 1);
    const label = model.describeOp(o.input, o.output);
    const pending = !Number.isFinite(o.ret);
    const minBody = label.length + 6;
    const span = pending ? minBody : Math.max(minBody, col(o.ret) - start + 1);
    const dashes = span - label.length - 2;
    const left = '-'.repeat(Math.max(2, Math.floor(dashes / 2)));
    const right = '-'.repeat(Math.max(2, dashes - left.length));
    row = `${row.padEnd(start)}|${left}${label}${right}${pending ? '…' : '|'}`;
  }
  return row;
}

/** Multi-line human report of a counterexample. */
export function formatCounterexample<S, I, O>(model: Model<S, I, O>, cx: Counterexample<I, O>): string {
  const prefix = cx.prefix.map((o) => `#${o.id}`).join(' ') || '(empty)';
  const blocked =
    cx.blocked.map((o) => `#${o.id} ${model.describeOp(o.input, o.output)}`).join('; ') || '(none)';
  return [
    `not linearizable: key=${cx.key} ops=${cx.ops.length}`,
    `longest linearizable prefix: ${prefix}`,
    `state after prefix: ${cx.stateAtEnd}`,
    `cannot place next: ${blocked}`,
    cx.timelines,
  ].join('\n');
}
