/**
 * The contract between `npm run bench` and each benchmark module. A module in
 * bench/ named `*.bench.ts` default-exports a BenchSuite; bench/run.ts runs the
 * selected suites one after another (never concurrently: 2 cores) and prints
 * one table.
 */
export interface BenchRow {
  suite: string;
  name: string;
  value: number;
  unit: string;
  /** Ratio to the reference measured in the same invocation, if any. */
  ratio?: number;
  /** What the ratio is against, e.g. "bare createCipheriv". */
  ratioTo?: string;
  /** The target ratio or value from the issue, for the reader; never asserted. */
  target?: string;
}

export interface BenchSuite {
  name: string;
  run(opts: { quick: boolean; tmpDir: string }): Promise<BenchRow[]>;
}

/** Runs fn repeatedly for about `ms` milliseconds and returns operations per second. */
export function opsPerSecond(fn: () => void, ms: number, batch = 100): number {
  for (let i = 0; i < batch; i++) fn(); // warm-up
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let ops = 0;
  let elapsed = 0n;
  do {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < budget);
  return ops / (Number(elapsed) / 1e9);
}

export function percentile(sortedAsc: number[], p: number): number {
  if (sortedAsc.length === 0) return Number.NaN;
  const i = Math.min(sortedAsc.length - 1, Math.floor((p / 100) * sortedAsc.length));
  return sortedAsc[i]!;
}
