import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runGolden } from './golden/runner.ts';

// docs/spec/raft.md §3: each file is a transcript of commands and the core's behaviour.
// GOLDEN_REWRITE=1 regenerates the expected blocks; review that diff like code.
const dir = join(import.meta.dirname, 'golden');
const rewrite = process.env.GOLDEN_REWRITE === '1';

for (const name of readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort()) {
  test(`golden ${name}`, () => {
    const path = join(dir, name);
    const src = readFileSync(path, 'utf8');
    const actual = runGolden(src);
    if (rewrite) writeFileSync(path, actual);
    else assert.equal(actual, src);
  });
}
