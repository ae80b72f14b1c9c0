import { bin, key, sortedZset } from '../value.ts';
import { formatDouble, getTyped, parseFloatArg, parseIntArg, putCollection, upper } from './args.ts';
import { E, fail } from './errors.ts';
import { scanCollection } from './hashes.ts';
import { arr, bulk, type CommandSpec, type CommandTx, int, NIL, type Reply } from './types.ts';

interface Z {
  scores: Map<string, number>;
  expireAtMs: number;
}

function zset(tx: CommandTx, k: Buffer): Z {
  const rec = getTyped(tx, k, 'zset');
  return { scores: new Map(rec?.value.scores ?? []), expireAtMs: rec?.expireAtMs ?? 0 };
}

function store(tx: CommandTx, k: Buffer, z: Z): void {
  putCollection(tx, k, { type: 'zset', scores: z.scores }, z.expireAtMs);
}

function score(s: number): Reply {
  return bulk(formatDouble(s));
}

function withScores(entries: [string, number][], scores: boolean): Reply {
  return arr(entries.flatMap(([m, s]) => (scores ? [bulk(bin(m)), score(s)] : [bulk(bin(m))])));
}

function zadd(tx: CommandTx, args: Buffer[]): Reply {
  const f = { nx: false, xx: false, gt: false, lt: false, ch: false, incr: false };
  let i = 2;
  for (; i < args.length; i++) {
    const o = upper(args[i]!).toLowerCase();
    if (!(o in f)) break;
    f[o as keyof typeof f] = true;
  }
  const rest = args.slice(i);
  if (rest.length === 0 || rest.length % 2 !== 0) fail(E.syntax);
  if (f.nx && f.xx) fail('ERR XX and NX options at the same time are not compatible');
  if ((f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt)) {
    fail('ERR GT, LT, and/or NX options at the same time are not compatible');
  }
  if (f.incr && rest.length > 2) fail('ERR INCR option supports a single increment-element pair');
  const pairs: [number, string][] = [];
  for (let j = 0; j < rest.length; j += 2) pairs.push([parseFloatArg(rest[j]!), key(rest[j + 1]!)]);
  const z = zset(tx, args[1]!);
  let added = 0;
  let changed = 0;
  let result: number | undefined;
  for (const [s, m] of pairs) {
    const cur = z.scores.get(m);
    if ((f.nx && cur !== undefined) || (f.xx && cur === undefined)) continue;
    let next = s;
    if (f.incr) {
      next = (cur ?? 0) + s;
      if (Number.isNaN(next)) fail('ERR resulting score is not a number (NaN)');
    }
    if (cur !== undefined && ((f.gt && next <= cur) || (f.lt && next >= cur))) continue;
    if (cur === undefined) added++;
    else if (cur !== next) changed++;
    z.scores.set(m, next);
    result = next;
  }
  if (added + changed > 0) store(tx, args[1]!, z);
  if (f.incr) return result === undefined ? NIL : score(result);
  return int(f.ch ? added + changed : added);
}

interface ScoreBound {
  v: number;
  open: boolean;
}

function parseScoreBound(b: Buffer): ScoreBound {
  const s = b.toString('latin1');
  const open = s.startsWith('(');
  return { v: parseFloatArg(open ? bin(s.slice(1)) : b, E.minMaxFloat), open };
}

function inScore(s: number, min: ScoreBound, max: ScoreBound): boolean {
  return (min.open ? s > min.v : s >= min.v) && (max.open ? s < max.v : s <= max.v);
}

interface LexBound {
  v: string;
  open: boolean;
  inf?: -1 | 1;
}

function parseLexBound(b: Buffer): LexBound {
  const s = b.toString('latin1');
  if (s === '-') return { v: '', open: false, inf: -1 };
  if (s === '+') return { v: '', open: false, inf: 1 };
  if (s.startsWith('(') || s.startsWith('[')) return { v: s.slice(1), open: s.startsWith('(') };
  return fail(E.minMaxRange);
}

function inLex(m: string, min: LexBound, max: LexBound): boolean {
  const aboveMin = min.inf === -1 ? true : min.inf === 1 ? false : min.open ? m > min.v : m >= min.v;
  const belowMax = max.inf === 1 ? true : max.inf === -1 ? false : max.open ? m < max.v : m <= max.v;
  return aboveMin && belowMax;
}

function limit(entries: [string, number][], lim: [number, number] | undefined): [string, number][] {
  if (lim === undefined) return entries;
  const [off, count] = lim;
  if (off < 0) return [];
  return count < 0 ? entries.slice(off) : entries.slice(off, off + count);
}

type RangeBy = 'rank' | 'score' | 'lex';

function zrangeGeneric(
  tx: CommandTx,
  k: Buffer,
  lo: Buffer,
  hi: Buffer,
  o: { by: RangeBy; rev: boolean; lim?: [number, number] | undefined; scores: boolean },
): Reply {
  if (o.lim !== undefined && o.by === 'rank') {
    fail('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
  }
  if (o.scores && o.by === 'lex')
    fail('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
  // With REV, score and lex ranges are given as max then min.
  const [a, b] = o.rev && o.by !== 'rank' ? [hi, lo] : [lo, hi];
  let entries = sortedZset(zset(tx, k).scores);
  if (o.rev) entries.reverse();
  if (o.by === 'rank') {
    let start = parseIntArg(a);
    let stop = parseIntArg(b);
    const n = entries.length;
    if (start < 0) start = Math.max(0, n + start);
    if (stop < 0) stop = n + stop;
    if (stop >= n) stop = n - 1;
    entries = start > stop ? [] : entries.slice(start, stop + 1);
  } else if (o.by === 'score') {
    const min = parseScoreBound(a);
    const max = parseScoreBound(b);
    entries = limit(
      entries.filter(([, s]) => inScore(s, min, max)),
      o.lim,
    );
  } else {
    const min = parseLexBound(a);
    const max = parseLexBound(b);
    entries = limit(
      entries.filter(([m]) => inLex(m, min, max)),
      o.lim,
    );
  }
  return withScores(entries, o.scores);
}

function zrange(tx: CommandTx, args: Buffer[]): Reply {
  const o: { by: RangeBy; rev: boolean; lim?: [number, number]; scores: boolean } = {
    by: 'rank',
    rev: false,
    scores: false,
  };
  for (let i = 4; i < args.length; i++) {
    const opt = upper(args[i]!);
    if (opt === 'BYSCORE') o.by = 'score';
    else if (opt === 'BYLEX') o.by = 'lex';
    else if (opt === 'REV') o.rev = true;
    else if (opt === 'WITHSCORES') o.scores = true;
    else if (opt === 'LIMIT' && i + 2 < args.length) {
      o.lim = [parseIntArg(args[i + 1]!), parseIntArg(args[i + 2]!)];
      i += 2;
    } else fail(E.syntax);
  }
  return zrangeGeneric(tx, args[1]!, args[2]!, args[3]!, o);
}

function zrangebyscore(tx: CommandTx, args: Buffer[], rev: boolean): Reply {
  let scores = false;
  let lim: [number, number] | undefined;
  for (let i = 4; i < args.length; i++) {
    const opt = upper(args[i]!);
    if (opt === 'WITHSCORES') scores = true;
    else if (opt === 'LIMIT' && i + 2 < args.length) {
      lim = [parseIntArg(args[i + 1]!), parseIntArg(args[i + 2]!)];
      i += 2;
    } else fail(E.syntax);
  }
  // ZREVRANGEBYSCORE takes max first, exactly like ZRANGE … BYSCORE REV.
  return zrangeGeneric(tx, args[1]!, args[2]!, args[3]!, { by: 'score', rev, lim, scores });
}

function zrank(tx: CommandTx, args: Buffer[], rev: boolean): Reply {
  const entries = sortedZset(zset(tx, args[1]!).scores);
  const i = entries.findIndex(([m]) => m === key(args[2]!));
  if (i < 0) return NIL;
  return int(rev ? entries.length - 1 - i : i);
}

function zpop(tx: CommandTx, args: Buffer[], max: boolean): Reply {
  if (args.length > 3) fail(E.syntax);
  const count = args.length === 3 ? parseIntArg(args[2]!, E.outOfRangePositive) : 1;
  if (count < 0) fail(E.outOfRangePositive);
  const z = zset(tx, args[1]!);
  const entries = sortedZset(z.scores);
  if (max) entries.reverse();
  const taken = entries.slice(0, count);
  for (const [m] of taken) z.scores.delete(m);
  if (taken.length > 0) store(tx, args[1]!, z);
  return withScores(taken, true);
}

export const zsetCommands: CommandSpec[] = [
  { name: 'zadd', arity: -4, write: true, run: zadd },
  {
    name: 'zrem',
    arity: -3,
    write: true,
    run: (tx, a) => {
      const z = zset(tx, a[1]!);
      let n = 0;
      for (const m of a.slice(2)) if (z.scores.delete(key(m))) n++;
      if (n > 0) store(tx, a[1]!, z);
      return int(n);
    },
  },
  {
    name: 'zscore',
    arity: 3,
    write: false,
    run: (tx, a) => {
      const s = zset(tx, a[1]!).scores.get(key(a[2]!));
      return s === undefined ? NIL : score(s);
    },
  },
  {
    name: 'zincrby',
    arity: 4,
    write: true,
    run: (tx, a) => {
      const by = parseFloatArg(a[2]!);
      const z = zset(tx, a[1]!);
      const next = (z.scores.get(key(a[3]!)) ?? 0) + by;
      if (Number.isNaN(next)) fail('ERR resulting score is not a number (NaN)');
      z.scores.set(key(a[3]!), next);
      store(tx, a[1]!, z);
      return score(next);
    },
  },
  { name: 'zcard', arity: 2, write: false, run: (tx, a) => int(zset(tx, a[1]!).scores.size) },
  {
    name: 'zcount',
    arity: 4,
    write: false,
    run: (tx, a) => {
      const min = parseScoreBound(a[2]!);
      const max = parseScoreBound(a[3]!);
      return int([...zset(tx, a[1]!).scores.values()].filter((s) => inScore(s, min, max)).length);
    },
  },
  { name: 'zrange', arity: -4, write: false, run: zrange },
  { name: 'zrangebyscore', arity: -4, write: false, run: (tx, a) => zrangebyscore(tx, a, false) },
  { name: 'zrevrangebyscore', arity: -4, write: false, run: (tx, a) => zrangebyscore(tx, a, true) },
  {
    name: 'zrevrange',
    arity: -4,
    write: false,
    run: (tx, a) => {
      if (a.length > 5 || (a.length === 5 && upper(a[4]!) !== 'WITHSCORES')) fail(E.syntax);
      return zrangeGeneric(tx, a[1]!, a[2]!, a[3]!, { by: 'rank', rev: true, scores: a.length === 5 });
    },
  },
  { name: 'zrank', arity: 3, write: false, run: (tx, a) => zrank(tx, a, false) },
  { name: 'zrevrank', arity: 3, write: false, run: (tx, a) => zrank(tx, a, true) },
  { name: 'zpopmin', arity: -2, write: true, run: (tx, a) => zpop(tx, a, false) },
  { name: 'zpopmax', arity: -2, write: true, run: (tx, a) => zpop(tx, a, true) },
  {
    name: 'zscan',
    arity: -3,
    write: false,
    run: (tx, a) =>
      scanCollection(
        a,
        sortedZset(zset(tx, a[1]!).scores).map(([m, s]) => [bin(m), Buffer.from(formatDouble(s))]),
      ),
  },
];
