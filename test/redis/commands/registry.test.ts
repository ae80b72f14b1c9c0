import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { COMMANDS, lookup } from '../../../src/redis/commands/registry.ts';
import type { CommandSpec } from '../../../src/redis/commands/types.ts';

/** The lookup as it was defined before the byte table: the latin1 string, lower-cased. */
function reference(name: Buffer): CommandSpec | undefined {
  return COMMANDS.get(name.toString('latin1').toLowerCase());
}

const NAMES = [...COMMANDS.keys()];

describe('command lookup by bytes', () => {
  test('every registered name resolves to its spec in lower, upper and mixed case', () => {
    for (const name of NAMES) {
      const spec = COMMANDS.get(name)!;
      assert.equal(lookup(Buffer.from(name)), spec, name);
      assert.equal(lookup(Buffer.from(name.toUpperCase())), spec, name.toUpperCase());
      const alternating = [...name].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('');
      assert.equal(lookup(Buffer.from(alternating)), spec, alternating);
    }
  });

  test('a name with any one byte replaced by any byte resolves as the string lookup does', () => {
    for (const name of NAMES) {
      const b = Buffer.from(name);
      for (let i = 0; i < b.length; i++) {
        const orig = b[i]!;
        for (let x = 0; x < 256; x++) {
          b[i] = x;
          assert.equal(lookup(b), reference(b), `${name} with byte ${i} = ${x}`);
        }
        b[i] = orig;
      }
    }
  });

  test('prefixes, extensions and empty or overlong names are not commands unless the string lookup says so', () => {
    const cases = [Buffer.alloc(0), Buffer.from('g'), Buffer.from('x'.repeat(100))];
    for (const name of NAMES) {
      cases.push(Buffer.from(name.slice(0, -1)), Buffer.from(`${name}s`), Buffer.from(`${name}\0`));
    }
    for (const c of cases) assert.equal(lookup(c), reference(c), JSON.stringify(c.toString('latin1')));
  });

  test('random byte strings in mixed case agree with the string lookup', () => {
    const letters = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.split(''));
    const byte = fc.oneof(
      letters.map((c) => c.charCodeAt(0)),
      fc.integer({ min: 0, max: 255 }),
    );
    const mixedName = fc
      .tuple(fc.constantFrom(...NAMES), fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }))
      .map(([n, up]) => Buffer.from([...n].map((c, i) => (up[i] ? c.toUpperCase() : c)).join('')));
    const name = fc.oneof(
      mixedName,
      fc.array(byte, { maxLength: 18 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(name, (b) => {
        assert.equal(lookup(b), reference(b));
      }),
      { numRuns: 300 },
    );
  });
});
