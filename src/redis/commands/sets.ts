import { bin, key } from '../value.ts';
import { getTyped, parseIntArg, putCollection } from './args.ts';
import { E, fail } from './errors.ts';
import { scanCollection } from './hashes.ts';
import { arr, bulk, bulks, type CommandSpec, type CommandTx, int, NIL, type Reply } from './types.ts';

function set(tx: CommandTx, k: Buffer): { members: Set<string>; expireAtMs: number } {
  const rec = getTyped(tx, k, 'set');
  return { members: new Set(rec?.value.members ?? []), expireAtMs: rec?.expireAtMs ?? 0 };
}

function store(tx: CommandTx, k: Buffer, s: { members: Set<string>; expireAtMs: number }): void {
  putCollection(tx, k, { type: 'set', members: s.members }, s.expireAtMs);
}

function sorted(members: Iterable<string>): Buffer[] {
  return [...members].sort().map(bin);
}

function optionalCount(args: Buffer[]): number | undefined {
  if (args.length > 3) fail(E.syntax);
  return args.length === 3 ? parseIntArg(args[2]!) : undefined;
}

function spop(tx: CommandTx, args: Buffer[]): Reply {
  const count = optionalCount(args);
  if (count !== undefined && count < 0) fail(E.outOfRangePositive);
  const s = set(tx, args[1]!);
  const pool = [...s.members];
  const n = Math.min(count ?? 1, pool.length);
  const taken: string[] = [];
  for (let i = 0; i < n; i++) {
    const j = Math.floor(tx.random() * pool.length);
    taken.push(pool[j]!);
    pool[j] = pool[pool.length - 1]!;
    pool.pop();
  }
  for (const m of taken) s.members.delete(m);
  if (taken.length > 0) store(tx, args[1]!, s);
  if (count === undefined) return taken.length === 0 ? NIL : bulk(bin(taken[0]!));
  return bulks(taken.map(bin));
}

function srandmember(tx: CommandTx, args: Buffer[]): Reply {
  const count = optionalCount(args);
  const pool = [...set(tx, args[1]!).members];
  if (count === undefined)
    return pool.length === 0 ? NIL : bulk(bin(pool[Math.floor(tx.random() * pool.length)]!));
  if (count >= 0) {
    const copy = pool.slice();
    const out: string[] = [];
    while (out.length < count && copy.length > 0) {
      const j = Math.floor(tx.random() * copy.length);
      out.push(copy[j]!);
      copy[j] = copy[copy.length - 1]!;
      copy.pop();
    }
    return bulks(out.map(bin));
  }
  if (pool.length === 0) return arr([]);
  const out: Buffer[] = [];
  for (let i = 0; i < -count; i++) out.push(bin(pool[Math.floor(tx.random() * pool.length)]!));
  return bulks(out);
}

function combine(tx: CommandTx, keys: Buffer[], op: 'inter' | 'union' | 'diff'): Set<string> {
  const sets = keys.map((k) => set(tx, k).members);
  let acc = new Set(sets[0]);
  for (const s of sets.slice(1)) {
    if (op === 'union') for (const m of s) acc.add(m);
    else acc = new Set([...acc].filter((m) => (op === 'inter' ? s.has(m) : !s.has(m))));
  }
  return acc;
}

export const setCommands: CommandSpec[] = [
  {
    name: 'sadd',
    arity: -3,
    write: true,
    run: (tx, a) => {
      const s = set(tx, a[1]!);
      const before = s.members.size;
      for (const m of a.slice(2)) s.members.add(key(m));
      if (s.members.size !== before) store(tx, a[1]!, s);
      return int(s.members.size - before);
    },
  },
  {
    name: 'srem',
    arity: -3,
    write: true,
    run: (tx, a) => {
      const s = set(tx, a[1]!);
      let n = 0;
      for (const m of a.slice(2)) if (s.members.delete(key(m))) n++;
      if (n > 0) store(tx, a[1]!, s);
      return int(n);
    },
  },
  { name: 'smembers', arity: 2, write: false, run: (tx, a) => bulks(sorted(set(tx, a[1]!).members)) },
  {
    name: 'sismember',
    arity: 3,
    write: false,
    run: (tx, a) => int(set(tx, a[1]!).members.has(key(a[2]!)) ? 1 : 0),
  },
  {
    name: 'smismember',
    arity: -3,
    write: false,
    run: (tx, a) => {
      const s = set(tx, a[1]!).members;
      return arr(a.slice(2).map((m) => int(s.has(key(m)) ? 1 : 0)));
    },
  },
  { name: 'scard', arity: 2, write: false, run: (tx, a) => int(set(tx, a[1]!).members.size) },
  { name: 'spop', arity: -2, write: true, run: spop },
  { name: 'srandmember', arity: -2, write: false, run: srandmember },
  {
    name: 'sinter',
    arity: -2,
    write: false,
    run: (tx, a) => bulks(sorted(combine(tx, a.slice(1), 'inter'))),
  },
  {
    name: 'sunion',
    arity: -2,
    write: false,
    run: (tx, a) => bulks(sorted(combine(tx, a.slice(1), 'union'))),
  },
  { name: 'sdiff', arity: -2, write: false, run: (tx, a) => bulks(sorted(combine(tx, a.slice(1), 'diff'))) },
  {
    name: 'sscan',
    arity: -3,
    write: false,
    run: (tx, a) =>
      scanCollection(
        a,
        sorted(set(tx, a[1]!).members).map((m) => [m, undefined]),
      ),
  },
];
