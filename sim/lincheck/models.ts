// Sequential models for the key-value workload: a register per key (get/put/cas), a list
// per key (Jepsen-style list-append: append/read), and a whole-map model that also runs
// atomic MULTI/EXEC batches. States are immutable; hashes are canonical strings.

import type { Model } from './types.ts';

export type KvCmd =
  | { readonly f: 'get'; readonly key: string }
  | { readonly f: 'put'; readonly key: string; readonly value: string }
  | { readonly f: 'cas'; readonly key: string; readonly expect: string | null; readonly value: string }
  | { readonly f: 'append'; readonly key: string; readonly value: string }
  | { readonly f: 'read'; readonly key: string };

export type KvInput = KvCmd | { readonly f: 'multi'; readonly cmds: readonly KvCmd[] };

/** get → string|null, put/append → 'ok', cas → boolean, read → string[], multi → one per cmd. */
export type KvOutput = string | null | boolean | readonly string[] | readonly KvOutput[];

type Value = string | readonly string[];

function lp(s: string): string {
  return `${s.length}:${s}`;
}

function listHash(items: readonly string[]): string {
  return `[${items.map(lp).join('')}`;
}

function sameList(a: unknown, b: readonly string[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);
}

function fmtValue(v: Value | null | undefined): string {
  if (v === null || v === undefined) return 'nil';
  return typeof v === 'string' ? v : `[${v.join(',')}]`;
}

function fmtOutput(out: KvOutput | undefined): string {
  if (out === undefined) return '?';
  if (out === null) return 'nil';
  if (typeof out === 'boolean') return out ? 'ok' : 'fail';
  if (typeof out === 'string') return out;
  return `[${out.map((o) => fmtOutput(o)).join(',')}]`;
}

export function describeKvOp(input: KvInput, output: KvOutput | undefined): string {
  if (input.f === 'multi')
    return `multi{${input.cmds.map((c) => describeCmd(c)).join('; ')}} → ${fmtOutput(output)}`;
  return describeCmd(input, output);
}

function describeCmd(c: KvCmd, output?: KvOutput): string {
  const suffix = output === undefined ? '' : ` → ${fmtOutput(output)}`;
  if (c.f === 'get' || c.f === 'read') return `${c.f} ${c.key}${suffix}`;
  if (c.f === 'cas') return `cas ${c.key} ${fmtValue(c.expect)}→${c.value}${suffix}`;
  return `${c.f} ${c.key} ${c.value}`;
}

function isReadCmd(c: KvCmd): boolean {
  return c.f === 'get' || c.f === 'read';
}

/** One command against one key's value; returns [next value, legal]. */
function stepCmd(cur: Value | null, c: KvCmd, out: KvOutput | undefined): [Value | null, boolean] {
  switch (c.f) {
    case 'get':
      return [
        cur,
        out === undefined || (typeof cur !== 'object' && out === cur) || (cur === null && out === null),
      ];
    case 'put':
      return [c.value, true];
    case 'cas': {
      const hit = typeof cur !== 'object' ? cur === c.expect : cur === null && c.expect === null;
      if (out !== undefined && out !== hit) return [cur, false];
      return [hit ? c.value : cur, true];
    }
    case 'append': {
      const list = typeof cur === 'string' ? null : (cur ?? []);
      if (list === null) return [cur, false];
      return [[...list, c.value], true];
    }
    case 'read': {
      const list = typeof cur === 'string' ? null : (cur ?? []);
      return [cur, list !== null && (out === undefined || sameList(out, list))];
    }
  }
}

function cmdOf(input: KvInput): KvCmd {
  if (input.f === 'multi') throw new TypeError('a single-key model cannot run multi');
  return input;
}

/** A register per key: state is the value or null. */
export const registerModel: Model<string | null, KvInput, KvOutput> = {
  name: 'register',
  init: () => null,
  step(state, input, output) {
    const c = cmdOf(input);
    if (c.f === 'append' || c.f === 'read') throw new TypeError(`register model cannot run ${c.f}`);
    const [next, ok] = stepCmd(state, c, output);
    return ok ? (next as string | null) : undefined;
  },
  hash: (s) => (s === null ? '-' : `=${s}`),
  isRead: (input) => input.f !== 'multi' && isReadCmd(input),
  describeOp: describeKvOp,
  describeState: (s) => fmtValue(s),
};

/** A list per key (append/read); the state is the list in order. */
export const listModel: Model<readonly string[], KvInput, KvOutput> = {
  name: 'list-append',
  init: () => [],
  step(state, input, output) {
    const c = cmdOf(input);
    if (c.f !== 'append' && c.f !== 'read') throw new TypeError(`list model cannot run ${c.f}`);
    const [next, ok] = stepCmd(state, c, output);
    return ok ? (next as readonly string[]) : undefined;
  },
  hash: listHash,
  isRead: (input) => input.f !== 'multi' && isReadCmd(input),
  describeOp: describeKvOp,
  describeState: (s) => fmtValue(s),
};

export type MapState = ReadonlyMap<string, Value>;

function mapHash(state: MapState): string {
  const keys = [...state.keys()].sort();
  return keys
    .map((k) => {
      const v = state.get(k)!;
      return lp(k) + (typeof v === 'string' ? `=${lp(v)}` : listHash(v));
    })
    .join('');
}

function runMulti(state: MapState, cmds: readonly KvCmd[], outs: KvOutput | undefined): MapState | undefined {
  if (outs !== undefined && (!Array.isArray(outs) || outs.length !== cmds.length)) return undefined;
  let next: Map<string, Value> | undefined;
  for (let i = 0; i < cmds.length; i++) {
    const c = cmds[i]!;
    const cur = (next ?? state).get(c.key) ?? null;
    const out = outs === undefined ? undefined : (outs as readonly KvOutput[])[i];
    const [v, ok] = stepCmd(cur, c, isReadCmd(c) || c.f === 'cas' ? out : undefined);
    if (!ok) return undefined;
    if (v !== cur) {
      next ??= new Map(state);
      if (v === null) next.delete(c.key);
      else next.set(c.key, v);
    }
  }
  return next ?? state;
}

/** The whole map; needed when MULTI/EXEC batches touch several keys atomically. */
export const mapModel: Model<MapState, KvInput, KvOutput> = {
  name: 'map',
  init: () => new Map(),
  step(state, input, output) {
    if (input.f === 'multi') return runMulti(state, input.cmds, output);
    return runMulti(state, [input], output === undefined ? undefined : [output]);
  },
  hash: mapHash,
  isRead: (input) => (input.f === 'multi' ? input.cmds.every(isReadCmd) : isReadCmd(input)),
  describeOp: describeKvOp,
  describeState: (s) =>
    `{${[...s.keys()]
      .sort()
      .map((k) => `${k}=${fmtValue(s.get(k))}`)
      .join(' ')}}`,
};
