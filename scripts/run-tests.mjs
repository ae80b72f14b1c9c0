#!/usr/bin/env node
// Node 20's test runner does not expand globs, so collect the files here.
// Usage: npm test [-- <substring filter>...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const roots = ['test', 'src', 'sim'];
const files = [];
function walk(dir) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names.sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts')) files.push(relative(process.cwd(), path));
  }
}
for (const root of roots) walk(root);

const filters = process.argv.slice(2);
const selected = filters.length === 0 ? files : files.filter((f) => filters.some((s) => f.includes(s)));
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
// A test that hangs fails on its own after this long, under its own name.
const testTimeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 300_000);
// The whole run takes a few minutes. A process that outlives its tests (a server
// child nobody stopped) would otherwise hold the run open until CI's own limit.
const runLimitMin = Number(process.env.TEST_RUN_LIMIT_MIN ?? 25);
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${testTimeoutMs}`,
    ...selected,
  ],
  { stdio: 'inherit', detached: true },
);
const watchdog = setTimeout(() => {
  console.error(
    `test run still going after ${runLimitMin} minutes: killing it (a hung test file or a leaked child process)`,
  );
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}, runLimitMin * 60_000);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      child.kill(sig);
    }
  });
}
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  process.exit(signal ? 1 : (code ?? 1));
});
