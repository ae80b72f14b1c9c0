import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { openRaftBody, RaftEnvelope, sealRaftBody } from '../../../src/encryption/envelope/raft.ts';
import { StorageEnvelope } from '../../../src/encryption/envelope/storage.ts';
import { NonceFactory } from '../../../src/encryption/nonce.ts';
import { toHex } from '../../../src/util/bytes.ts';
import { Err } from '../../../src/util/codes.ts';
import { engineKey, flipBit, keystoreWith, liveHeader, sealErr } from './helpers.ts';

const UNWRAP = Err.RaftUnwrapFailed;

describe('raft envelope (encryption.md §3.5)', () => {
  test('layout 01 00 BE32(R) ‖ nonce ‖ ct ‖ tag, and round trip', () => {
    const ks = keystoreWith(7);
    const env = new RaftEnvelope(ks, new NonceFactory(0x0001, 0x0002), () => 7);
    const wrapped = env.wrapRaftPayload(Buffer.from('payload'));
    assert.equal(wrapped.length, 7 + 34);
    assert.equal(toHex(wrapped.subarray(0, 18)), '0100000000070001000200000000' + '00000001');
    assert.equal(Buffer.from(env.unwrapRaftPayload(wrapped)).toString(), 'payload');
  });

  test('round-trips random payloads, including empty ones', () => {
    const ks = keystoreWith(1, 2);
    const nonces = new NonceFactory(9, 9);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom(1, 2), (body, id) => {
        const w = sealRaftBody(ks, id, nonces, body);
        assert.deepEqual(new Uint8Array(openRaftBody(ks, w)), body);
      }),
      { numRuns: 200 },
    );
  });

  test('every single bit flip is ErrRaftUnwrapFailed', () => {
    const ks = keystoreWith(1);
    const w = sealRaftBody(ks, 1, new NonceFactory(1, 1), Buffer.from('0123456789'));
    for (let bit = 0; bit < w.length * 8; bit++) {
      assert.throws(
        () => openRaftBody(ks, flipBit(w, bit)),
        sealErr(UNWRAP, [Err.Integrity, Err.UnknownKeyID, Err.EnvelopeVersion]),
      );
    }
  });

  test('decode errors keep their inner code', () => {
    const ks = keystoreWith(1);
    const w = Buffer.from(sealRaftBody(ks, 1, new NonceFactory(1, 1), Buffer.from('x')));
    assert.throws(() => openRaftBody(ks, w.subarray(0, 33)), sealErr(UNWRAP, Err.EnvelopeShort));
    const flagged = Buffer.from(w);
    flagged[1] = 1;
    assert.throws(() => openRaftBody(ks, flagged), sealErr(UNWRAP, Err.Integrity));
    assert.throws(() => openRaftBody(keystoreWith(2), w), sealErr(UNWRAP, Err.UnknownKeyID));
  });

  test('wrapping needs an installed, loaded key', () => {
    const ks = keystoreWith(1);
    let active = 0;
    const env = new RaftEnvelope(
      ks,
      () => new NonceFactory(1, 1),
      () => active,
    );
    assert.throws(() => env.wrapRaftPayload(Buffer.from('x')), sealErr(Err.ReservedKeyID));
    active = 3;
    assert.throws(() => env.wrapRaftPayload(Buffer.from('x')), sealErr(Err.UnknownKeyID));
    active = 1;
    assert.equal(env.wrapRaftPayload(Buffer.from('x')).length, 35);
  });
});

describe('storage and raft envelopes are mutually unusable', () => {
  test('under the same key and nonce space neither opens as the other', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 40 }), (value, ek) => {
        const ks = keystoreWith(1);
        const nonces = new NonceFactory(1, 1);
        const storage = new StorageEnvelope(ks, nonces, () => ({
          activeStorageKeyId: 1,
          envelopeActive: true,
        }));
        const h = liveHeader();
        const s = storage.seal(value, h, ek);
        assert.throws(() => openRaftBody(ks, s), sealErr(UNWRAP, Err.Integrity));
        const r = sealRaftBody(ks, 1, nonces, value);
        assert.throws(() => storage.open(r, h, ek), sealErr(Err.EncryptedReadIntegrity, Err.Integrity));
        // Nor is a raft envelope stored as cleartext mistaken for a re-badged value.
        storage.checkCleartext(r, new Uint8Array(9), ek);
      }),
      { numRuns: 100 },
    );
  });

  test('even with an empty engine key and a header mimicking the raft prefix', () => {
    const ks = keystoreWith(1);
    const nonces = new NonceFactory(1, 1);
    const storage = new StorageEnvelope(ks, nonces, () => ({ activeStorageKeyId: 1, envelopeActive: true }));
    const r = sealRaftBody(ks, 1, nonces, Buffer.from('v'));
    const h = Uint8Array.from([0x52, 0x01, 0, 0, 0, 1, 0, 0, 0]);
    assert.throws(() => storage.open(r, h, new Uint8Array(0)), sealErr(Err.EncryptedReadIntegrity));
    assert.throws(() => storage.open(r, h, engineKey('', 0n)), sealErr(Err.EncryptedReadIntegrity));
  });
});

describe('raft AAD layout, checked with a bare decipher', () => {
  test("raft AAD = 'R' ‖ 01 ‖ BE32(key)", () => {
    const ks = keystoreWith(0x01020304);
    const w = Buffer.from(sealRaftBody(ks, 0x01020304, new NonceFactory(1, 1), Buffer.from('entry')));
    const d = createDecipheriv('aes-256-gcm', ks.get(0x01020304)!.dek, w.subarray(6, 18));
    d.setAuthTag(w.subarray(w.length - 16));
    d.setAAD(Buffer.from([0x52, 0x01, 0x01, 0x02, 0x03, 0x04]));
    const plain = Buffer.concat([d.update(w.subarray(18, w.length - 16)), d.final()]);
    assert.equal(plain.toString(), 'entry');
  });
});
