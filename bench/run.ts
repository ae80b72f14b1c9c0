import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchRow, BenchSuite } from './harness.ts';

// Usage: npm run bench [-- --quick] [-- <suite-name-substring>...]
const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const filters = args.filter((a) => !a.startsWith('--'));

const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const rows: BenchRow[] = [];
for (const file of files) {
  const suite = ((await import(pathToFileURL(join(here, file)).href)) as { default: BenchSuite }).default;
  if (filters.length > 0 && !filters.some((f) => suite.name.includes(f))) continue;
  const tmpDir = mkdtempSync(join(tmpdir(), `sealkv-bench-${suite.name}-`));
  process.stderr.write(`running ${suite.name}…\n`);
  try {
    const got = await suite.run({ quick, tmpDir });
    rows.push(...got);
    for (const r of got) printRow(r);
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

function printRow(r: BenchRow): void {
  const value = r.value >= 100 ? Math.round(r.value).toLocaleString('en-US') : r.value.toFixed(3);
  const ratio = r.ratio === undefined ? '' : `  ratio=${r.ratio.toFixed(2)} vs ${r.ratioTo ?? 'reference'}`;
  const target = r.target === undefined ? '' : `  (target ${r.target})`;
  process.stdout.write(
    `${r.suite.padEnd(10)} ${r.name.padEnd(44)} ${value.padStart(14)} ${r.unit}${ratio}${target}\n`,
  );
}

const outDir = join(here, 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, 'latest.json'),
  `${JSON.stringify({ node: process.version, quick, rows }, null, 2)}\n`,
);
process.stdout.write(
  `bench suites=${new Set(rows.map((r) => r.suite)).size} rows=${rows.length} -> bench/results/latest.json\n`,
);
