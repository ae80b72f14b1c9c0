// Generates histories that are linearizable by construction: ops are executed one by one
// against a plain map at increasing linearization points, and each op's real-time interval
// is widened around its point.
import type { KvCmd, KvInput, KvOutput, RawOp } from '../../sim/lincheck/index.ts';
import { Prng } from '../../sim/prng.ts';

export interface GenOptions {
  readonly ops: number;
  readonly keys: number;
  readonly clients: number;
  readonly kinds: 'register' | 'list' | 'multi';
  readonly spreadMs: number;
  readonly pendingP: number;
}

type Store = Map<string, string | string[]>;

function exec(store: Store, c: KvCmd, apply: boolean): KvOutput {
  const cur = store.get(c.key);
  switch (c.f) {
    case 'get':
      return typeof cur === 'string' ? cur : null;
    case 'read':
      return Array.isArray(cur) ? [...cur] : [];
    case 'put':
      if (apply) store.set(c.key, c.value);
      return 'ok';
    case 'append':
      if (apply) store.set(c.key, [...(Array.isArray(cur) ? cur : []), c.value]);
      return 'ok';
    case 'cas': {
      const hit = (cur ?? null) === c.expect;
      if (hit && apply) store.set(c.key, c.value);
      return hit;
    }
  }
}

function drawCmd(rand: Prng, key: string, kinds: GenOptions['kinds'], serial: number): KvCmd {
  const value = `v${serial}`;
  if (kinds === 'list' || (kinds === 'multi' && key.startsWith('l'))) {
    return rand.chance(0.5) ? { f: 'append', key, value } : { f: 'read', key };
  }
  const r = rand.int(0, 2);
  if (r === 0) return { f: 'get', key };
  if (r === 1) return { f: 'put', key, value };
  return { f: 'cas', key, expect: rand.chance(0.5) ? `v${rand.int(0, serial)}` : null, value };
}

function drawInput(rand: Prng, o: GenOptions, serial: number): KvInput {
  const keyOf = (): string => (o.kinds === 'multi' && rand.chance(0.5) ? 'l' : 'k') + rand.int(0, o.keys - 1);
  if (o.kinds === 'multi' && rand.chance(0.3)) {
    const n = rand.int(1, 3);
    return {
      f: 'multi',
      cmds: Array.from({ length: n }, (_, i) => drawCmd(rand, keyOf(), o.kinds, serial * 10 + i)),
    };
  }
  return drawCmd(rand, keyOf(), o.kinds, serial);
}

function run(store: Store, input: KvInput, apply: boolean): KvOutput {
  return input.f === 'multi' ? input.cmds.map((c) => exec(store, c, apply)) : exec(store, input, apply);
}

export function genLinearizable(seed: number, o: GenOptions): RawOp<KvInput, KvOutput>[] {
  const rand = new Prng(seed);
  const store: Store = new Map();
  const out: RawOp<KvInput, KvOutput>[] = [];
  let t = 0;
  for (let i = 0; i < o.ops; i++) {
    t += rand.int(1, 10);
    const input = drawInput(rand, o, i);
    const failed = rand.chance(0.03);
    const output = run(store, input, !failed);
    const call = t - rand.int(0, o.spreadMs);
    const ret = t + rand.int(0, o.spreadMs);
    const key = input.f === 'multi' ? '*' : input.key;
    const base = { id: i, client: rand.int(1, o.clients), key, input, call, ret };
    if (failed) out.push({ ...base, outcome: 'failed' });
    else if (rand.chance(o.pendingP)) out.push({ ...base, outcome: 'unknown' });
    else out.push({ ...base, outcome: 'ok', output });
  }
  return out;
}

/** Replace one definite read's output with a value nobody ever wrote; undefined if no read. */
export function corruptOneRead(
  h: readonly RawOp<KvInput, KvOutput>[],
  pickIndex: number,
): RawOp<KvInput, KvOutput>[] | undefined {
  const reads = h
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.outcome === 'ok' && (r.input.f === 'get' || r.input.f === 'read'));
  if (reads.length === 0) return undefined;
  const { r, i } = reads[pickIndex % reads.length]!;
  const bad: KvOutput =
    r.input.f === 'get' ? 'never-written' : [...((r.output as string[]) ?? []), 'never-written'];
  const copy = [...h];
  copy[i] = { ...r, output: bad };
  return copy;
}
