import { parseInt64, upper } from './args.ts';
import { E, fail } from './errors.ts';
import { type CommandSpec, type CommandTx, int, type Reply } from './types.ts';

type Unit = 'relative-s' | 'relative-ms' | 'absolute-s' | 'absolute-ms';

function expire(tx: CommandTx, args: Buffer[], unit: Unit, cmd: string): Reply {
  const n = parseInt64(args[2]!);
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  for (const raw of args.slice(3)) {
    const o = upper(raw);
    if (o === 'NX') nx = true;
    else if (o === 'XX') xx = true;
    else if (o === 'GT') gt = true;
    else if (o === 'LT') lt = true;
    else fail(`ERR Unsupported option ${raw.toString('latin1')}`);
  }
  if (nx && (xx || gt || lt)) fail('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) fail('ERR GT and LT options at the same time are not compatible');
  const scale = unit.endsWith('-s') ? 1000n : 1n;
  const base = unit.startsWith('relative') ? BigInt(tx.nowMs) : 0n;
  const ms = n * scale;
  const at = ms + base;
  if (ms / scale !== n || at > 2n ** 63n - 1n || at < -(2n ** 63n)) fail(E.invalidExpire(cmd));
  const rec = tx.get(args[1]!);
  if (rec === undefined) return int(0);
  const cur = rec.expireAtMs;
  const next = Number(at);
  if (nx && cur !== 0) return int(0);
  if (xx && cur === 0) return int(0);
  if (gt && (cur === 0 || next <= cur)) return int(0);
  if (lt && cur !== 0 && next >= cur) return int(0);
  if (at <= BigInt(tx.nowMs)) tx.del(args[1]!);
  else tx.put(args[1]!, { value: rec.value, expireAtMs: next });
  return int(1);
}

function ttl(tx: CommandTx, key: Buffer, ms: boolean): Reply {
  const rec = tx.get(key);
  if (rec === undefined) return int(-2);
  if (rec.expireAtMs === 0) return int(-1);
  const left = Math.max(0, rec.expireAtMs - tx.nowMs);
  return int(ms ? left : Math.floor((left + 500) / 1000));
}

export const expireCommands: CommandSpec[] = [
  { name: 'expire', arity: -3, write: true, run: (tx, a) => expire(tx, a, 'relative-s', 'expire') },
  { name: 'pexpire', arity: -3, write: true, run: (tx, a) => expire(tx, a, 'relative-ms', 'pexpire') },
  { name: 'expireat', arity: -3, write: true, run: (tx, a) => expire(tx, a, 'absolute-s', 'expireat') },
  { name: 'pexpireat', arity: -3, write: true, run: (tx, a) => expire(tx, a, 'absolute-ms', 'pexpireat') },
  { name: 'ttl', arity: 2, write: false, run: (tx, a) => ttl(tx, a[1]!, false) },
  { name: 'pttl', arity: 2, write: false, run: (tx, a) => ttl(tx, a[1]!, true) },
  {
    name: 'persist',
    arity: 2,
    write: true,
    run: (tx, a) => {
      const rec = tx.get(a[1]!);
      if (rec === undefined || rec.expireAtMs === 0) return int(0);
      tx.put(a[1]!, { value: rec.value, expireAtMs: 0 });
      return int(1);
    },
  },
  {
    name: 'expiretime',
    arity: 2,
    write: false,
    run: (tx, a) => {
      const rec = tx.get(a[1]!);
      if (rec === undefined) return int(-2);
      return int(rec.expireAtMs === 0 ? -1 : Math.floor(rec.expireAtMs / 1000));
    },
  },
];
