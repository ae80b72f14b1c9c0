import { bin, key } from '../value.ts';
import { getTyped, globMatch, parseFloatArg, parseInt64, parseIntArg, putCollection, upper } from './args.ts';
import { E, fail } from './errors.ts';
import { incrByFloatText } from './longdouble.ts';
import { arr, bulk, bulks, type CommandSpec, type CommandTx, int, OK, type Reply } from './types.ts';

function hash(tx: CommandTx, k: Buffer): { fields: Map<string, Buffer>; expireAtMs: number } {
  const rec = getTyped(tx, k, 'hash');
  return { fields: new Map(rec?.value.fields ?? []), expireAtMs: rec?.expireAtMs ?? 0 };
}

function store(tx: CommandTx, k: Buffer, h: { fields: Map<string, Buffer>; expireAtMs: number }): void {
  putCollection(tx, k, { type: 'hash', fields: h.fields }, h.expireAtMs);
}

function hset(tx: CommandTx, args: Buffer[], name: string): Reply {
  if (args.length < 4 || args.length % 2 !== 0) fail(E.arity(name));
  const h = hash(tx, args[1]!);
  let added = 0;
  for (let i = 2; i < args.length; i += 2) {
    if (!h.fields.has(key(args[i]!))) added++;
    h.fields.set(key(args[i]!), args[i + 1]!);
  }
  store(tx, args[1]!, h);
  return name === 'hmset' ? OK : int(added);
}

function hincrby(tx: CommandTx, args: Buffer[]): Reply {
  const by = parseInt64(args[3]!);
  const h = hash(tx, args[1]!);
  const cur = h.fields.get(key(args[2]!));
  const n = cur === undefined ? 0n : parseInt64(cur, E.hashNotInt);
  const next = n + by;
  if (next > 2n ** 63n - 1n || next < -(2n ** 63n)) fail(E.overflow);
  h.fields.set(key(args[2]!), Buffer.from(next.toString()));
  store(tx, args[1]!, h);
  return int(next);
}

function hincrbyfloat(tx: CommandTx, args: Buffer[]): Reply {
  parseFloatArg(args[3]!);
  const h = hash(tx, args[1]!);
  const cur = h.fields.get(key(args[2]!));
  if (cur !== undefined) parseFloatArg(cur, E.hashNotFloat);
  const sum = incrByFloatText(cur?.toString('latin1') ?? '0', args[3]!.toString('latin1'));
  if (sum === undefined) fail(E.nanOrInf);
  const text = Buffer.from(sum);
  h.fields.set(key(args[2]!), text);
  store(tx, args[1]!, h);
  return bulk(text);
}

/** HSCAN/SSCAN/ZSCAN over an in-value collection: the whole collection in one page, cursor 0. */
export function scanCollection(args: Buffer[], items: [Buffer, Buffer | undefined][]): Reply {
  parseIntArg(args[2]!, 'ERR invalid cursor');
  let match: Buffer | undefined;
  for (let i = 3; i < args.length; i++) {
    const opt = upper(args[i]!);
    if (i + 1 >= args.length) fail(E.syntax);
    if (opt === 'MATCH') match = args[++i];
    else if (opt === 'COUNT') {
      if (parseIntArg(args[++i]!) < 1) fail(E.syntax);
    } else fail(E.syntax);
  }
  const out: Buffer[] = [];
  for (const [name, value] of items) {
    if (match !== undefined && !globMatch(match, name)) continue;
    out.push(name);
    if (value !== undefined) out.push(value);
  }
  return arr([bulk('0'), bulks(out)]);
}

export const hashCommands: CommandSpec[] = [
  { name: 'hset', arity: -4, write: true, run: (tx, a) => hset(tx, a, 'hset') },
  { name: 'hmset', arity: -4, write: true, run: (tx, a) => hset(tx, a, 'hmset') },
  {
    name: 'hsetnx',
    arity: 4,
    write: true,
    run: (tx, a) => {
      const h = hash(tx, a[1]!);
      if (h.fields.has(key(a[2]!))) return int(0);
      h.fields.set(key(a[2]!), a[3]!);
      store(tx, a[1]!, h);
      return int(1);
    },
  },
  {
    name: 'hget',
    arity: 3,
    write: false,
    run: (tx, a) => bulk(hash(tx, a[1]!).fields.get(key(a[2]!)) ?? null),
  },
  {
    name: 'hmget',
    arity: -3,
    write: false,
    run: (tx, a) => {
      const h = hash(tx, a[1]!);
      return arr(a.slice(2).map((f) => bulk(h.fields.get(key(f)) ?? null)));
    },
  },
  {
    name: 'hgetall',
    arity: 2,
    write: false,
    run: (tx, a) => bulks([...hash(tx, a[1]!).fields].flatMap(([f, v]) => [bin(f), v])),
  },
  {
    name: 'hdel',
    arity: -3,
    write: true,
    run: (tx, a) => {
      const h = hash(tx, a[1]!);
      let n = 0;
      for (const f of a.slice(2)) if (h.fields.delete(key(f))) n++;
      if (n > 0) store(tx, a[1]!, h);
      return int(n);
    },
  },
  {
    name: 'hexists',
    arity: 3,
    write: false,
    run: (tx, a) => int(hash(tx, a[1]!).fields.has(key(a[2]!)) ? 1 : 0),
  },
  { name: 'hlen', arity: 2, write: false, run: (tx, a) => int(hash(tx, a[1]!).fields.size) },
  {
    name: 'hstrlen',
    arity: 3,
    write: false,
    run: (tx, a) => int(hash(tx, a[1]!).fields.get(key(a[2]!))?.length ?? 0),
  },
  {
    name: 'hkeys',
    arity: 2,
    write: false,
    run: (tx, a) => bulks([...hash(tx, a[1]!).fields.keys()].map(bin)),
  },
  { name: 'hvals', arity: 2, write: false, run: (tx, a) => bulks([...hash(tx, a[1]!).fields.values()]) },
  { name: 'hincrby', arity: 4, write: true, run: hincrby },
  { name: 'hincrbyfloat', arity: 4, write: true, run: hincrbyfloat },
  {
    name: 'hscan',
    arity: -3,
    write: false,
    run: (tx, a) =>
      scanCollection(
        a,
        [...hash(tx, a[1]!).fields].map(([f, v]) => [bin(f), v]),
      ),
  },
];
