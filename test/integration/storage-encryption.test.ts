/**
 * The storage layer and the storage envelope together, on the real lmdb
 * engine: encryption.md §15 scenarios 4, 6, 7 and 51-56, rotation, restart
 * with a bumped epoch, and snapshot streams of an encrypted store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StorageEnvelope, type StorageWriteState } from '../../src/encryption/envelope/storage.ts';
import { Keystore } from '../../src/encryption/keystore.ts';
import { NonceFactory } from '../../src/encryption/nonce.ts';
import { WriteBatch } from '../../src/storage/engine.ts';
import { type LmdbEngine, openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { engineKey } from '../../src/storage/mvcc/keys.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { readU32be, toHex, utf8 } from '../../src/util/bytes.ts';
import { isSealError } from '../../src/util/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'sealkv-storage-enc-'));
after(() => rmSync(root, { recursive: true, force: true }));

const NODE16 = 0x0a0b;
const S = 7; // the storage key id of bootstrap
const HEADER = 9;
const OVERHEAD = 34;
const k = (s: string) => utf8(s);
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const integrity = (e: unknown) => isSealError(e, 'ErrEncryptedReadIntegrity');
const reserved = (e: unknown) => isSealError(e, 'ErrEncryptedValueReservedState');

let dirs = 0;
function freshDir(): string {
  return join(root, `store-${dirs++}`);
}

/**
 * One node's storage stack: lmdb + Mvcc + StorageEnvelope over a shared
 * keystore. `state` is the slice of the state cache the envelope reads; a
 * test flips `envelopeActive` to model the storage cutover's apply.
 */
interface Node {
  dir: string;
  engine: LmdbEngine;
  mvcc: Mvcc;
  keystore: Keystore;
  state: { activeStorageKeyId: number; envelopeActive: boolean };
  nonces: NonceFactory;
}

function openNode(
  dir: string,
  keystore: Keystore,
  state: Node['state'],
  epoch: number,
  opts: { sealer?: boolean } = {},
): Node {
  const engine = openLmdbEngine(dir);
  const nonces = new NonceFactory(NODE16, epoch);
  const sealer = new StorageEnvelope(keystore, nonces, (): StorageWriteState => state);
  const mvcc = new Mvcc(engine, opts.sealer === false ? {} : { sealer });
  return { dir, engine, mvcc, keystore, state, nonces };
}

function bootstrapped(epoch = 1): Node {
  const keystore = new Keystore();
  keystore.set(S, randomBytes(32));
  return openNode(freshDir(), keystore, { activeStorageKeyId: S, envelopeActive: false }, epoch);
}

async function put(n: Node, key: string, value: Uint8Array | string, ts: bigint): Promise<void> {
  const v = typeof value === 'string' ? k(value) : value;
  await n.mvcc.commit(n.mvcc.batch().put(k(key), v, ts), { sync: true });
}

function get(n: Node, key: string, ts = 1000n): Uint8Array | undefined {
  return n.mvcc.get(k(key), { ts, nowMs: 0n })?.value;
}

function raw(n: Node, key: string, ts: bigint): Uint8Array {
  const row = n.engine.get('mvcc', engineKey(k(key), ts));
  assert.ok(row, `no stored version of ${key}@${ts}`);
  return row;
}

async function overwriteRaw(n: Node, key: string, ts: bigint, row: Uint8Array): Promise<void> {
  await n.engine.write(new WriteBatch().put('mvcc', engineKey(k(key), ts), row), { sync: true });
}

/** Every nonce in the store's encrypted bodies, as hex. */
function storedNonces(n: Node): string[] {
  const out: string[] = [];
  for (const { value } of n.engine.range('mvcc')) {
    if (((value[0]! >> 1) & 3) === 1) out.push(toHex(value.subarray(HEADER + 6, HEADER + 18)));
  }
  return out;
}

describe('storage cutover (§15 scenarios 4, 6, 7)', () => {
  test('4: sealer present, envelope inactive: byte 0 is 0x00 and the body is the value', async () => {
    const n = bootstrapped();
    try {
      await put(n, 'k', 'v-cleartext', 10n);
      const row = raw(n, 'k', 10n);
      assert.equal(row[0], 0x00);
      assert.deepEqual([...row.subarray(1, HEADER)], [0, 0, 0, 0, 0, 0, 0, 0]);
      assert.equal(text(row.subarray(HEADER)), 'v-cleartext');
      assert.equal(text(get(n, 'k')!), 'v-cleartext');
    } finally {
      await n.engine.close();
    }
  });

  test('6: after cutover: byte 0 is 0x02, body 01 00 BE32(S), len(v)+34, get returns v', async () => {
    const n = bootstrapped();
    try {
      n.state.envelopeActive = true;
      const v = 'value-after-cutover';
      await put(n, 'k', v, 20n);
      const row = raw(n, 'k', 20n);
      assert.equal(row[0], 0x02);
      const body = row.subarray(HEADER);
      assert.equal(body[0], 0x01);
      assert.equal(body[1], 0x00);
      assert.equal(readU32be(body, 2), S);
      assert.equal(body.length, v.length + OVERHEAD);
      assert.ok(!Buffer.from(row).includes(v), 'plaintext must not be stored');
      assert.equal(text(get(n, 'k')!), v);
    } finally {
      await n.engine.close();
    }
  });

  test('7: a key written before and after the cutover reads both versions at their timestamps', async () => {
    const n = bootstrapped();
    try {
      await put(n, 'k', 'old', 10n);
      n.state.envelopeActive = true;
      await put(n, 'k', 'new', 20n);
      assert.equal(raw(n, 'k', 10n)[0], 0x00);
      assert.equal(raw(n, 'k', 20n)[0], 0x02);
      assert.equal(text(get(n, 'k', 10n)!), 'old');
      assert.equal(text(get(n, 'k', 19n)!), 'old');
      assert.equal(text(get(n, 'k', 20n)!), 'new');
      assert.equal(get(n, 'k', 9n), undefined);
      const scanned = n.mvcc.scan({ ts: 15n, nowMs: 0n });
      assert.deepEqual(
        scanned.map((e) => [text(e.key), text(e.value), e.commitTs]),
        [['k', 'old', 10n]],
      );
    } finally {
      await n.engine.close();
    }
  });
});

describe('encrypted values with TTL and empty bodies', () => {
  test('an encrypted empty value reads back present and empty', async () => {
    const n = bootstrapped();
    try {
      n.state.envelopeActive = true;
      await put(n, 'e', new Uint8Array(0), 10n);
      assert.equal(raw(n, 'e', 10n).length, HEADER + OVERHEAD);
      const v = get(n, 'e');
      assert.ok(v !== undefined, 'present');
      assert.equal(v.length, 0);
    } finally {
      await n.engine.close();
    }
  });

  test('expiry is decided after decryption, and a rewritten expireAt fails closed', async () => {
    const n = bootstrapped();
    try {
      n.state.envelopeActive = true;
      await n.mvcc.commit(n.mvcc.batch().put(k('t'), k('ttl-value'), 10n, { expireAt: 500n }), {
        sync: true,
      });
      assert.equal(text(n.mvcc.get(k('t'), { ts: 10n, nowMs: 499n })!.value), 'ttl-value');
      assert.equal(n.mvcc.get(k('t'), { ts: 10n, nowMs: 500n }), undefined);
      const bad = raw(n, 't', 10n).slice();
      bad[1] = 0x01; // expireAt 500 -> 257: would hide the value earlier
      await overwriteRaw(n, 't', 10n, bad);
      assert.throws(() => n.mvcc.get(k('t'), { ts: 10n, nowMs: 300n }), integrity);
    } finally {
      await n.engine.close();
    }
  });
});

describe('tampering with encrypted versions on disk (§15 scenarios 51-56)', () => {
  async function encryptedStore(): Promise<Node> {
    const n = bootstrapped();
    n.state.envelopeActive = true;
    await put(n, 'a', 'secret-a', 10n);
    await put(n, 'b', 'secret-b', 10n);
    return n;
  }

  test('51: a flipped ciphertext byte reads as ErrEncryptedReadIntegrity, never undefined', async () => {
    const n = await encryptedStore();
    try {
      const row = raw(n, 'a', 10n);
      for (const at of [HEADER + 18, row.length - 1, HEADER + 6]) {
        const bad = row.slice();
        bad[at]! ^= 0x01;
        await overwriteRaw(n, 'a', 10n, bad);
        assert.throws(() => get(n, 'a'), integrity, `flip at ${at}`);
        assert.throws(() => n.mvcc.scan({ ts: 1000n, nowMs: 0n }), integrity);
      }
      await overwriteRaw(n, 'a', 10n, row);
      assert.equal(text(get(n, 'a')!), 'secret-a');
    } finally {
      await n.engine.close();
    }
  });

  test('52: setting the tombstone bit reads as ErrEncryptedReadIntegrity, not "not found"', async () => {
    const n = await encryptedStore();
    try {
      const bad = raw(n, 'a', 10n).slice();
      bad[0] = 0x03;
      await overwriteRaw(n, 'a', 10n, bad);
      assert.throws(() => get(n, 'a'), integrity);
    } finally {
      await n.engine.close();
    }
  });

  test('53: state bits 01 -> 00 trip the re-badge guard', async () => {
    const n = await encryptedStore();
    try {
      const bad = raw(n, 'a', 10n).slice();
      bad[0] = 0x00;
      await overwriteRaw(n, 'a', 10n, bad);
      assert.throws(() => get(n, 'a'), integrity);
      // With a TTL added by the attacker too: the guard also tries expireAt 0.
      bad.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], 1);
      await overwriteRaw(n, 'a', 10n, bad);
      assert.throws(() => get(n, 'a'), integrity);
    } finally {
      await n.engine.close();
    }
  });

  test('54: an encrypted value copied under another key reads as ErrEncryptedReadIntegrity', async () => {
    const n = await encryptedStore();
    try {
      await overwriteRaw(n, 'b', 10n, raw(n, 'a', 10n));
      assert.throws(() => get(n, 'b'), integrity);
      // Same key, another version timestamp: the engine key differs too.
      await overwriteRaw(n, 'a', 11n, raw(n, 'a', 10n));
      assert.throws(() => get(n, 'a', 11n), integrity);
      assert.equal(text(get(n, 'a', 10n)!), 'secret-a');
    } finally {
      await n.engine.close();
    }
  });

  test('55: header bit 3 set reads as ErrEncryptedValueReservedState', async () => {
    const n = await encryptedStore();
    try {
      const bad = raw(n, 'a', 10n).slice();
      bad[0]! |= 0x08;
      await overwriteRaw(n, 'a', 10n, bad);
      assert.throws(() => get(n, 'a'), reserved);
      bad[0] = 0x04 | 0x02; // state 0b11 (reserved)
      await overwriteRaw(n, 'a', 10n, bad);
      assert.throws(() => get(n, 'a'), reserved);
    } finally {
      await n.engine.close();
    }
  });

  test('56: a pre-cutover cleartext value starting 0x01 reads back as its original bytes', async () => {
    const n = bootstrapped();
    try {
      // Looks like an envelope header (version 1, flag 0, key id S) but is data.
      const v = new Uint8Array(80);
      v.set([0x01, 0x00, 0, 0, 0, S]);
      v.set(randomBytes(74), 6);
      await put(n, 'legacy', v, 10n);
      n.state.envelopeActive = true;
      await put(n, 'other', 'x', 20n);
      assert.equal(raw(n, 'legacy', 10n)[0], 0x00);
      assert.deepEqual(get(n, 'legacy'), v);
    } finally {
      await n.engine.close();
    }
  });
});

describe('scans and GC over encrypted versions', () => {
  test('forward and reverse scans decrypt the version visible at the read timestamp', async () => {
    const n = bootstrapped();
    try {
      await put(n, 'a', 'a-clear', 10n);
      n.state.envelopeActive = true;
      await put(n, 'a', 'a-sealed', 20n);
      await put(n, 'b', 'b-sealed', 20n);
      await put(n, 'c', 'c-sealed', 15n);
      const rows = (reverse: boolean, ts: bigint) =>
        n.mvcc.scan({ ts, nowMs: 0n, reverse }).map((e) => `${text(e.key)}=${text(e.value)}@${e.commitTs}`);
      assert.deepEqual(rows(false, 30n), ['a=a-sealed@20', 'b=b-sealed@20', 'c=c-sealed@15']);
      assert.deepEqual(rows(true, 30n), ['c=c-sealed@15', 'b=b-sealed@20', 'a=a-sealed@20']);
      assert.deepEqual(rows(true, 16n), ['c=c-sealed@15', 'a=a-clear@10']);
    } finally {
      await n.engine.close();
    }
  });

  test('GC keeps reads at the retention point and refuses to collect a forged tombstone', async () => {
    const n = bootstrapped();
    try {
      n.state.envelopeActive = true;
      for (let ts = 10n; ts <= 14n; ts++) await put(n, 'k', `v${ts}`, ts);
      await put(n, 'gone', 'soon-deleted', 10n);
      await n.mvcc.commit(n.mvcc.batch().delete(k('gone'), 11n), { sync: true });
      const batch = n.mvcc.batch();
      assert.equal(n.mvcc.gc(batch, { retentionTs: 13n, nowMs: 0n }), 5);
      await n.mvcc.commit(batch, { sync: true });
      assert.equal(text(get(n, 'k', 13n)!), 'v13');
      assert.equal(text(get(n, 'k', 14n)!), 'v14');
      assert.equal(get(n, 'gone'), undefined);
      assert.equal([...n.engine.range('mvcc')].length, 2);

      const forged = raw(n, 'k', 14n).slice();
      forged[0] = 0x03;
      await overwriteRaw(n, 'k', 14n, forged);
      assert.throws(() => n.mvcc.gc(n.mvcc.batch(), { retentionTs: 20n, nowMs: 0n }), integrity);
    } finally {
      await n.engine.close();
    }
  });
});

describe('key lifecycle on lmdb', () => {
  test('rotation: old versions stay readable, new versions carry the new key id', async () => {
    const n = bootstrapped();
    try {
      n.state.envelopeActive = true;
      await put(n, 'k', 'under-S', 10n);
      await put(n, 'j', 'j-under-S', 10n);
      n.keystore.set(S + 1, randomBytes(32));
      n.state.activeStorageKeyId = S + 1;
      await put(n, 'k', 'under-S+1', 20n);
      assert.equal(readU32be(raw(n, 'k', 10n), HEADER + 2), S);
      assert.equal(readU32be(raw(n, 'k', 20n), HEADER + 2), S + 1);
      assert.equal(text(get(n, 'k', 10n)!), 'under-S');
      assert.equal(text(get(n, 'k', 20n)!), 'under-S+1');
      assert.equal(text(get(n, 'j')!), 'j-under-S');
      // The nonce count keeps running across the rotation.
      const [newer, older] = [raw(n, 'k', 20n), raw(n, 'k', 10n)].map((r) =>
        toHex(r.subarray(HEADER + 6, HEADER + 18)),
      );
      assert.notEqual(newer, older);
    } finally {
      await n.engine.close();
    }
  });

  test('restart: values survive reopen and the bumped epoch never repeats a nonce', async () => {
    const first = bootstrapped(1);
    first.state.envelopeActive = true;
    const values = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      values.set(`k${i}`, `value-${i}-${'x'.repeat(i)}`);
      await put(first, `k${i}`, values.get(`k${i}`)!, 10n);
    }
    const before = storedNonces(first);
    await first.engine.close();

    const second = openNode(first.dir, first.keystore, first.state, 2);
    try {
      for (const [key, v] of values) assert.equal(text(get(second, key)!), v);
      for (let i = 0; i < 20; i++) await put(second, `k${i}`, `rewritten-${i}`, 20n);
      for (let i = 0; i < 20; i++) assert.equal(text(get(second, `k${i}`)!), `rewritten-${i}`);
      const all = storedNonces(second);
      assert.equal(before.length, 20);
      assert.equal(all.length, 40);
      assert.equal(new Set(all).size, all.length, 'every stored nonce is distinct');
      const after = all.filter((x) => !before.includes(x));
      assert.equal(after.length, 20);
      for (const x of after) assert.equal(x.slice(0, 8), '0a0b0002', 'new nonces carry the pinned epoch');
    } finally {
      await second.engine.close();
    }
  });
});

describe('snapshot stream of an encrypted store', () => {
  test('carries no plaintext and restores into a fresh engine that decrypts', async () => {
    const n = bootstrapped();
    const canary = 'canary-3b9f1e-plaintext-must-not-travel';
    const target = openNode(freshDir(), n.keystore, n.state, 3);
    try {
      n.state.envelopeActive = true;
      for (let i = 0; i < 50; i++) await put(n, `key-${i}`, `${canary}-${i}`, 10n);
      await n.mvcc.commit(n.mvcc.batch().delete(k('key-0'), 11n), { sync: true });
      const chunks: Uint8Array[] = [];
      for await (const c of n.mvcc.snapshotStream(4096)) chunks.push(c.slice());
      const stream = Buffer.concat(chunks);
      assert.ok(stream.length > 50 * canary.length, 'the stream carries every row');
      assert.equal(stream.indexOf(canary), -1, 'no plaintext canary in the stream');
      assert.equal(stream.indexOf(Buffer.from(canary).toString('hex')), -1);

      async function* replay(): AsyncGenerator<Uint8Array> {
        yield* chunks;
      }
      await target.mvcc.restore(replay());
      assert.equal(get(target, 'key-0'), undefined);
      assert.equal(text(get(target, 'key-0', 10n)!), `${canary}-0`);
      for (let i = 1; i < 50; i++) assert.equal(text(get(target, `key-${i}`)!), `${canary}-${i}`);
      assert.deepEqual(target.engine.get('mvcc', engineKey(k('key-7'), 10n)), raw(n, 'key-7', 10n));
    } finally {
      await n.engine.close();
      await target.engine.close();
    }
  });

  test('a restored encrypted store refuses reads on a node without the key', async () => {
    const n = bootstrapped();
    n.state.envelopeActive = true;
    const keyless = openNode(freshDir(), new Keystore(), { activeStorageKeyId: 0, envelopeActive: false }, 1);
    try {
      await put(n, 'k', 'sealed', 10n);
      await keyless.mvcc.restore(n.mvcc.snapshotStream());
      assert.throws(() => get(keyless, 'k'), integrity);
    } finally {
      await n.engine.close();
      await keyless.engine.close();
    }
  });
});
