/**
 * encryption.md §3.4: a `0b00` body of 34 bytes or more, read with a cipher
 * configured, goes through the re-badge guard, and an envelope found there is
 * reported as ErrEncryptedReadIntegrity. That holds when the forger also sets
 * the tombstone bit (byte 0 `0x02` → `0x01`): the operator must learn that an
 * encrypted value was re-labelled, not that the store is merely malformed.
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
import { WriteBatch } from '../../src/storage/engine.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { engineKey } from '../../src/storage/mvcc/keys.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { utf8 } from '../../src/util/bytes.ts';
import { isSealError } from '../../src/util/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealkv-storage-rebadge-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('an envelope re-labelled as a cleartext tombstone reads as ErrEncryptedReadIntegrity', async () => {
  const keystore = new Keystore();
  keystore.set(1, randomBytes(32));
  const state = { activeStorageKeyId: 1, envelopeActive: true };
  const engine = openLmdbEngine(dir);
  const mvcc = new Mvcc(engine, {
    sealer: new StorageEnvelope(keystore, new NonceFactory(1, 1), () => state),
  });
  try {
    await mvcc.commit(mvcc.batch().put(utf8('k'), utf8('sealed-value'), 10n), { sync: true });
    const ek = engineKey(utf8('k'), 10n);
    const forged = engine.get('mvcc', ek)!.slice();
    assert.equal(forged[0], 0x02);
    forged[0] = 0x01;
    await engine.write(new WriteBatch().put('mvcc', ek, forged), { sync: true });
    assert.throws(
      () => mvcc.get(utf8('k'), { ts: 10n, nowMs: 0n }),
      (e: unknown) => isSealError(e, 'ErrEncryptedReadIntegrity'),
    );
  } finally {
    await engine.close();
  }
});
