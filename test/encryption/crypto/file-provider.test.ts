import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  FileKekProvider,
  generateKekFile,
  readKekFile,
  WRAPPED_DEK_SIZE,
} from '../../../src/encryption/kek/file-provider.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealkv-kek-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function kekFile(bytes: Uint8Array | number, mode = 0o600): string {
  const path = join(dir, `kek-${n++}`);
  writeFileSync(path, typeof bytes === 'number' ? new Uint8Array(bytes).fill(0x42) : bytes);
  chmodSync(path, mode);
  return path;
}

const dek = new Uint8Array(32).map((_, i) => i);

describe('file KEK provider (encryption.md §2.2)', () => {
  test('wrap is nonce ‖ ct ‖ tag (60 bytes) and unwraps to the DEK', () => {
    const path = kekFile(32);
    const kek = FileKekProvider.open(path);
    const w = kek.wrap(dek);
    assert.equal(w.length, WRAPPED_DEK_SIZE);
    assert.equal(WRAPPED_DEK_SIZE, 60);
    assert.deepEqual(new Uint8Array(kek.unwrap(w)), dek);
    assert.equal(kek.name(), `file:${path}`);
    // Fresh random nonce per wrap.
    assert.notDeepEqual(kek.wrap(dek), w);
  });

  test('the injected random source supplies the nonce', () => {
    const kek = FileKekProvider.open(kekFile(32), { random: (k) => new Uint8Array(k).fill(7) });
    const a = kek.wrap(dek);
    const b = kek.wrap(dek);
    assert.deepEqual(Buffer.from(a.subarray(0, 12)), Buffer.alloc(12, 7));
    assert.deepEqual(Buffer.from(a), Buffer.from(b));
  });

  test('unwrap failures are ErrKEKMismatch: length, tamper, other KEK', () => {
    const kek = FileKekProvider.open(kekFile(32));
    const w = kek.wrap(dek);
    for (const bad of [w.subarray(0, 59), new Uint8Array([...w, 0]), new Uint8Array(0)]) {
      assert.throws(
        () => kek.unwrap(bad),
        (e) => isSealError(e, Err.KEKMismatch),
      );
    }
    for (let i = 0; i < w.length; i++) {
      const t = Uint8Array.from(w);
      t[i]! ^= 0x01;
      assert.throws(
        () => kek.unwrap(t),
        (e) => isSealError(e, Err.KEKMismatch),
      );
    }
    const other = FileKekProvider.open(kekFile(new Uint8Array(32).fill(0x43)));
    assert.throws(
      () => other.unwrap(w),
      (e) => isSealError(e, Err.KEKMismatch),
    );
  });

  test('wrap refuses a DEK that is not 32 bytes', () => {
    const kek = FileKekProvider.open(kekFile(32));
    assert.throws(
      () => kek.wrap(new Uint8Array(16)),
      (e) => isSealError(e, Err.BadKeySize),
    );
  });

  test('mode 0644 → ErrInsecureKEKFile (scenario 37)', () => {
    assert.throws(
      () => readKekFile(kekFile(32, 0o644)),
      (e) => isSealError(e, Err.InsecureKEKFile),
    );
    assert.throws(
      () => readKekFile(kekFile(32, 0o601)),
      (e) => isSealError(e, Err.InsecureKEKFile),
    );
    assert.equal(readKekFile(kekFile(32, 0o400)).length, 32);
  });

  test('31, 33 and 0 bytes → ErrKEKFileInvalid (scenario 37)', () => {
    for (const size of [31, 33, 0, 64]) {
      assert.throws(
        () => readKekFile(kekFile(size)),
        (e) => isSealError(e, Err.KEKFileInvalid),
      );
    }
  });

  test('a FIFO → ErrKEKFileInvalid without blocking', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const start = process.hrtime.bigint();
    assert.throws(
      () => readKekFile(fifo),
      (e) => isSealError(e, Err.KEKFileInvalid),
    );
    assert.ok(process.hrtime.bigint() - start < 1_000_000_000n);
  });

  test('a directory or a missing path → ErrKEKFileInvalid', () => {
    const d = join(dir, 'a-dir');
    mkdirSync(d, { mode: 0o700 });
    assert.throws(
      () => readKekFile(d),
      (e) => isSealError(e, Err.KEKFileInvalid),
    );
    assert.throws(
      () => readKekFile(join(dir, 'missing')),
      (e) => isSealError(e, Err.KEKFileInvalid),
    );
  });

  test('generateKekFile writes 32 bytes with mode 0600 and refuses to overwrite', () => {
    const path = join(dir, 'generated');
    generateKekFile(path);
    const st = statSync(path);
    assert.equal(st.mode & 0o777, 0o600);
    const first = readFileSync(path);
    assert.equal(first.length, 32);
    assert.throws(
      () => generateKekFile(path),
      (e) => isSealError(e, Err.InvalidArgument),
    );
    assert.deepEqual(readFileSync(path), first);
    assert.equal(FileKekProvider.open(path).unwrap(FileKekProvider.open(path).wrap(dek)).length, 32);
  });
});
