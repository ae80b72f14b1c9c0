import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FileKekProvider } from '../../src/encryption/kek/file-provider.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealkv-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sealkv(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sealkv', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sealkv kek generate', () => {
  test('writes a 0600 32-byte KEK and refuses to overwrite it', () => {
    const out = join(dir, 'kek');
    const r = sealkv('kek', 'generate', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `generated kek_file=${out} mode=0600\n`);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const bytes = readFileSync(out);
    assert.equal(bytes.length, 32);
    const again = sealkv('kek', 'generate', `--out=${out}`);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refusing to overwrite/);
    assert.deepEqual(readFileSync(out), bytes);
  });

  test('missing --out is a usage error', () => {
    assert.equal(sealkv('kek', 'generate').code, 2);
  });
});

describe('sealkv admin encryption generate-dek', () => {
  test('prints a fresh id and a DEK wrapped by the KEK, never the DEK', () => {
    const kek = join(dir, 'kek-dek');
    writeFileSync(kek, Buffer.alloc(32, 9), { mode: 0o600 });
    const r = sealkv(
      'admin',
      'encryption',
      'generate-dek',
      '--kek-file',
      kek,
      '--existing-id',
      '5',
      '--existing-id=0x10',
    );
    assert.equal(r.code, 0, r.stderr);
    const m = /^dek_id=(\d+) wrapped_dek=([A-Za-z0-9+/=]+)\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const id = Number(m[1]);
    assert.ok(id > 0 && id <= 0xffffffff && id !== 5 && id !== 16);
    const wrapped = Buffer.from(m[2]!, 'base64');
    assert.equal(wrapped.length, 60);
    const dek = FileKekProvider.open(kek).unwrap(wrapped);
    assert.equal(dek.length, 32);
    assert.ok(!r.stdout.includes(Buffer.from(dek).toString('base64')));
    assert.ok(!r.stdout.includes(Buffer.from(dek).toString('hex')));
  });

  test('a KEK file readable by group/other → exit 1 naming ErrInsecureKEKFile', () => {
    const kek = join(dir, 'kek-open');
    writeFileSync(kek, Buffer.alloc(32, 9));
    chmodSync(kek, 0o644);
    const r = sealkv('admin', 'encryption', 'generate-dek', `--kek-file=${kek}`);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: \w+ ErrInsecureKEKFile .*\n$/);
  });

  test('a 31-byte KEK file → exit 1 naming ErrKEKFileInvalid', () => {
    const kek = join(dir, 'kek-short');
    writeFileSync(kek, Buffer.alloc(31, 9), { mode: 0o600 });
    const r = sealkv('admin', 'encryption', 'generate-dek', '--kek-file', kek);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ErrKEKFileInvalid/);
  });

  test('a malformed --existing-id or missing --kek-file is a usage error', () => {
    assert.equal(
      sealkv('admin', 'encryption', 'generate-dek', '--kek-file', 'x', '--existing-id', 'abc').code,
      2,
    );
    assert.equal(sealkv('admin', 'encryption', 'generate-dek').code, 2);
  });
});

describe('sealkv admin encryption probe-node-id', () => {
  test('--full-node-id=0x1234ABCD (scenario 18)', () => {
    const r = sealkv('admin', 'encryption', 'probe-node-id', '--full-node-id=0x1234ABCD');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'full_node_id: 0x000000001234abcd (305441741)\nnode_id: 0xabcd (43981)\n');
  });

  test('--id hashes the raft id with FNV-1a-64', () => {
    const r = sealkv('admin', 'encryption', 'probe-node-id', '--id', 'a');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `full_node_id: 0xaf63dc4c8601ec8c (${0xaf63dc4c8601ec8cn})\nnode_id: 0xec8c (60556)\n`,
    );
  });

  test('0x12zz, both flags or neither → exit 2 with one stderr line', () => {
    for (const args of [
      ['--full-node-id=0x12zz'],
      ['--full-node-id', '18446744073709551616'],
      ['--full-node-id', '1', '--id', 'a'],
      [],
    ]) {
      const r = sealkv('admin', 'encryption', 'probe-node-id', ...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }
  });
});

describe('sealkv admin encryption disable', () => {
  test('always refuses with ErrDisableUnsupported and explains dump-and-reload', () => {
    const r = sealkv('admin', 'encryption', 'disable');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: FailedPrecondition ErrDisableUnsupported .*dump.*reload/);
  });

  test('-h exits 0; an unknown verb exits 2', () => {
    assert.equal(sealkv('admin', 'encryption', 'disable', '-h').code, 0);
    assert.equal(sealkv('admin', 'encryption', 'no-such-verb').code, 2);
  });
});
