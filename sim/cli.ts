// `npm run sim` argument handling and reporting (docs/spec/interface.md §5).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeKvOp } from './lincheck/models.ts';
import { type RunOptions, runSeed, type SeedResult, type SimBug, type SimModel } from './run.ts';
import { combineHashes, fmtSeed, parseSeed, replayCommand } from './trace.ts';

export interface SimArgs {
  readonly seeds: readonly number[];
  readonly untilEv?: number;
  readonly model?: SimModel;
  readonly bug?: SimBug;
  /** Print the summed fault and recovery counters after the run. */
  readonly stats?: boolean;
  /** Raft model: followers serve reads (ReadIndex forwarded to the leader). */
  readonly followerReads?: boolean;
}

const USAGE =
  'usage: npm run sim -- [--seeds N] [--start S] | [--seed S [--until-ev N]] [--model raft|smoke] [--follower-reads] [--stats]';

/** Deliberately broken variants, per model, that the checkers must catch (not in the usage text). */
const BUGS: Record<SimModel, readonly SimBug[]> = {
  raft: [
    'ack-before-persist',
    'stale-read',
    'lying-fsync',
    'snapshot-off-by-one',
    'ack-on-append',
    'read-before-term-commit',
    'clock-beyond-rho',
    'multi-reads-at-propose',
    'apply-through-halt',
    'two-pending-conf',
    'learner-campaign',
  ],
  smoke: ['stale-read'],
};

function positiveInt(flag: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !/^[0-9]+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new RangeError(`${flag} needs a non-negative integer, got ${text ?? 'nothing'}; ${USAGE}`);
  }
  return n;
}

export function parseArgs(argv: readonly string[]): SimArgs {
  let count = 1;
  let start = 1;
  let single: number | undefined;
  let untilEv: number | undefined;
  let bug: string | undefined;
  let model: SimModel | undefined;
  let stats = false;
  let followerReads = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (flag === '--stats') {
      stats = true;
      continue;
    }
    if (flag === '--follower-reads') {
      followerReads = true;
      continue;
    }
    if (flag === '--seeds') count = positiveInt(flag, value);
    else if (flag === '--start') start = parseSeed(value ?? '');
    else if (flag === '--seed') single = parseSeed(value ?? '');
    else if (flag === '--until-ev') untilEv = positiveInt(flag, value);
    else if (flag === '--bug' && value !== undefined) bug = value;
    else if (flag === '--model' && (value === 'raft' || value === 'smoke')) model = value;
    else throw new RangeError(`unknown argument ${flag}; ${USAGE}`);
    i++;
  }
  const known = BUGS[model ?? 'raft'].find((b) => b === bug);
  if (bug !== undefined && known === undefined) throw new RangeError(`unknown --bug ${bug}; ${USAGE}`);
  const seeds = single !== undefined ? [single] : Array.from({ length: count }, (_, k) => (start + k) >>> 0);
  return {
    seeds,
    ...(untilEv === undefined ? {} : { untilEv }),
    ...(model === undefined ? {} : { model }),
    ...(known === undefined ? {} : { bug: known }),
    ...(stats ? { stats } : {}),
    ...(followerReads ? { followerReads } : {}),
  };
}

function writeFailure(outDir: string, r: SeedResult): void {
  const dir = join(outDir, fmtSeed(r.seed));
  mkdirSync(dir, { recursive: true });
  const lines = r.history.map((o) => {
    const ret = o.outcome === 'ok' ? String(o.ret) : o.outcome;
    return `#${o.id} c${o.client} [${o.call}, ${ret}] ${describeKvOp(o.input, o.output)}`;
  });
  writeFileSync(join(dir, 'history.txt'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'counterexample.txt'), `${r.summary}\n${r.detail ?? ''}\n`);
  for (const [name, text] of r.artifacts ?? []) writeFileSync(join(dir, name), text);
}

export interface CliIo {
  readonly print: (line: string) => void;
  /** Where failing runs write their history; undefined skips writing. */
  readonly outDir?: string;
}

/** Runs the seeds and prints the report; returns the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
  const opts: RunOptions = {
    ...(args.untilEv === undefined ? {} : { untilEv: args.untilEv }),
    ...(args.bug === undefined ? {} : { bug: args.bug }),
    ...(args.followerReads === true ? { followerReads: true } : {}),
    model: args.model ?? 'raft',
  };
  const hashes: string[] = [];
  const failed: SeedResult[] = [];
  let ops = 0;
  const counters = new Map<string, number>();
  for (const seed of args.seeds) {
    const r = await runSeed(seed, opts);
    for (const line of r.keptLines) io.print(line);
    io.print(r.summary);
    for (const line of r.detail?.split('\n') ?? []) io.print(line);
    hashes.push(r.traceHash);
    ops += r.ops;
    for (const [k, v] of r.stats ?? []) counters.set(k, (counters.get(k) ?? 0) + v);
    if (r.verdict === 'illegal') {
      failed.push(r);
      if (io.outDir !== undefined) writeFailure(io.outDir, r);
    }
  }
  if (args.stats) {
    const keys = [...counters.keys()].sort();
    io.print(`sim stats ${keys.map((k) => `${k}=${counters.get(k)}`).join(' ')}`);
  }
  for (const r of failed) io.print(`failing seed ${fmtSeed(r.seed)}: ${replayCommand(r.seed, r.failEv)}`);
  io.print(
    `sim seeds=${args.seeds.length} violations=${failed.length} ops=${ops} trace=${combineHashes(hashes)}`,
  );
  return failed.length > 0 ? 1 : 0;
}
