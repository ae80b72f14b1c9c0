// Builders for hand-written client histories in checker tests.
import type { KvCmd, KvInput, KvOutput, Outcome, RawOp } from '../../sim/lincheck/index.ts';

let nextId = 0;

export function rec(
  client: number,
  call: number,
  ret: number,
  input: KvInput,
  output?: KvOutput,
  outcome: Outcome = 'ok',
): RawOp<KvInput, KvOutput> {
  const key = input.f === 'multi' ? '*' : input.key;
  const base = { id: nextId++, client, key, input, call, ret, outcome };
  return output === undefined ? base : { ...base, output };
}

export const put = (key: string, value: string): KvCmd => ({ f: 'put', key, value });
export const get = (key: string): KvCmd => ({ f: 'get', key });
export const cas = (key: string, expect: string | null, value: string): KvCmd => ({
  f: 'cas',
  key,
  expect,
  value,
});
export const append = (key: string, value: string): KvCmd => ({ f: 'append', key, value });
export const read = (key: string): KvCmd => ({ f: 'read', key });
export const multi = (...cmds: KvCmd[]): KvInput => ({ f: 'multi', cmds });
