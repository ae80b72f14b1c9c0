import { getTyped, parseFloatArg, parseInt64, parseIntArg, upper } from './args.ts';
import { E, fail } from './errors.ts';
import { incrByFloatText } from './longdouble.ts';
import { bulk, type CommandSpec, type CommandTx, int, NIL, OK, type Reply } from './types.ts';

const MAX_STRING_BYTES = 512 * 1024 * 1024;

function getString(tx: CommandTx, key: Buffer): Buffer | undefined {
  return getTyped(tx, key, 'string')?.value.data;
}

function putString(tx: CommandTx, key: Buffer, data: Buffer, expireAtMs: number): void {
  tx.put(key, { value: { type: 'string', data }, expireAtMs });
}

function ttlOf(tx: CommandTx, key: Buffer): number {
  return tx.get(key)?.expireAtMs ?? 0;
}

/** Converts EX/PX/EXAT/PXAT to an absolute ms deadline, with Redis's validity rules. */
export function expireFromOption(tx: CommandTx, opt: string, raw: Buffer, cmd: string): number {
  const n = parseInt64(raw);
  const unitMs = opt === 'EX' || opt === 'EXAT' ? 1000n : 1n;
  if (n <= 0n) fail(E.invalidExpire(cmd));
  const ms = n * unitMs;
  const abs = opt === 'EX' || opt === 'PX' ? ms + BigInt(tx.nowMs) : ms;
  if (abs > 2n ** 63n - 1n || ms / unitMs !== n) fail(E.invalidExpire(cmd));
  return Number(abs);
}

function set(tx: CommandTx, args: Buffer[]): Reply {
  const [key, value] = [args[1]!, args[2]!];
  let cond: 'NX' | 'XX' | undefined;
  let expireAt: number | undefined;
  let keepTtl = false;
  let get = false;
  for (let i = 3; i < args.length; i++) {
    const opt = upper(args[i]!);
    if ((opt === 'NX' || opt === 'XX') && cond === undefined) cond = opt;
    else if (opt === 'GET' && !get) get = true;
    else if (opt === 'KEEPTTL' && expireAt === undefined && !keepTtl) keepTtl = true;
    else if (
      ['EX', 'PX', 'EXAT', 'PXAT'].includes(opt) &&
      expireAt === undefined &&
      !keepTtl &&
      i + 1 < args.length
    ) {
      expireAt = expireFromOption(tx, opt, args[++i]!, 'set');
    } else fail(E.syntax);
  }
  // A plain SET is a blind write: reading the key would only add it to the
  // transaction's read set and make concurrent writers of one key conflict.
  const rec = get || cond !== undefined || keepTtl ? tx.get(key) : undefined;
  if (get && rec !== undefined && rec.value.type !== 'string') fail(E.wrongType);
  const old = rec?.value.type === 'string' ? rec.value.data : null;
  const exists = rec !== undefined;
  if ((cond === 'NX' && exists) || (cond === 'XX' && !exists)) return get ? bulk(old) : NIL;
  putString(tx, key, value, expireAt ?? (keepTtl ? (rec?.expireAtMs ?? 0) : 0));
  return get ? bulk(old) : OK;
}

function incrBy(tx: CommandTx, key: Buffer, by: bigint): Reply {
  const cur = getString(tx, key);
  const n = cur === undefined ? 0n : parseInt64(cur);
  const next = n + by;
  if (next > 2n ** 63n - 1n || next < -(2n ** 63n)) fail(E.overflow);
  putString(tx, key, Buffer.from(next.toString()), ttlOf(tx, key));
  return int(next);
}

function getrange(tx: CommandTx, args: Buffer[]): Reply {
  let start = parseIntArg(args[2]!);
  let end = parseIntArg(args[3]!);
  const s = getString(tx, args[1]!) ?? Buffer.alloc(0);
  const len = s.length;
  if (start < 0 && end < 0 && start > end) return bulk(Buffer.alloc(0));
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) return bulk(Buffer.alloc(0));
  return bulk(s.subarray(start, end + 1));
}

function setrange(tx: CommandTx, args: Buffer[]): Reply {
  const offset = parseIntArg(args[2]!);
  const value = args[3]!;
  if (offset < 0) fail('ERR offset is out of range');
  const cur = getString(tx, args[1]!);
  if (value.length === 0) return int(cur?.length ?? 0);
  if (offset + value.length > MAX_STRING_BYTES)
    fail('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
  const base = cur ?? Buffer.alloc(0);
  const out = Buffer.alloc(Math.max(base.length, offset + value.length));
  base.copy(out);
  value.copy(out, offset);
  putString(tx, args[1]!, out, ttlOf(tx, args[1]!));
  return int(out.length);
}

function getex(tx: CommandTx, args: Buffer[]): Reply {
  const key = args[1]!;
  let expireAt: number | undefined;
  let persist = false;
  for (let i = 2; i < args.length; i++) {
    const opt = upper(args[i]!);
    if (
      ['EX', 'PX', 'EXAT', 'PXAT'].includes(opt) &&
      expireAt === undefined &&
      !persist &&
      i + 1 < args.length
    ) {
      expireAt = expireFromOption(tx, opt, args[++i]!, 'getex');
    } else if (opt === 'PERSIST' && expireAt === undefined && !persist) persist = true;
    else fail(E.syntax);
  }
  const cur = getString(tx, key);
  if (cur === undefined) return NIL;
  if (expireAt !== undefined) putString(tx, key, cur, expireAt);
  else if (persist && ttlOf(tx, key) !== 0) putString(tx, key, cur, 0);
  return bulk(cur);
}

function msetnx(tx: CommandTx, args: Buffer[]): Reply {
  for (let i = 1; i < args.length; i += 2) if (tx.get(args[i]!) !== undefined) return int(0);
  for (let i = 1; i < args.length; i += 2) putString(tx, args[i]!, args[i + 1]!, 0);
  return int(1);
}

function incrbyfloat(tx: CommandTx, args: Buffer[]): Reply {
  // Redis checks the type, then the stored value, then the increment.
  const cur = getString(tx, args[1]!);
  if (cur !== undefined) parseFloatArg(cur);
  parseFloatArg(args[2]!);
  const sum = incrByFloatText(cur?.toString('latin1') ?? '0', args[2]!.toString('latin1'));
  if (sum === undefined) fail(E.nanOrInf);
  const text = Buffer.from(sum);
  putString(tx, args[1]!, text, ttlOf(tx, args[1]!));
  return bulk(text);
}

function evenPairs(name: string, args: Buffer[]): void {
  if (args.length % 2 !== 1) fail(E.arity(name));
}

export const stringCommands: CommandSpec[] = [
  { name: 'get', arity: 2, write: false, run: (tx, a) => bulk(getString(tx, a[1]!) ?? null) },
  { name: 'set', arity: -3, write: true, run: set },
  {
    name: 'setex',
    arity: 4,
    write: true,
    run: (tx, a) => {
      putString(tx, a[1]!, a[3]!, expireFromOption(tx, 'EX', a[2]!, 'setex'));
      return OK;
    },
  },
  {
    name: 'psetex',
    arity: 4,
    write: true,
    run: (tx, a) => {
      putString(tx, a[1]!, a[3]!, expireFromOption(tx, 'PX', a[2]!, 'psetex'));
      return OK;
    },
  },
  {
    name: 'setnx',
    arity: 3,
    write: true,
    run: (tx, a) => {
      if (tx.get(a[1]!) !== undefined) return int(0);
      putString(tx, a[1]!, a[2]!, 0);
      return int(1);
    },
  },
  {
    name: 'getdel',
    arity: 2,
    write: true,
    run: (tx, a) => {
      const cur = getString(tx, a[1]!);
      if (cur !== undefined) tx.del(a[1]!);
      return bulk(cur ?? null);
    },
  },
  { name: 'getex', arity: -2, write: true, run: getex },
  {
    name: 'mget',
    arity: -2,
    write: false,
    run: (tx, a) => ({
      t: 'array',
      items: a.slice(1).map((k) => {
        const rec = tx.get(k);
        return bulk(rec?.value.type === 'string' ? rec.value.data : null);
      }),
    }),
  },
  {
    name: 'mset',
    arity: -3,
    write: true,
    run: (tx, a) => {
      evenPairs('mset', a);
      for (let i = 1; i < a.length; i += 2) putString(tx, a[i]!, a[i + 1]!, 0);
      return OK;
    },
  },
  {
    name: 'msetnx',
    arity: -3,
    write: true,
    run: (tx, a) => {
      evenPairs('msetnx', a);
      return msetnx(tx, a);
    },
  },
  { name: 'incr', arity: 2, write: true, run: (tx, a) => incrBy(tx, a[1]!, 1n) },
  { name: 'decr', arity: 2, write: true, run: (tx, a) => incrBy(tx, a[1]!, -1n) },
  { name: 'incrby', arity: 3, write: true, run: (tx, a) => incrBy(tx, a[1]!, parseInt64(a[2]!)) },
  {
    name: 'decrby',
    arity: 3,
    write: true,
    run: (tx, a) => {
      const by = parseInt64(a[2]!);
      if (by === -(2n ** 63n)) fail('ERR decrement would overflow');
      return incrBy(tx, a[1]!, -by);
    },
  },
  { name: 'incrbyfloat', arity: 3, write: true, run: incrbyfloat },
  {
    name: 'append',
    arity: 3,
    write: true,
    run: (tx, a) => {
      const cur = getString(tx, a[1]!) ?? Buffer.alloc(0);
      const next = Buffer.concat([cur, a[2]!]);
      if (next.length > MAX_STRING_BYTES)
        fail('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
      putString(tx, a[1]!, next, ttlOf(tx, a[1]!));
      return int(next.length);
    },
  },
  { name: 'strlen', arity: 2, write: false, run: (tx, a) => int(getString(tx, a[1]!)?.length ?? 0) },
  { name: 'getrange', arity: 4, write: false, run: getrange },
  { name: 'substr', arity: 4, write: false, run: getrange },
  { name: 'setrange', arity: 4, write: true, run: setrange },
];
