import { getTyped, normaliseRange, parseIntArg, putCollection, upper } from './args.ts';
import { E, fail } from './errors.ts';
import {
  arr,
  bulk,
  bulks,
  type CommandSpec,
  type CommandTx,
  int,
  NIL,
  NIL_ARRAY,
  OK,
  type Reply,
} from './types.ts';

function list(tx: CommandTx, key: Buffer): { items: Buffer[]; expireAtMs: number } | undefined {
  const rec = getTyped(tx, key, 'list');
  return rec === undefined ? undefined : { items: rec.value.items.slice(), expireAtMs: rec.expireAtMs };
}

function store(tx: CommandTx, key: Buffer, items: Buffer[], expireAtMs: number): void {
  putCollection(tx, key, { type: 'list', items }, expireAtMs);
}

function push(tx: CommandTx, args: Buffer[], left: boolean, onlyIfExists: boolean): Reply {
  const cur = list(tx, args[1]!);
  if (cur === undefined && onlyIfExists) return int(0);
  const items = cur?.items ?? [];
  for (const v of args.slice(2)) {
    if (left) items.unshift(v);
    else items.push(v);
  }
  store(tx, args[1]!, items, cur?.expireAtMs ?? 0);
  return int(items.length);
}

function pop(tx: CommandTx, args: Buffer[], left: boolean): Reply {
  if (args.length > 3) fail(E.arity(left ? 'lpop' : 'rpop'));
  let count: number | undefined;
  if (args.length === 3) {
    count = parseIntArg(args[2]!, E.outOfRangePositive);
    if (count < 0) fail(E.outOfRangePositive);
  }
  const cur = list(tx, args[1]!);
  if (cur === undefined) return count === undefined ? NIL : NIL_ARRAY;
  const n = Math.min(count ?? 1, cur.items.length);
  const taken = left ? cur.items.splice(0, n) : cur.items.splice(cur.items.length - n, n).reverse();
  store(tx, args[1]!, cur.items, cur.expireAtMs);
  return count === undefined ? bulk(taken[0] ?? null) : bulks(taken);
}

function lrange(tx: CommandTx, args: Buffer[]): Reply {
  const start = parseIntArg(args[2]!);
  const stop = parseIntArg(args[3]!);
  const cur = list(tx, args[1]!);
  if (cur === undefined) return arr([]);
  const r = normaliseRange(start, stop, cur.items.length);
  return bulks(r === undefined ? [] : cur.items.slice(r[0], r[1] + 1));
}

function lindex(tx: CommandTx, args: Buffer[]): Reply {
  let i = parseIntArg(args[2]!);
  const cur = list(tx, args[1]!);
  if (cur === undefined) return NIL;
  if (i < 0) i += cur.items.length;
  return bulk(cur.items[i] ?? null);
}

function lset(tx: CommandTx, args: Buffer[]): Reply {
  let i = parseIntArg(args[2]!);
  const cur = list(tx, args[1]!);
  if (cur === undefined) fail(E.noSuchKey);
  if (i < 0) i += cur.items.length;
  if (i < 0 || i >= cur.items.length) fail(E.indexOutOfRange);
  cur.items[i] = args[3]!;
  store(tx, args[1]!, cur.items, cur.expireAtMs);
  return OK;
}

function lrem(tx: CommandTx, args: Buffer[]): Reply {
  const count = parseIntArg(args[2]!);
  const value = args[3]!;
  const cur = list(tx, args[1]!);
  if (cur === undefined) return int(0);
  const limit = count === 0 ? Number.POSITIVE_INFINITY : Math.abs(count);
  let removed = 0;
  const items = count < 0 ? cur.items.slice().reverse() : cur.items.slice();
  const kept: Buffer[] = [];
  for (const it of items) {
    if (removed < limit && it.equals(value)) removed++;
    else kept.push(it);
  }
  if (count < 0) kept.reverse();
  store(tx, args[1]!, kept, cur.expireAtMs);
  return int(removed);
}

function ltrim(tx: CommandTx, args: Buffer[]): Reply {
  const start = parseIntArg(args[2]!);
  const stop = parseIntArg(args[3]!);
  const cur = list(tx, args[1]!);
  if (cur === undefined) return OK;
  const r = normaliseRange(start, stop, cur.items.length);
  store(tx, args[1]!, r === undefined ? [] : cur.items.slice(r[0], r[1] + 1), cur.expireAtMs);
  return OK;
}

function lpos(tx: CommandTx, args: Buffer[]): Reply {
  let rank = 1;
  let count: number | undefined;
  let maxlen = 0;
  for (let i = 3; i < args.length; i++) {
    const opt = upper(args[i]!);
    if (i + 1 >= args.length) fail(E.syntax);
    const v = parseIntArg(args[++i]!);
    if (opt === 'RANK') {
      if (v === 0) {
        fail(
          "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        );
      }
      rank = v;
    } else if (opt === 'COUNT') {
      if (v < 0) fail("ERR COUNT can't be negative");
      count = v;
    } else if (opt === 'MAXLEN') {
      if (v < 0) fail("ERR MAXLEN can't be negative");
      maxlen = v;
    } else fail(E.syntax);
  }
  const cur = list(tx, args[1]!);
  if (cur === undefined) return count === undefined ? NIL : arr([]);
  const n = cur.items.length;
  const found: number[] = [];
  let skip = Math.abs(rank) - 1;
  const want = count === undefined ? 1 : count === 0 ? Number.POSITIVE_INFINITY : count;
  for (let step = 0; step < n && (maxlen === 0 || step < maxlen) && found.length < want; step++) {
    const i = rank > 0 ? step : n - 1 - step;
    if (!cur.items[i]!.equals(args[2]!)) continue;
    if (skip > 0) skip--;
    else found.push(i);
  }
  if (count === undefined) return found.length === 0 ? NIL : int(found[0]!);
  return arr(found.map((i) => int(i)));
}

function lmove(tx: CommandTx, src: Buffer, dst: Buffer, fromLeft: boolean, toLeft: boolean): Reply {
  const from = list(tx, src);
  if (from === undefined || from.items.length === 0) return NIL;
  const to = list(tx, dst); // the destination's type is checked before anything changes
  const v = fromLeft ? from.items.shift()! : from.items.pop()!;
  store(tx, src, from.items, from.expireAtMs);
  const target = src.equals(dst)
    ? (list(tx, dst) ?? { items: [], expireAtMs: 0 })
    : (to ?? { items: [], expireAtMs: 0 });
  if (toLeft) target.items.unshift(v);
  else target.items.push(v);
  store(tx, dst, target.items, target.expireAtMs);
  return bulk(v);
}

function side(b: Buffer): boolean {
  const s = upper(b);
  if (s === 'LEFT') return true;
  if (s === 'RIGHT') return false;
  return fail(E.syntax);
}

export const listCommands: CommandSpec[] = [
  { name: 'lpush', arity: -3, write: true, run: (tx, a) => push(tx, a, true, false) },
  { name: 'rpush', arity: -3, write: true, run: (tx, a) => push(tx, a, false, false) },
  { name: 'lpushx', arity: -3, write: true, run: (tx, a) => push(tx, a, true, true) },
  { name: 'rpushx', arity: -3, write: true, run: (tx, a) => push(tx, a, false, true) },
  { name: 'lpop', arity: -2, write: true, run: (tx, a) => pop(tx, a, true) },
  { name: 'rpop', arity: -2, write: true, run: (tx, a) => pop(tx, a, false) },
  { name: 'lrange', arity: 4, write: false, run: lrange },
  { name: 'llen', arity: 2, write: false, run: (tx, a) => int(list(tx, a[1]!)?.items.length ?? 0) },
  { name: 'lindex', arity: 3, write: false, run: lindex },
  { name: 'lset', arity: 4, write: true, run: lset },
  { name: 'lrem', arity: 4, write: true, run: lrem },
  { name: 'ltrim', arity: 4, write: true, run: ltrim },
  { name: 'lpos', arity: -3, write: false, run: lpos },
  { name: 'rpoplpush', arity: 3, write: true, run: (tx, a) => lmove(tx, a[1]!, a[2]!, false, true) },
  {
    name: 'lmove',
    arity: 5,
    write: true,
    run: (tx, a) => lmove(tx, a[1]!, a[2]!, side(a[3]!), side(a[4]!)),
  },
];
