import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CALM_NET, type Envelope, type NetFaultRates, SimNet } from '../../sim/net.ts';
import { drawNetFaultPlan, NetChaos } from '../../sim/netfaults.ts';
import { Prng } from '../../sim/prng.ts';
import { Scheduler } from '../../sim/queue.ts';

interface Got {
  at: number;
  msg: Envelope<string>;
}

function setup(rates: NetFaultRates = CALM_NET, seed = 1) {
  const sched = new Scheduler();
  const got: Got[] = [];
  const faults: string[] = [];
  const net = new SimNet<string>(sched, new Prng(seed), [1, 2, 3], rates, {
    deliver: (msg) => got.push({ at: sched.nowMs, msg }),
    fault: (t) => faults.push(t),
  });
  return { sched, net, got, faults };
}

const payloads = (got: Got[]) => got.map((g) => g.msg.payload);

describe('sim network', () => {
  test('delivers within the delay range; delays reorder messages', () => {
    const { sched, net, got } = setup({ dropP: 0, duplicateP: 0, minDelayMs: 1, maxDelayMs: 50 });
    for (let i = 0; i < 50; i++) net.send(1, 2, `m${i}`);
    sched.run(1000);
    assert.equal(got.length, 50);
    for (const g of got) assert.ok(g.at >= 1 && g.at <= 50);
    assert.notDeepEqual(
      payloads(got),
      Array.from({ length: 50 }, (_, i) => `m${i}`),
    );
    assert.equal(net.stats.delivered, 50);
  });

  test('drop and duplicate rates of 1', () => {
    const a = setup({ ...CALM_NET, dropP: 1 });
    a.net.send(1, 2, 'x');
    a.sched.run(100);
    assert.equal(a.got.length, 0);
    const b = setup({ ...CALM_NET, duplicateP: 1 });
    b.net.send(1, 2, 'x');
    b.sched.run(100);
    assert.deepEqual(payloads(b.got), ['x', 'x']);
  });

  test('same seed, same deliveries; another seed differs', () => {
    const rates = { dropP: 0.2, duplicateP: 0.2, minDelayMs: 0, maxDelayMs: 30 };
    const run = (seed: number) => {
      const s = setup(rates, seed);
      for (let i = 0; i < 100; i++) s.net.send(1 + (i % 3), 1 + ((i + 1) % 3), `m${i}`);
      s.sched.run(1000);
      return s.got.map((g) => `${g.at}:${g.msg.payload}`);
    };
    assert.deepEqual(run(5), run(5));
    assert.notDeepEqual(run(5), run(6));
  });

  test('connection reset loses what is in flight on that link only', () => {
    const { sched, net, got, faults } = setup({ ...CALM_NET, minDelayMs: 10, maxDelayMs: 10 });
    net.send(1, 2, 'a');
    net.send(2, 1, 'b');
    net.send(1, 3, 'c');
    net.reset(1, 2);
    net.send(1, 2, 'd');
    sched.run(100);
    assert.deepEqual(payloads(got), ['c', 'd']);
    assert.equal(net.stats.lostToReset, 2);
    assert.deepEqual(faults, ['reset 1<->2']);
  });

  test('partition cuts cross-group links both ways until heal', () => {
    const { sched, net, got, faults } = setup();
    net.partition([[1], [2, 3]]);
    net.send(1, 2, 'x');
    net.send(2, 1, 'y');
    net.send(2, 3, 'z');
    sched.run(10);
    assert.deepEqual(payloads(got), ['z']);
    net.heal();
    net.send(1, 2, 'w');
    sched.run(20);
    assert.deepEqual(payloads(got), ['z', 'w']);
    assert.deepEqual(faults, ['partition {1} | {2,3}', 'heal']);
  });

  test('isolate and random split', () => {
    const { net, faults } = setup();
    net.isolate(2);
    assert.ok(net.isBlocked(2, 1) && net.isBlocked(3, 2) && !net.isBlocked(1, 3));
    net.heal();
    net.randomSplit();
    const blockedPairs = [1, 2, 3].flatMap((a) => [1, 2, 3].filter((b) => net.isBlocked(a, b)));
    assert.ok(blockedPairs.length === 4, 'a split of three nodes cuts exactly two node pairs, both ways');
    assert.match(faults[2]!, /^partition \{\d(,\d)?\} \| \{\d(,\d)?\}$/);
  });

  test('asymmetric link: A→B dead, B→A alive', () => {
    const { sched, net, got } = setup();
    net.blockLink(1, 2);
    net.send(1, 2, 'dead');
    net.send(2, 1, 'alive');
    sched.run(10);
    assert.deepEqual(payloads(got), ['alive']);
  });

  test('clog holds traffic, then releases it all at once', () => {
    const { sched, net, got } = setup({ ...CALM_NET, minDelayMs: 5, maxDelayMs: 5 });
    net.send(1, 2, 'inflight');
    net.clog(2);
    net.send(1, 2, 'a');
    net.send(2, 3, 'b');
    net.send(1, 3, 'c');
    sched.run(100);
    assert.deepEqual(payloads(got), ['c']);
    sched.at(200, 'unclog', () => net.unclog(2));
    sched.run(300);
    assert.deepEqual(payloads(got), ['c', 'a', 'b', 'inflight']);
    assert.ok(got.slice(1).every((g) => g.at === 200));
  });

  test('chaos injects and heals faults deterministically from its seed', () => {
    const run = (seed: number) => {
      const s = setup(CALM_NET, seed);
      const rand = new Prng(seed);
      const plan = {
        ...drawNetFaultPlan(rand),
        kinds: ['split', 'isolate', 'asymmetric', 'clog', 'reset'] as const,
      };
      const chaos = new NetChaos(s.sched, s.net, rand, plan, [1, 2, 3]);
      chaos.start();
      s.sched.run(20_000);
      chaos.stop();
      return s.faults;
    };
    const a = run(11);
    assert.ok(a.length > 5, `faults: ${a.length}`);
    assert.deepEqual(a, run(11));
    assert.notDeepEqual(a, run(12));
  });

  test('stopping chaos heals partitions and releases clogged traffic', () => {
    const s = setup(CALM_NET, 3);
    const rand = new Prng(3);
    const plan = { ...drawNetFaultPlan(rand), everyMs: 10, minHoldMs: 10_000, maxHoldMs: 10_000 };
    const clogged = new NetChaos(s.sched, s.net, rand, { ...plan, kinds: ['clog'] }, [1, 2, 3]);
    clogged.start();
    s.sched.run(15);
    const node = [1, 2, 3].find((n) => s.net.isClogged(n))!;
    assert.ok(node !== undefined);
    s.net.send(node, node === 1 ? 2 : 1, 'held');
    clogged.stop();
    s.sched.run(30);
    assert.ok([1, 2, 3].every((n) => !s.net.isClogged(n)));
    assert.deepEqual(payloads(s.got), ['held']);
    const cut = new NetChaos(s.sched, s.net, rand, { ...plan, kinds: ['isolate'] }, [1, 2, 3]);
    cut.start();
    s.sched.run(50);
    assert.ok([1, 2, 3].some((a) => [1, 2, 3].some((b) => s.net.isBlocked(a, b))));
    cut.stop();
    assert.ok([1, 2, 3].every((a) => [1, 2, 3].every((b) => !s.net.isBlocked(a, b))));
  });

  test('stopping chaos ends random loss and duplication but keeps delays', () => {
    const s = setup({ dropP: 1, duplicateP: 0, minDelayMs: 7, maxDelayMs: 7 });
    const plan = {
      ...drawNetFaultPlan(new Prng(4)),
      rates: { dropP: 1, duplicateP: 1, minDelayMs: 7, maxDelayMs: 7 },
    };
    const chaos = new NetChaos(s.sched, s.net, new Prng(4), { ...plan, kinds: [] }, [1, 2, 3]);
    chaos.start();
    s.net.send(1, 2, 'lost');
    s.sched.run(20);
    assert.deepEqual(payloads(s.got), []);
    chaos.stop();
    const sentAt = s.sched.nowMs;
    for (let i = 0; i < 20; i++) s.net.send(1, 2, `m${i}`);
    s.sched.run(40);
    assert.equal(s.got.length, 20);
    assert.ok(s.got.every((g) => g.at === sentAt + 7));
    assert.equal(s.net.stats.duplicated, 0);
  });
});
