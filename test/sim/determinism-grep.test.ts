import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

// docs/spec/raft.md §4: the simulator and the pure Raft core never read wall time, ambient
// randomness or schedule work on the host event loop; a run must be a function of its seed.

const ROOTS = ['sim', join('src', 'raft', 'core')];

const BANNED: readonly [RegExp, string][] = [
  [/\bDate\b/, 'Date'],
  [/\bperformance\b/, 'performance'],
  [/\bMath\s*\.\s*random\b/, 'Math.random'],
  [/\bsetTimeout\b/, 'setTimeout'],
  [/\bsetInterval\b/, 'setInterval'],
  [/\bsetImmediate\b/, 'setImmediate'],
  [/\bqueueMicrotask\b/, 'queueMicrotask'],
  [/\bprocess\s*\.\s*nextTick\b/, 'process.nextTick'],
  [/\bprocess\s*\.\s*hrtime\b/, 'process.hrtime'],
  [/\brandom(Bytes|UUID|Int|Fill|FillSync)\b/, 'crypto.random*'],
  [/\bgetRandomValues\b/, 'crypto.getRandomValues'],
];

function sources(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const p = join(dir, name);
    if (name === 'out' || name === 'node_modules') continue;
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

/** Drop comments so prose may name what the code must not use. */
export function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

export function violations(text: string): string[] {
  const code = stripComments(text);
  return BANNED.filter(([re]) => re.test(code)).map(([, name]) => name);
}

test('the grep catches each banned source of nondeterminism', () => {
  assert.deepEqual(violations('const t = Date.now();'), ['Date']);
  assert.deepEqual(violations('x = Math.random()'), ['Math.random']);
  assert.deepEqual(violations('process.nextTick(f); setImmediate(g)'), ['setImmediate', 'process.nextTick']);
  assert.deepEqual(violations('crypto.randomBytes(4)'), ['crypto.random*']);
  assert.deepEqual(violations('// Date is fine in a comment\n/* performance */ const updated = 1;'), []);
});

test('sim/ and src/raft/core/ use no wall clock, ambient randomness or host scheduling', () => {
  const files = ROOTS.flatMap((r) => sources(r));
  assert.ok(
    files.some((f) => f.startsWith('sim')),
    'expected simulator sources to scan',
  );
  const bad = files.flatMap((f) => violations(readFileSync(f, 'utf8')).map((v) => `${f}: ${v}`));
  assert.deepEqual(bad, []);
});
