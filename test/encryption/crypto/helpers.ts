import { randomBytes } from 'node:crypto';
import { Keystore } from '../../../src/encryption/keystore.ts';
import { u64be, u64le } from '../../../src/util/bytes.ts';
import { isSealError } from '../../../src/util/errors.ts';

/** A keystore with the given ids loaded, each with its own random DEK. */
export function keystoreWith(...ids: number[]): Keystore {
  const ks = new Keystore();
  for (const id of ids) ks.set(id, randomBytes(32));
  return ks;
}

/** The 9-byte header of a live encrypted value. */
export function liveHeader(expireAt = 0n): Uint8Array {
  const h = new Uint8Array(9);
  h[0] = 0x02;
  h.set(u64le(expireAt), 1);
  return h;
}

/** `user_key ‖ BE64(~commit_ts)`. */
export function engineKey(userKey: string, commitTs: bigint): Uint8Array {
  const k = Buffer.from(userKey, 'utf8');
  return Buffer.concat([k, u64be(~commitTs)]);
}

export function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

/** An assert.throws validator that also checks the inner code kept in details. */
export function sealErr(code: string, inner?: string | string[]): (e: unknown) => boolean {
  return (e) => {
    if (!isSealError(e, code)) return false;
    if (inner === undefined) return true;
    const allowed = Array.isArray(inner) ? inner : [inner];
    return allowed.includes(String(e.details.inner));
  };
}
