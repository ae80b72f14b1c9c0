import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { canarySpellings, DEFAULT_CHUNK_SIZE, scanFile } from '../../src/cli/audit.ts';
import { StorageEnvelope } from '../../src/encryption/envelope/storage.ts';
import { Keystore } from '../../src/encryption/keystore.ts';
import { NonceFactory } from '../../src/encryption/nonce.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { utf8 } from '../../src/util/bytes.ts';

const root = mkdtempSync(join(tmpdir(), 'sealkv-audit-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
function dirWith(files: Record<string, string | Uint8Array>): string {
  const dir = join(root, `d${dirs++}`);
  mkdirSync(dir);
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

function audit(...args: string[]): { code: number | null; lines: string[]; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sealkv', 'audit', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, lines: r.stdout.split('\n').filter((l) => l !== ''), stderr: r.stderr };
}

function naiveCount(hay: Buffer, needle: Uint8Array): number {
  let n = 0;
  for (let i = 0; i + needle.length <= hay.length; i++) {
    if (hay.subarray(i, i + needle.length).equals(needle)) n++;
  }
  return n;
}

describe('canary spellings', () => {
  test('include the bytes, both hex cases and base64 at every alignment', () => {
    const canary = 'the-canary-value';
    const spellings = canarySpellings(canary).map((s) => Buffer.from(s).toString('latin1'));
    const bytes = Buffer.from(canary);
    for (const s of [canary, bytes.toString('hex'), bytes.toString('hex').toUpperCase()]) {
      assert.ok(spellings.includes(s), s);
    }
    // Embedded in a longer base64 blob at any offset, some spelling occurs in it.
    for (const encoding of ['base64', 'base64url'] as const) {
      for (let pre = 0; pre < 6; pre++) {
        const blob = Buffer.concat([randomBytes(pre), bytes, randomBytes(5)]).toString(encoding);
        assert.ok(
          spellings.some((s) => blob.includes(s)),
          `${encoding} with ${pre} leading bytes: ${blob}`,
        );
      }
    }
  });

  test('are deduplicated (digits have one hex spelling)', () => {
    const s = canarySpellings('12345678').map((b) => Buffer.from(b).toString('latin1'));
    assert.equal(new Set(s).size, s.length);
    assert.equal(s.filter((x) => x === '3132333435363738').length, 1);
  });
});

describe('chunked scanning', () => {
  test('finds matches spanning chunk boundaries exactly once (property)', () => {
    const file = join(root, 'prop.bin');
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 200 }).map((b) => Buffer.from(b.map((x) => x % 3))),
        fc.array(
          fc.uint8Array({ minLength: 1, maxLength: 6 }).map((b) => b.map((x) => x % 3)),
          { minLength: 1, maxLength: 4 },
        ),
        fc.integer({ min: 1, max: 17 }),
        (hay, patterns, chunk) => {
          writeFileSync(file, hay);
          const groups = patterns.map((p) => [p]);
          const got = scanFile(file, groups, chunk);
          assert.equal(got.bytes, hay.length);
          assert.deepEqual(
            got.counts,
            patterns.map((p) => naiveCount(hay, p)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('sealkv audit', () => {
  test('reports each file and canary with hits and exits 1', () => {
    const dir = dirWith({ a: 'xx SECRET-ALPHA yy SECRET-ALPHA', b: 'nothing here', c: 'SECRET-BETA' });
    const r = audit('--data-dir', dir, '--canary', 'SECRET-ALPHA', 'SECRET-BETA');
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(r.lines, [
      `file=${join(dir, 'a')} canary=1 hits=2`,
      `file=${join(dir, 'c')} canary=2 hits=1`,
      'audit files=3 bytes=54 hits=3',
    ]);
  });

  test('no hit exits 0 with only the summary line', () => {
    const dir = dirWith({ a: 'harmless', 'sub/b': 'also harmless' });
    const r = audit('--data-dir', dir, '--canary', 'SECRET-ALPHA', '--canary', 'SECRET-BETA');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.lines, ['audit files=2 bytes=21 hits=0']);
  });

  test('finds hex and base64 spellings in nested directories', () => {
    const c = Buffer.from('canary:hex-and-b64');
    const dir = dirWith({
      'x/y/z/hex-lower': `..${c.toString('hex')}..`,
      'x/hex-upper': c.toString('hex').toUpperCase(),
      'x/y/b64': `{"v":"${Buffer.concat([Buffer.from('ab'), c]).toString('base64')}"}`,
      'b64url-aligned': c.toString('base64url'),
    });
    const r = audit('--data-dir', dir, '--canary', 'unrelated', 'canary:hex-and-b64');
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(r.lines.slice(0, -1), [
      `file=${join(dir, 'b64url-aligned')} canary=2 hits=1`,
      `file=${join(dir, 'x/hex-upper')} canary=2 hits=1`,
      `file=${join(dir, 'x/y/b64')} canary=2 hits=1`,
      `file=${join(dir, 'x/y/z/hex-lower')} canary=2 hits=1`,
    ]);
    assert.match(r.lines.at(-1)!, /^audit files=4 bytes=\d+ hits=4$/);
  });

  test('finds a canary spanning the read-chunk boundary of a large file', () => {
    const canary = 'BOUNDARY-CANARY-42';
    const big = Buffer.alloc(DEFAULT_CHUNK_SIZE * 2 + 100, 0x2e);
    big.write(canary, DEFAULT_CHUNK_SIZE - 7);
    big.write(canary, 2 * DEFAULT_CHUNK_SIZE - canary.length); // ends exactly at the boundary
    const dir = dirWith({ big });
    const r = audit('--data-dir', dir, '--canary', canary);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(r.lines, [
      `file=${join(dir, 'big')} canary=1 hits=2`,
      `audit files=1 bytes=${big.length} hits=2`,
    ]);
  });

  test('usage errors exit 2 with one line on stderr', () => {
    const dir = dirWith({ a: 'x' });
    for (const args of [
      ['--canary', 'x'],
      ['--data-dir', join(dir, 'missing'), '--canary', 'x'],
      ['--data-dir', dir, '--canary', ''],
    ]) {
      const r = audit(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.deepEqual(r.lines, []);
    }
    const help = audit('--help');
    assert.equal(help.code, 0);
    assert.match(help.lines.join('\n'), /canary=<n> is the\s+1-based position/);
  });
});

describe('sealkv audit on a real store', () => {
  async function writeStore(dir: string, envelopeActive: boolean, canary: string): Promise<void> {
    const keystore = new Keystore();
    keystore.set(3, randomBytes(32));
    const state = { activeStorageKeyId: 3, envelopeActive };
    const engine = openLmdbEngine(join(dir, 'store'));
    const mvcc = new Mvcc(engine, {
      sealer: new StorageEnvelope(keystore, new NonceFactory(1, 1), () => state),
    });
    try {
      for (let i = 0; i < 10; i++) {
        await mvcc.commit(mvcc.batch().put(utf8(`user:${i}`), utf8(`${canary}#${i}`), BigInt(10 + i)), {
          sync: true,
        });
      }
      assert.ok(mvcc.get(utf8('user:3'), { ts: 100n, nowMs: 0n }));
    } finally {
      await engine.close();
    }
  }

  test('a store written with the envelope active has no hits; a cleartext one has', async () => {
    const canary = 'audit-e2e-canary-6d1f0c97';
    const sealed = dirWith({});
    const clear = dirWith({});
    await writeStore(sealed, true, canary);
    await writeStore(clear, false, canary);

    const ok = audit('--data-dir', sealed, '--canary', canary);
    assert.equal(ok.code, 0, ok.lines.join('\n') + ok.stderr);
    assert.match(ok.lines.at(-1)!, /^audit files=\d+ bytes=\d+ hits=0$/);
    assert.equal(ok.lines.length, 1);

    const bad = audit('--data-dir', clear, '--canary', canary);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.lines.join('\n'), new RegExp(`file=${join(clear, 'store')}/\\S+ canary=1 hits=\\d+`));
    const total = Number(/hits=(\d+)$/.exec(bad.lines.at(-1)!)![1]);
    assert.ok(total >= 10, `every one of the 10 values is found, got ${total}`);
  });
});
