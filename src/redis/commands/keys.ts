import { globMatch, parseInt64, parseIntArg, upper } from './args.ts';
import { E, fail } from './errors.ts';
import { expireCommands } from './expire.ts';
import { arr, bulk, bulks, type CommandSpec, type CommandTx, int, NIL, OK, type Reply } from './types.ts';

const SCAN_BATCH = 1000;

function allKeys(tx: CommandTx, visit: (k: Buffer) => boolean): void {
  let after: Buffer | undefined;
  for (;;) {
    const batch = tx.keysAfter(after, SCAN_BATCH);
    for (const k of batch) if (!visit(k)) return;
    if (batch.length < SCAN_BATCH) return;
    after = batch[batch.length - 1];
  }
}

function scan(tx: CommandTx, args: Buffer[]): Reply {
  const cursor = args[1]!.toString('latin1');
  let after: Buffer | undefined;
  if (cursor !== '0') {
    parseInt64(args[1]!, 'ERR invalid cursor');
    after = tx.cursors.load(cursor);
    if (after === undefined) fail('ERR invalid cursor');
  }
  let count = 10;
  let match: Buffer | undefined;
  let type: string | undefined;
  for (let i = 2; i < args.length; i++) {
    const opt = upper(args[i]!);
    if (i + 1 >= args.length) fail(E.syntax);
    if (opt === 'COUNT') {
      count = parseIntArg(args[++i]!);
      if (count < 1) fail(E.syntax);
    } else if (opt === 'MATCH') match = args[++i];
    else if (opt === 'TYPE') type = args[++i]!.toString('latin1').toLowerCase();
    else fail(E.syntax);
  }
  const page = tx.keysAfter(after, count);
  const out = page.filter(
    (k) =>
      (match === undefined || globMatch(match, k)) && (type === undefined || tx.get(k)?.value.type === type),
  );
  const next = page.length < count ? '0' : tx.cursors.save(page[page.length - 1]!);
  return arr([bulk(next), bulks(out)]);
}

function rename(tx: CommandTx, args: Buffer[], nx: boolean): Reply {
  const src = tx.get(args[1]!);
  if (src === undefined) fail(E.noSuchKey);
  if (nx && tx.get(args[2]!) !== undefined) return int(0);
  if (!args[1]!.equals(args[2]!)) {
    tx.del(args[1]!);
    tx.put(args[2]!, src);
  }
  return nx ? int(1) : OK;
}

function randomKey(tx: CommandTx): Reply {
  const keys: Buffer[] = [];
  allKeys(tx, (k) => {
    keys.push(k);
    return true;
  });
  if (keys.length === 0) return NIL;
  return bulk(keys[Math.floor(tx.random() * keys.length)]!);
}

export const keyCommands: CommandSpec[] = [
  {
    name: 'del',
    arity: -2,
    write: true,
    run: (tx, a) => {
      let n = 0;
      for (const k of a.slice(1)) {
        if (tx.get(k) !== undefined) {
          tx.del(k);
          n++;
        }
      }
      return int(n);
    },
  },
  {
    name: 'exists',
    arity: -2,
    write: false,
    run: (tx, a) => int(a.slice(1).filter((k) => tx.get(k) !== undefined).length),
  },
  {
    name: 'type',
    arity: 2,
    write: false,
    run: (tx, a) => ({ t: 'simple', s: tx.get(a[1]!)?.value.type ?? 'none' }),
  },
  { name: 'rename', arity: 3, write: true, run: (tx, a) => rename(tx, a, false) },
  { name: 'renamenx', arity: 3, write: true, run: (tx, a) => rename(tx, a, true) },
  {
    name: 'keys',
    arity: 2,
    write: false,
    run: (tx, a) => {
      const out: Buffer[] = [];
      allKeys(tx, (k) => {
        if (globMatch(a[1]!, k)) out.push(k);
        return true;
      });
      return bulks(out);
    },
  },
  { name: 'scan', arity: -2, write: false, run: scan },
  { name: 'randomkey', arity: 1, write: false, run: randomKey },
  {
    name: 'dbsize',
    arity: 1,
    write: false,
    run: (tx) => {
      let n = 0;
      allKeys(tx, () => {
        n++;
        return true;
      });
      return int(n);
    },
  },
  ...['flushdb', 'flushall'].map(
    (name): CommandSpec => ({
      name,
      arity: -1,
      write: true,
      run: (tx, a) => {
        if (a.length > 2 || (a.length === 2 && !['ASYNC', 'SYNC'].includes(upper(a[1]!)))) fail(E.syntax);
        tx.flushAll();
        return OK;
      },
    }),
  ),
  ...expireCommands,
];

// UNLINK is DEL: reclaiming space is MVCC GC's job either way.
keyCommands.push({ ...keyCommands[0]!, name: 'unlink' });
