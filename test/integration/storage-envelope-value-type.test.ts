/**
 * A read must not reveal through its value's type whether the version was
 * stored sealed: callers treat values as plain Uint8Array (the engines strip
 * lmdb's Buffer subclass for that reason), and a Buffer stringifies and
 * serialises differently (`String(v)` decodes UTF-8, `JSON.stringify(v)`
 * gives `{"type":"Buffer",…}`), so the same value would answer differently
 * before and after the storage cutover.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StorageEnvelope } from '../../src/encryption/envelope/storage.ts';
import { Keystore } from '../../src/encryption/keystore.ts';
import { NonceFactory } from '../../src/encryption/nonce.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { utf8 } from '../../src/util/bytes.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealkv-storage-type-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('sealed and cleartext versions read back as the same plain Uint8Array type', async () => {
  const keystore = new Keystore();
  keystore.set(1, randomBytes(32));
  const state = { activeStorageKeyId: 1, envelopeActive: false };
  const engine = openLmdbEngine(dir);
  const mvcc = new Mvcc(engine, {
    sealer: new StorageEnvelope(keystore, new NonceFactory(1, 1), () => state),
  });
  try {
    await mvcc.commit(mvcc.batch().put(utf8('clear'), utf8('same'), 1n), { sync: true });
    state.envelopeActive = true;
    await mvcc.commit(mvcc.batch().put(utf8('sealed'), utf8('same'), 1n), { sync: true });
    const clear = mvcc.get(utf8('clear'), { ts: 1n, nowMs: 0n })!.value;
    const sealed = mvcc.get(utf8('sealed'), { ts: 1n, nowMs: 0n })!.value;
    assert.equal(Object.getPrototypeOf(clear), Uint8Array.prototype);
    assert.equal(Object.getPrototypeOf(sealed), Uint8Array.prototype, 'decrypted value is a Buffer');
    assert.deepEqual(sealed, clear);
  } finally {
    await engine.close();
  }
});
