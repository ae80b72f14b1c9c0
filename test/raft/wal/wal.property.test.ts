import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Entry, EntryType, type HardState, type Snapshot } from '../../../src/raft/core/types.ts';
import { SimDisk } from '../../../src/raft/disk/sim-disk.ts';
import { Wal } from '../../../src/raft/wal/wal.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { Killed, prng, show } from './helpers.ts';

// Random saves, bursts of concurrent saves, snapshots, kills at any hook call, power cuts right
// before any fsync (also a rotation's, after it cut the padding) and crashes on SimDisk, with zero
// padding off, small or large. After every crash the recovered state must equal the model after
// some save at or after the last acknowledged synced one (I20): synced batches survive, the last
// only if whole.

const DIR = '/d';

interface Model {
  hs: HardState;
  entries: Entry[];
  snapIndex: number;
  snapTerm: number;
}

type Op =
  | {
      kind: 'append';
      back: number;
      count: number;
      bump: boolean;
      commit: number;
      withHs: boolean;
      sync: boolean;
    }
  | { kind: 'burst'; n: number }
  | { kind: 'snapshot'; install: boolean; pick: number }
  | { kind: 'kill'; after: number }
  | { kind: 'cut'; after: number; seed: number }
  | { kind: 'crash'; seed: number; tear: 0 | 1 | 2 };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      back: fc.nat(4),
      count: fc.nat(4),
      bump: fc.boolean(),
      commit: fc.nat(3),
      withHs: fc.boolean(),
      sync: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('burst' as const), n: fc.integer({ min: 2, max: 6 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('snapshot' as const),
      install: fc.boolean(),
      pick: fc.nat(1000),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('kill' as const), after: fc.integer({ min: 1, max: 8 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('cut' as const),
      after: fc.integer({ min: 1, max: 3 }),
      seed: fc.nat(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      seed: fc.nat(),
      tear: fc.constantFrom(0 as const, 1 as const, 2 as const),
    }),
  },
);

/** Varied entry sizes, so batches span several sectors and crashes tear them. */
const pad = (n: number) => '.'.repeat((n * 37) % 300);
const lastOf = (m: Model) => m.entries.at(-1)?.index ?? m.snapIndex;
const termOf = (m: Model) => Math.max(m.hs.term, m.entries.at(-1)?.term ?? m.snapTerm, 1);
const snapshotOf = (index: number, term: number): Snapshot => ({
  meta: { index, term, conf: { voters: ['a', 'b'], learners: [] } },
  data: new TextEncoder().encode(`fsm@${index}/${term}`),
});

function applyModel(
  m: Model,
  hs: HardState | undefined,
  ents: Entry[],
  snap?: { i: number; t: number; install: boolean },
): Model {
  let entries = m.entries;
  let snapIndex = m.snapIndex;
  let snapTerm = m.snapTerm;
  if (snap !== undefined) {
    snapIndex = snap.i;
    snapTerm = snap.t;
    entries = snap.install ? [] : entries.filter((e) => e.index > snap.i);
  }
  if (ents.length > 0) entries = [...entries.filter((e) => e.index < ents[0]!.index), ...ents];
  return { hs: hs ?? m.hs, entries, snapIndex, snapTerm };
}

test('recovered log == model of synced batches under random saves, bursts, snapshots and crashes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(200, 600, 1 << 16),
      fc.constantFrom(0, 64, 1000, undefined),
      fc.array(opArb, { maxLength: 35 }),
      async (segmentBytes, padBytes, ops) => {
        const disk = new SimDisk();
        let armed = 0;
        const hook = () => {
          if (armed > 0 && --armed === 0) throw new Killed('hook');
        };
        // The machine loses power as the armed fsync is issued: that fsync and all after it fail.
        let cutAfter = 0;
        let cutSeed = 0;
        disk.gate = (op) => {
          if ((op === 'fsync' || op === 'syncDir') && cutAfter > 0 && --cutAfter === 0) {
            const tear = cutSeed % 3 === 0 ? undefined : cutSeed % 3 === 1 ? 'zeros' : 'garbage';
            disk.crash(prng(cutSeed), tear === undefined ? {} : { tear });
          }
          return Promise.resolve();
        };
        let salts = 0;
        const opts = { dir: DIR, segmentBytes, padBytes, hook, salt: () => 0x9e3779b9 + ++salts };
        let wal = (await Wal.open(disk, opts)).wal;
        let states: Model[] = [
          { hs: { term: 0, vote: '', commit: 0 }, entries: [], snapIndex: 0, snapTerm: 0 },
        ];
        let floor = 0;
        let tag = 0;

        const crashAndCheck = async (seed: number, tear: 0 | 1 | 2) => {
          armed = 0;
          cutAfter = 0;
          disk.crash(prng(seed), tear === 0 ? {} : { tear: tear === 1 ? 'zeros' : 'garbage' });
          const opened = await Wal.open(disk, opts);
          wal = opened.wal;
          const st = opened.state;
          const got = JSON.stringify([st.hardState, show(st.entries), st.snapshot?.meta.index ?? 0]);
          const candidates = states.slice(floor);
          const j = candidates.findIndex((m) => JSON.stringify([m.hs, show(m.entries), m.snapIndex]) === got);
          assert.ok(
            j >= 0,
            `recovered ${got} matches no state since the last ack (${candidates.length} candidates)`,
          );
          const m = candidates[j]!;
          if (m.snapIndex > 0) assert.deepEqual(st.snapshot, snapshotOf(m.snapIndex, m.snapTerm));
          states = [m];
          floor = 0;
        };

        // Runs saves in call order; returns false if a kill fired.
        const run = async (calls: Array<() => Promise<void>>, syncs: boolean[]) => {
          const base = states.length;
          const results = await Promise.allSettled(calls.map((c) => c()));
          let ok = true;
          results.forEach((r, k) => {
            if (r.status === 'fulfilled' && syncs[k]) floor = Math.max(floor, base + k);
            if (r.status === 'rejected') ok = false;
          });
          return ok;
        };

        for (const op of ops) {
          const m = states.at(-1)!;
          const last = lastOf(m);
          let ok = true;
          if (op.kind === 'append') {
            const lo = Math.max(m.snapIndex, m.hs.commit) + 1;
            const first = Math.max(lo, last + 1 - op.back);
            const term = termOf(m) + (op.bump ? 1 : 0);
            const ents: Entry[] = [];
            for (let i = 0; i < op.count; i++) {
              ents.push({
                index: first + i,
                term,
                type: EntryType.Normal,
                data: new TextEncoder().encode(`#${++tag}${pad(tag)}`),
              });
            }
            const newLast = ents.length > 0 ? first + ents.length - 1 : last;
            const hs = op.withHs
              ? { term, vote: 'a', commit: Math.min(newLast, m.hs.commit + op.commit) }
              : undefined;
            const next = applyModel(m, hs, ents);
            ok = await run(
              [
                () => {
                  states.push(next);
                  return wal.save(hs, ents, { sync: op.sync });
                },
              ],
              [op.sync],
            );
          } else if (op.kind === 'burst') {
            const calls: Array<() => Promise<void>> = [];
            let cur = m;
            for (let k = 0; k < op.n; k++) {
              const e: Entry = {
                index: lastOf(cur) + 1,
                term: termOf(cur),
                type: EntryType.Normal,
                data: new TextEncoder().encode(`#${++tag}${pad(tag)}`),
              };
              const next = applyModel(cur, undefined, [e]);
              cur = next;
              calls.push(() => {
                states.push(next);
                return wal.save(undefined, [e], { sync: true });
              });
            }
            ok = await run(
              calls,
              calls.map(() => true),
            );
          } else if (op.kind === 'snapshot') {
            let i: number;
            let t: number;
            let hs: HardState | undefined;
            if (op.install) {
              i = last + 1 + (op.pick % 3);
              t = termOf(m);
              hs = { term: t, vote: m.hs.vote, commit: i };
            } else {
              if (m.hs.commit <= m.snapIndex) continue;
              i = m.snapIndex + 1 + (op.pick % (m.hs.commit - m.snapIndex));
              t = m.entries.find((e) => e.index === i)!.term;
            }
            const snap = snapshotOf(i, t);
            const next = applyModel(m, hs, [], { i, t, install: op.install });
            try {
              await wal.writeSnapshotFile(snap);
              ok = await run(
                [
                  () => {
                    states.push(next);
                    return wal.save(hs, [], {
                      sync: true,
                      snapshot: { meta: snap.meta, mode: op.install ? 'install' : 'compact' },
                    });
                  },
                ],
                [true],
              );
            } catch (e) {
              assert.ok(e instanceof Killed || isSealError(e, 'ErrWalFailed'), String(e));
              ok = false;
            }
          } else if (op.kind === 'kill') {
            armed = op.after;
          } else if (op.kind === 'cut') {
            cutAfter = op.after;
            cutSeed = op.seed;
          } else {
            await crashAndCheck(op.seed, op.tear);
          }
          if (!ok) await crashAndCheck(tag * 7919 + states.length, (tag % 3) as 0 | 1 | 2);
        }
        armed = 0;
        cutAfter = 0;
        await wal.close();
        floor = states.length - 1;
        await crashAndCheck(1, 0);
        assert.equal(states.length, 1);
      },
    ),
    { numRuns: 300 },
  );
});
