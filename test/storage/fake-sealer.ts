/**
 * A stand-in ValueSealer for storage tests: the envelope layout of the spec
 * (version, flag, key id, 12-byte nonce, body, 16-byte tag) with an XOR
 * "cipher" and an HMAC tag over the same AAD the real envelope binds.
 */
import { createHmac } from 'node:crypto';
import type { ValueSealer } from '../../src/storage/sealer.ts';
import { concatBytes, u32be, u64be } from '../../src/util/bytes.ts';
import { sealError } from '../../src/util/errors.ts';

const OVERHEAD = 34;
const KEY_ID = 7;

export class FakeSealer implements ValueSealer {
  sealing = true;
  calls = { seal: 0, open: 0, checkCleartext: 0 };
  #counter = 0n;

  shouldSeal(): boolean {
    return this.sealing;
  }

  seal(plaintext: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Uint8Array {
    this.calls.seal++;
    const nonce = concatBytes(Uint8Array.of(0, 1, 0, 1), u64be(++this.#counter));
    const prefix = concatBytes(Uint8Array.of(1, 0), u32be(KEY_ID));
    const body = xor(plaintext, nonce);
    return concatBytes(prefix, nonce, body, tag(prefix, header, engineKey, nonce, body));
  }

  open(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Uint8Array {
    this.calls.open++;
    const plain = tryOpen(body, header, engineKey);
    if (plain === undefined)
      throw sealError('ErrEncryptedReadIntegrity', 'fake envelope failed to authenticate');
    return plain;
  }

  checkCleartext(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): void {
    this.calls.checkCleartext++;
    const onDisk = header.slice(1);
    for (const expire of [onDisk, new Uint8Array(8)]) {
      const canonical = concatBytes(Uint8Array.of(0x02), expire);
      const candidate = concatBytes(Uint8Array.of(1, 0), u32be(KEY_ID), body.subarray(6));
      if (tryOpen(candidate, canonical, engineKey) !== undefined) {
        throw sealError('ErrEncryptedReadIntegrity', 'cleartext row authenticates as an envelope');
      }
    }
  }
}

function tryOpen(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Uint8Array | undefined {
  if (body.length < OVERHEAD || body[0] !== 1 || body[1] !== 0) return undefined;
  const prefix = body.subarray(0, 6);
  const nonce = body.subarray(6, 18);
  const ct = body.subarray(18, body.length - 16);
  const expected = tag(prefix, header, engineKey, nonce, ct);
  if (Buffer.compare(Buffer.from(expected), Buffer.from(body.subarray(body.length - 16))) !== 0)
    return undefined;
  return xor(ct, nonce);
}

function xor(data: Uint8Array, nonce: Uint8Array): Uint8Array {
  return data.map((b, i) => b ^ nonce[i % nonce.length]! ^ 0x5a);
}

function tag(
  prefix: Uint8Array,
  header: Uint8Array,
  engineKey: Uint8Array,
  nonce: Uint8Array,
  ct: Uint8Array,
): Uint8Array {
  const h = createHmac('sha256', 'fake-sealer-key');
  for (const part of [prefix, header, engineKey, nonce, ct]) h.update(part);
  return new Uint8Array(h.digest().subarray(0, 16));
}
