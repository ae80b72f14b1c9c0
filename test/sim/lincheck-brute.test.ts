import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  checkKvHistory,
  checkPartition,
  type KvInput,
  type KvOutput,
  listModel,
  type Model,
  type Op,
  type RawOp,
  registerModel,
} from '../../sim/lincheck/index.ts';
import { Prng } from '../../sim/prng.ts';

// Cross-check the WGL search against brute force on tiny random histories, legal or not:
// try every order that respects real time; pending ops may also never happen.

function bruteForce<S>(model: Model<S, KvInput, KvOutput>, ops: readonly Op<KvInput, KvOutput>[]): boolean {
  const done = new Array<boolean>(ops.length).fill(false);
  const go = (state: S, left: number): boolean => {
    const rest = ops.filter((_, i) => !done[i]);
    if (rest.every((o) => o.output === undefined)) return true;
    const firstRet = Math.min(...rest.map((o) => o.ret));
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      if (done[i] || o.call > firstRet) continue;
      const next = model.step(state, o.input, o.output);
      if (next === undefined) continue;
      done[i] = true;
      const ok = go(next, left - 1);
      done[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return go(model.init(), ops.length);
}

const VALUES = ['a', 'b', 'c'];

function randomRegisterOp(rand: Prng): [KvInput, KvOutput] {
  const r = rand.int(0, 2);
  if (r === 0) return [{ f: 'get', key: 'k' }, rand.chance(0.25) ? null : rand.pick(VALUES)];
  if (r === 1) return [{ f: 'put', key: 'k', value: rand.pick(VALUES) }, 'ok'];
  const expect = rand.chance(0.25) ? null : rand.pick(VALUES);
  return [{ f: 'cas', key: 'k', expect, value: rand.pick(VALUES) }, rand.chance(0.5)];
}

function randomListOp(rand: Prng, serial: number): [KvInput, KvOutput] {
  if (rand.chance(0.5)) return [{ f: 'append', key: 'l', value: `x${serial}` }, 'ok'];
  const seen = Array.from({ length: rand.int(0, 3) }, () => `x${rand.int(0, 5)}`);
  return [{ f: 'read', key: 'l' }, [...new Set(seen)]];
}

function randomHistory(seed: number, list: boolean): Op<KvInput, KvOutput>[] {
  const rand = new Prng(seed);
  const n = rand.int(1, 7);
  return Array.from({ length: n }, (_, id) => {
    const [input, output] = list ? randomListOp(rand, id) : randomRegisterOp(rand);
    const call = rand.int(0, 20);
    const isRead = input.f === 'get' || input.f === 'read';
    const pending = !isRead && rand.chance(0.2);
    const ret = pending ? Number.POSITIVE_INFINITY : call + rand.int(0, 8);
    return { id, client: id, key: list ? 'l' : 'k', input, call, ret, output: pending ? undefined : output };
  });
}

test('WGL agrees with brute force on small random register and list histories', () => {
  let illegal = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(), (seed, list) => {
      const ops = randomHistory(seed, list);
      const model = (list ? listModel : registerModel) as Model<unknown, KvInput, KvOutput>;
      const expected = bruteForce(model, ops) ? 'ok' : 'illegal';
      if (expected === 'illegal') illegal++;
      assert.equal(checkPartition(model, 'k', ops, { shrink: { maxChecks: 5 } }).verdict, expected);
    }),
    { numRuns: 1000 },
  );
  assert.ok(illegal > 100, `both verdicts are exercised (illegal=${illegal})`);
});

function toRaw(ops: readonly Op<KvInput, KvOutput>[]): RawOp<KvInput, KvOutput>[] {
  return ops.map((o) => {
    if (o.output === undefined) return { ...o, ret: 0, outcome: 'unknown' as const, output: undefined };
    return { ...o, outcome: 'ok' as const, output: o.output };
  });
}

test('the key-value checker (loose list model, unobserved pending writes dropped) agrees with brute force', () => {
  let illegal = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(), (seed, list) => {
      const ops = randomHistory(seed, list);
      const model = (list ? listModel : registerModel) as Model<unknown, KvInput, KvOutput>;
      const expected = bruteForce(model, ops) ? 'ok' : 'illegal';
      if (expected === 'illegal') illegal++;
      assert.equal(checkKvHistory(toRaw(ops), { shrink: { maxChecks: 5 } }).verdict, expected);
    }),
    { numRuns: 1500 },
  );
  assert.ok(illegal > 100, `both verdicts are exercised (illegal=${illegal})`);
});
