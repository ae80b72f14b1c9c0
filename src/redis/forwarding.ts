import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import type { Watch } from './backend.ts';

/**
 * Internal commands a follower sends to the leader's Redis listener so that
 * WATCH and MULTI/EXEC keep their meaning across forwarding: the watch token is
 * the leader's read timestamp, and a transaction travels whole with its watches.
 */
export const READTS_CMD = 'SEALKV.READTS';
export const TXN_CMD = 'SEALKV.TXN';
/** A PUBLISH fanned out by a peer: deliver to local subscribers only. */
export const PUBLISH_LOCAL_CMD = 'SEALKV.PUBLISHLOCAL';

/** `SEALKV.TXN nwatch (ts nkeys key...)... ncmds (nargs arg...)...` */
export function encodeForwardedTxn(cmds: Buffer[][], watches: Watch[]): Buffer[] {
  const out: Buffer[] = [Buffer.from(TXN_CMD), Buffer.from(String(watches.length))];
  for (const w of watches)
    out.push(Buffer.from(w.sinceTs.toString()), Buffer.from(String(w.keys.length)), ...w.keys);
  out.push(Buffer.from(String(cmds.length)));
  for (const c of cmds) out.push(Buffer.from(String(c.length)), ...c);
  return out;
}

export function decodeForwardedTxn(args: Buffer[]): { cmds: Buffer[][]; watches: Watch[] } {
  let i = 1;
  const bad = () => sealError(Err.InvalidArgument, 'malformed forwarded transaction');
  const take = (): Buffer => {
    const b = args[i++];
    if (b === undefined) throw bad();
    return b;
  };
  const num = (): number => {
    const n = Number(take().toString('latin1'));
    if (!Number.isSafeInteger(n) || n < 0 || n > args.length) throw bad();
    return n;
  };
  const watches: Watch[] = [];
  for (let n = num(); n > 0; n--) {
    const ts = take().toString('latin1');
    if (!/^[0-9]{1,20}$/.test(ts)) throw bad();
    const keys: Buffer[] = [];
    for (let k = num(); k > 0; k--) keys.push(take());
    watches.push({ keys, sinceTs: BigInt(ts) });
  }
  const cmds: Buffer[][] = [];
  for (let n = num(); n > 0; n--) {
    const c: Buffer[] = [];
    for (let k = num(); k > 0; k--) c.push(take());
    if (c.length === 0) throw bad();
    cmds.push(c);
  }
  if (i !== args.length) throw bad();
  return { cmds, watches };
}
