import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ENVELOPE_OVERHEAD } from '../../../src/encryption/envelope/codec.ts';
import { StorageEnvelope, type StorageWriteState } from '../../../src/encryption/envelope/storage.ts';
import { NonceFactory } from '../../../src/encryption/nonce.ts';
import type { ValueSealer } from '../../../src/storage/sealer.ts';
import { toHex, u64le } from '../../../src/util/bytes.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { engineKey, flipBit, keystoreWith, liveHeader, sealErr } from './helpers.ts';

const READ = Err.EncryptedReadIntegrity;

function setup(state: StorageWriteState = { activeStorageKeyId: 1, envelopeActive: true }) {
  const keystore = keystoreWith(1, 2);
  const nonces = new NonceFactory(0xabcd, 3);
  const st = { ...state };
  const env = new StorageEnvelope(keystore, nonces, () => st);
  // The storage layer sees it only through its own interface.
  const sealer: ValueSealer = env;
  return { keystore, nonces, st, env, sealer };
}

describe('storage envelope (encryption.md §3.4)', () => {
  test('layout: 01 00 BE32(key) ‖ nonce ‖ ct ‖ tag, 34 bytes of overhead', () => {
    const { sealer } = setup();
    const v = Buffer.from('hello');
    const env = sealer.seal(v, liveHeader(), engineKey('k', 5n));
    assert.equal(env.length, v.length + ENVELOPE_OVERHEAD);
    assert.equal(toHex(env.subarray(0, 18)), '0100' + '00000001' + 'abcd0003' + '0000000000000001');
    assert.deepEqual(Buffer.from(sealer.open(env, liveHeader(), engineKey('k', 5n))), v);
  });

  test('round-trips values of random sizes, TTLs and engine keys', () => {
    const { sealer } = setup();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        (value, ek, ttl) => {
          const h = liveHeader(ttl);
          const env = sealer.seal(value, h, ek);
          assert.equal(env.length, value.length + 34);
          assert.deepEqual(new Uint8Array(sealer.open(env, h, ek)), value);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('encrypted empty plaintext reads back as a present empty value', () => {
    const { sealer } = setup();
    const env = sealer.seal(new Uint8Array(0), liveHeader(), engineKey('e', 1n));
    assert.equal(env.length, 34);
    const got = sealer.open(env, liveHeader(), engineKey('e', 1n));
    assert.ok(got instanceof Uint8Array);
    assert.equal(got.length, 0);
  });

  test('every single bit flip of header, key id, nonce, ciphertext or tag is rejected', () => {
    const { sealer } = setup();
    const h = liveHeader(1234n);
    const ek = engineKey('user', 77n);
    const env = sealer.seal(Buffer.from('0123456789'), h, ek);
    for (let bit = 0; bit < h.length * 8; bit++) {
      assert.throws(() => sealer.open(env, flipBit(h, bit), ek), sealErr(READ, Err.Integrity));
    }
    for (let bit = 0; bit < env.length * 8; bit++) {
      assert.throws(
        () => sealer.open(flipBit(env, bit), h, ek),
        sealErr(READ, [Err.Integrity, Err.UnknownKeyID, Err.EnvelopeVersion]),
      );
    }
    for (let bit = 0; bit < ek.length * 8; bit++) {
      assert.throws(() => sealer.open(env, h, flipBit(ek, bit)), sealErr(READ, Err.Integrity));
    }
  });

  test('random bit flips in random-size values are rejected', () => {
    const { sealer } = setup();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), fc.nat(), (value, at, which) => {
        const h = liveHeader(9n);
        const ek = engineKey('p', 1n);
        const env = sealer.seal(value, h, ek);
        const parts = [env, h, ek];
        const target = which % 3;
        const bit = at % (parts[target]!.length * 8);
        parts[target] = flipBit(parts[target]!, bit);
        assert.throws(() => sealer.open(parts[0]!, parts[1]!, parts[2]!), sealErr(READ));
      }),
      { numRuns: 200 },
    );
  });

  test('moving a value to another engine key or another version fails (scenario 54)', () => {
    const { sealer } = setup();
    const env = sealer.seal(Buffer.from('v'), liveHeader(), engineKey('a', 1n));
    assert.throws(() => sealer.open(env, liveHeader(), engineKey('b', 1n)), sealErr(READ, Err.Integrity));
    assert.throws(() => sealer.open(env, liveHeader(), engineKey('a', 2n)), sealErr(READ, Err.Integrity));
  });

  test('tombstone bit or state 01→00 in the header breaks authentication (scenarios 52, 53)', () => {
    const { sealer } = setup();
    const h = liveHeader();
    const env = sealer.seal(Buffer.from('v'), h, engineKey('a', 1n));
    const tomb = Uint8Array.from(h);
    tomb[0] = 0x03;
    assert.throws(() => sealer.open(env, tomb, engineKey('a', 1n)), sealErr(READ));
  });

  test('decode errors are reported as ErrEncryptedReadIntegrity with the inner code', () => {
    const { sealer } = setup();
    const h = liveHeader();
    const ek = engineKey('a', 1n);
    const env = Buffer.from(sealer.seal(Buffer.from('v'), h, ek));
    assert.throws(() => sealer.open(env.subarray(0, 33), h, ek), sealErr(READ, Err.EnvelopeShort));
    assert.throws(() => sealer.open(new Uint8Array(0), h, ek), sealErr(READ, Err.EnvelopeShort));
    const v2 = Buffer.from(env);
    v2[0] = 0x02;
    assert.throws(() => sealer.open(v2, h, ek), sealErr(READ, Err.EnvelopeVersion));
    const compressed = Buffer.from(env);
    compressed[1] = 0x01;
    assert.throws(() => sealer.open(compressed, h, ek), sealErr(READ, Err.Integrity));
    const unknown = Buffer.from(env);
    unknown.writeUInt32BE(99, 2);
    assert.throws(() => sealer.open(unknown, h, ek), sealErr(READ, Err.UnknownKeyID));
    assert.throws(() => sealer.open(env, h.subarray(0, 8), ek), sealErr(READ, Err.Integrity));
    assert.throws(
      () => sealer.open(env, Buffer.concat([h, Buffer.alloc(1)]), ek),
      sealErr(READ, Err.Integrity),
    );
    try {
      sealer.open(unknown, h, ek);
    } catch (e) {
      assert.ok(e instanceof Error && isSealError(e.cause, Err.UnknownKeyID));
    }
  });

  test('a value sealed under an old key still opens after rotation; a deleted key does not', () => {
    const { sealer, st, keystore } = setup();
    const h = liveHeader();
    const ek = engineKey('r', 1n);
    const old = sealer.seal(Buffer.from('old'), h, ek);
    st.activeStorageKeyId = 2;
    const neu = sealer.seal(Buffer.from('new'), h, ek);
    assert.equal(Buffer.from(neu).readUInt32BE(2), 2);
    // The factory keeps counting across the rotation.
    assert.equal(toHex(neu.subarray(14, 18)), '00000002');
    assert.equal(Buffer.from(sealer.open(old, h, ek)).toString(), 'old');
    assert.equal(Buffer.from(sealer.open(neu, h, ek)).toString(), 'new');
    keystore.delete(1);
    assert.throws(() => sealer.open(old, h, ek), sealErr(READ, Err.UnknownKeyID));
  });

  test('the write decision follows the state cache', () => {
    const { sealer, st } = setup({ activeStorageKeyId: 0, envelopeActive: false });
    assert.equal(sealer.shouldSeal(), false);
    st.activeStorageKeyId = 1;
    assert.equal(sealer.shouldSeal(), false);
    st.envelopeActive = true;
    assert.equal(sealer.shouldSeal(), true);
    st.activeStorageKeyId = 0;
    assert.equal(sealer.shouldSeal(), false);
  });

  test('sealing without an active or loaded key fails loudly', () => {
    const { sealer, st } = setup({ activeStorageKeyId: 0, envelopeActive: true });
    assert.throws(
      () => sealer.seal(Buffer.from('x'), liveHeader(), engineKey('a', 1n)),
      sealErr(Err.ReservedKeyID),
    );
    st.activeStorageKeyId = 5;
    assert.throws(
      () => sealer.seal(Buffer.from('x'), liveHeader(), engineKey('a', 1n)),
      sealErr(Err.UnknownKeyID),
    );
  });

  test('sealing refuses a header that does not say encryption_state 01', () => {
    const { sealer } = setup();
    const h = liveHeader();
    h[0] = 0x00;
    assert.throws(() => sealer.seal(Buffer.from('x'), h, engineKey('a', 1n)));
    assert.throws(() => sealer.seal(Buffer.from('x'), new Uint8Array(8).fill(2), engineKey('a', 1n)));
  });

  test('an exhausted nonce factory stops writes with ErrWriteCountExhausted', () => {
    const keystore = keystoreWith(1);
    const nonces = new NonceFactory(1, 1, { lastCount: (1n << 64n) - 1n });
    const env = new StorageEnvelope(
      keystore,
      () => nonces,
      () => ({ activeStorageKeyId: 1, envelopeActive: true }),
    );
    assert.throws(
      () => env.seal(Buffer.from('x'), liveHeader(), engineKey('a', 1n)),
      sealErr(Err.WriteCountExhausted),
    );
  });

  test('a lazily resolved nonce factory is used once available', () => {
    const keystore = keystoreWith(1);
    let factory: NonceFactory | undefined;
    const env = new StorageEnvelope(
      keystore,
      () => factory!,
      () => ({ activeStorageKeyId: 1, envelopeActive: true }),
    );
    factory = new NonceFactory(0x0102, 0x0304);
    const out = env.seal(Buffer.from('x'), liveHeader(), engineKey('a', 1n));
    assert.equal(toHex(out.subarray(6, 18)), '010203040000000000000001');
  });
});

describe('re-badge guard (encryption.md §3.4 read rules)', () => {
  const cleartextHeader = (expireAt = 0n) => {
    const h = new Uint8Array(9);
    h.set(u64le(expireAt), 1);
    return h;
  };

  test('an envelope relabelled as cleartext in place is refused', () => {
    const { env } = setup();
    const ek = engineKey('k', 3n);
    const sealed = env.seal(Buffer.from('secret'), liveHeader(500n), ek);
    assert.throws(() => env.checkCleartext(sealed, cleartextHeader(500n), ek), sealErr(READ));
  });

  test('an envelope restored from a copy, with its TTL changed and key id bytes forged, is refused', () => {
    const { env, st } = setup();
    st.activeStorageKeyId = 2;
    const ek = engineKey('k', 3n);
    const sealed = Buffer.from(env.seal(Buffer.from('secret'), liveHeader(0n), ek));
    sealed.writeUInt32BE(0xdeadbeef, 2);
    sealed[0] = 0x7f;
    assert.throws(() => env.checkCleartext(sealed, cleartextHeader(999n), ek), sealErr(READ));
  });

  test('a legacy cleartext value starting with 0x01 stays readable (scenario 56)', () => {
    const { env } = setup();
    const legacy = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 1]), Buffer.alloc(40, 0x55)]);
    env.checkCleartext(legacy, cleartextHeader(), engineKey('k', 1n));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.bigInt({ min: 0n, max: 1000n }),
        (body, ttl) => {
          env.checkCleartext(body, cleartextHeader(ttl), engineKey('k', 1n));
        },
      ),
      { numRuns: 150 },
    );
  });

  test('an envelope sealed at another engine key is not mistaken for a re-badge here', () => {
    const { env } = setup();
    const sealed = env.seal(Buffer.from('secret'), liveHeader(), engineKey('other', 3n));
    env.checkCleartext(sealed, cleartextHeader(), engineKey('k', 3n));
  });
});

describe('AAD layout, checked with a bare decipher', () => {
  test('storage AAD = 01 00 BE32(key) ‖ header ‖ engine key', () => {
    const { env, keystore } = setup();
    const h = liveHeader(0x0102030405060708n);
    const ek = engineKey('user', 42n);
    const sealed = Buffer.from(env.seal(Buffer.from('spec'), h, ek));
    const aad = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 1]), h, ek]);
    const d = createDecipheriv('aes-256-gcm', keystore.get(1)!.dek, sealed.subarray(6, 18));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    d.setAAD(aad);
    const plain = Buffer.concat([d.update(sealed.subarray(18, sealed.length - 16)), d.final()]);
    assert.equal(plain.toString(), 'spec');
  });
});
