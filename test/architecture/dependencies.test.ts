import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { test } from 'node:test';

// The dependency rules of docs/spec/architecture.md §1, enforced on every import in src/.
// A layer is the first folder under src/ (raft/core is its own layer).

const SRC = 'src';

/** Which layers each layer may import (itself always allowed). */
const ALLOWED: Record<string, string[]> = {
  util: [],
  'raft/core': ['util'],
  raft: ['util', 'raft/core'],
  storage: ['util'],
  encryption: ['util'],
  kv: ['util', 'storage', 'raft', 'raft/core', 'encryption'],
  redis: ['util', 'kv', 'encryption'],
  admin: ['util', 'kv', 'encryption', 'raft', 'raft/core'],
  server: ['util', 'storage', 'raft', 'raft/core', 'encryption', 'kv', 'redis', 'admin'],
  cli: ['util', 'storage', 'raft', 'raft/core', 'encryption', 'kv', 'redis', 'admin', 'server'],
};

/** npm packages a layer may use; node: built-ins are allowed everywhere except raft/core. */
const PACKAGES: Record<string, string[] | 'any'> = {
  util: [],
  'raft/core': [],
  raft: [],
  storage: ['lmdb'],
  encryption: [],
  kv: 'any',
  redis: 'any',
  admin: 'any',
  server: 'any',
  cli: 'any',
};

function layerOf(file: string): string {
  const parts = relative(SRC, file).split(sep);
  if (parts[0] === 'raft' && parts[1] === 'core') return 'raft/core';
  return parts[0]!;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) specs.push((m[1] ?? m[2])!);
  return specs;
}

test('src/ imports follow the layer rules of architecture.md', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    assert.ok(allowed, `unknown layer ${from} (${file}): add it to the dependency rules`);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = normalize(join(dirname(file), spec));
        if (!target.startsWith(`${SRC}${sep}`)) {
          violations.push(`${file} imports ${spec} outside src/`);
          continue;
        }
        const to = layerOf(target);
        if (to !== from && !allowed.includes(to))
          violations.push(`${file} (${from}) imports ${spec} (${to})`);
      } else if (spec.startsWith('node:')) {
        if (from === 'raft/core') violations.push(`${file}: the pure core may not import ${spec}`);
      } else {
        const pkgs = PACKAGES[from];
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (pkgs !== 'any' && !pkgs?.includes(name))
          violations.push(`${file} (${from}) imports package ${spec}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test('nothing in src/ imports the simulator, tests or benchmarks', () => {
  const bad = sourceFiles(SRC).flatMap((f) =>
    importsOf(f)
      .filter((s) => /(^|\/)(sim|test|bench)\//.test(s))
      .map((s) => `${f} -> ${s}`),
  );
  assert.deepEqual(bad, []);
});
