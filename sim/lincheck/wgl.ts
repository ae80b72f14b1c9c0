// Wing–Gong–Lowe search with Lowe's memoisation, Porcupine style (docs/spec/raft.md §5).
// Calls and returns form a doubly linked list; linearizing an op unlinks both of its
// events, and backtracking relinks them. A (bitset of linearized ops, model state) pair is
// explored at most once.

import { splitmix32 } from '../prng.ts';
import type { CheckCaps, Model, Op, Verdict } from './types.ts';

export interface SearchOutcome<S> {
  readonly verdict: Verdict;
  readonly steps: number;
  readonly reason?: string;
  /** Longest linearizable prefix (op indexes in order) and the state after it; illegal only. */
  readonly longest?: { readonly order: readonly number[]; readonly state: S };
  /** Per op: length of the longest linearizable prefix that contained it (0 if never placed). */
  readonly bestLenByOp?: Int32Array;
}

const NIL = -1;

interface EventList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** Op index of each node (node 0 is the head sentinel). */
  readonly opOf: Int32Array;
  /** For a call node, its return node; 0 for return nodes. */
  readonly retOf: Int32Array;
}

function buildEvents<I, O>(ops: readonly Op<I, O>[]): EventList {
  const n = ops.length;
  const evs: { time: number; isCall: boolean; op: number }[] = [];
  ops.forEach((o, i) => {
    evs.push({ time: o.call, isCall: true, op: i });
    evs.push({ time: o.ret, isCall: false, op: i });
  });
  // Calls before returns at equal times: touching ops count as concurrent.
  evs.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op);
  const size = 2 * n + 1;
  const list: EventList = {
    next: new Int32Array(size),
    prev: new Int32Array(size),
    opOf: new Int32Array(size),
    retOf: new Int32Array(size),
  };
  const callNode = new Int32Array(n);
  evs.forEach((e, i) => {
    const node = i + 1;
    list.opOf[node] = e.op;
    list.prev[node] = node - 1;
    list.next[node - 1] = node;
    if (e.isCall) callNode[e.op] = node;
    else list.retOf[callNode[e.op]!] = node;
  });
  list.next[size - 1] = NIL;
  list.prev[0] = NIL;
  return list;
}

function unlink(l: EventList, node: number): void {
  const p = l.prev[node]!;
  const nx = l.next[node]!;
  l.next[p] = nx;
  if (nx !== NIL) l.prev[nx] = p;
}

function relink(l: EventList, node: number): void {
  const p = l.prev[node]!;
  const nx = l.next[node]!;
  l.next[p] = node;
  if (nx !== NIL) l.prev[nx] = node;
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Memo of visited (bitset, state) pairs; keys hash both, entries compare exactly. */
class Memo {
  private readonly table = new Map<number, { bits: Uint32Array; state: string }[]>();

  /** Adds the pair; false if it was already present. */
  add(bitsHash: number, bits: Uint32Array, state: string): boolean {
    const key = (bitsHash ^ Math.imul(fnv(state), 0x9e3779b1)) >>> 0;
    const bucket = this.table.get(key);
    if (bucket === undefined) {
      this.table.set(key, [{ bits: bits.slice(), state }]);
      return true;
    }
    for (const e of bucket) if (e.state === state && sameBits(e.bits, bits)) return false;
    bucket.push({ bits: bits.slice(), state });
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Fixed per-op random words so the bitset hash updates in O(1) per toggle. */
function zobrist(n: number): Uint32Array {
  const z = new Uint32Array(n);
  let st = 0x5eed;
  for (let i = 0; i < n; i++) [z[i], st] = splitmix32(st);
  return z;
}

interface Frame<S> {
  readonly node: number;
  readonly state: S;
}

const CLOCK_EVERY_STEPS = 4096;

export function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Op<I, O>[],
  caps: CheckCaps,
  record = false,
): SearchOutcome<S> {
  if (ops.length > caps.maxOps)
    return { verdict: 'unknown', steps: 0, reason: `ops ${ops.length} > cap ${caps.maxOps}` };
  const l = buildEvents(ops);
  const bits = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const z = zobrist(ops.length);
  const memo = new Memo();
  const stack: Frame<S>[] = [];
  const bestLenByOp = record ? new Int32Array(ops.length) : undefined;
  let best: { order: number[]; state: S } | undefined;
  let bitsHash = 0;
  let state = model.init();
  let node = l.next[0]!;
  let steps = 0;
  const startMs = caps.clockMs?.();
  const toggle = (op: number): void => {
    bits[op >>> 5]! ^= 1 << (op & 31);
    bitsHash = (bitsHash ^ z[op]!) >>> 0;
  };
  while (l.next[0] !== NIL) {
    if (++steps > caps.maxSteps) return { verdict: 'unknown', steps, reason: `steps > cap ${caps.maxSteps}` };
    if (
      startMs !== undefined &&
      steps % CLOCK_EVERY_STEPS === 0 &&
      caps.clockMs!() - startMs > (caps.maxMs ?? Infinity)
    ) {
      return { verdict: 'unknown', steps, reason: `time > cap ${caps.maxMs} ms` };
    }
    const op = l.opOf[node]!;
    const ret = l.retOf[node]!;
    if (ret !== 0) {
      const o = ops[op]!;
      const next = model.step(state, o.input, o.output);
      if (next !== undefined) {
        toggle(op);
        if (memo.add(bitsHash, bits, model.hash(next))) {
          stack.push({ node, state });
          state = next;
          unlink(l, node);
          unlink(l, ret);
          if (record) best = noteProgress(stack, l, bestLenByOp!, best, state);
          node = l.next[0]!;
          continue;
        }
        toggle(op);
      }
      node = l.next[node]!;
      continue;
    }
    // A return whose call is still linked: this branch cannot place that op in time.
    const top = stack.pop();
    if (top === undefined) {
      return { verdict: 'illegal', steps, longest: best ?? { order: [], state: model.init() }, bestLenByOp };
    }
    state = top.state;
    toggle(l.opOf[top.node]!);
    relink(l, l.retOf[top.node]!);
    relink(l, top.node);
    node = l.next[top.node]!;
  }
  return { verdict: 'ok', steps };
}

function noteProgress<S>(
  stack: readonly Frame<S>[],
  l: EventList,
  bestLenByOp: Int32Array,
  best: { order: number[]; state: S } | undefined,
  state: S,
): { order: number[]; state: S } | undefined {
  const len = stack.length;
  const op = l.opOf[stack[len - 1]!.node]!;
  if (len > bestLenByOp[op]!) bestLenByOp[op] = len;
  if (best !== undefined && best.order.length >= len) return best;
  return { order: stack.map((f) => l.opOf[f.node]!), state };
}
