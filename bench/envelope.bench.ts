import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { StorageEnvelope } from '../src/encryption/envelope/storage.ts';
import { Keystore } from '../src/encryption/keystore.ts';
import { NonceFactory } from '../src/encryption/nonce.ts';
import type { BenchRow, BenchSuite } from './harness.ts';

// The storage envelope against a bare AES-256-GCM loop doing the same cipher
// work (same key object, 12-byte nonce, AAD of the same size, 16-byte tag), so
// the ratio isolates what the envelope adds per value.
const SIZES = [100, 1024, 64 * 1024];

function setup() {
  const keystore = new Keystore();
  keystore.set(1, randomBytes(32));
  const nonces = new NonceFactory(0x0102, 1);
  // The state cache hands out one object until the state changes.
  const state = { activeStorageKeyId: 1, envelopeActive: true };
  const env = new StorageEnvelope(keystore, nonces, () => state);
  const header = Buffer.alloc(9);
  header[0] = 0x02;
  const engineKey = Buffer.concat([Buffer.from('user:0000000123'), Buffer.alloc(8, 0xfe)]);
  return { key: keystore.get(1)!.key, env, header, engineKey };
}

const suite: BenchSuite = {
  name: 'envelope',
  async run({ quick }) {
    const ms = quick ? 300 : 2000;
    const { key, env, header, engineKey } = setup();
    const aad = Buffer.alloc(6 + header.length + engineKey.length, 0x11);
    const nonce = randomBytes(12);
    const rows: BenchRow[] = [];
    for (const size of SIZES) {
      const plain = randomBytes(size);
      const sealed = env.seal(plain, header, engineKey);
      const bareCt = (() => {
        const c = createCipheriv('aes-256-gcm', key, nonce);
        c.setAAD(aad);
        const ct = c.update(plain);
        c.final();
        return { ct, tag: c.getAuthTag() };
      })();

      const bareSeal = () => {
        const c = createCipheriv('aes-256-gcm', key, nonce);
        c.setAAD(aad);
        c.update(plain);
        c.final();
        c.getAuthTag();
      };
      const envSeal = () => {
        env.seal(plain, header, engineKey);
      };
      const bareOpen = () => {
        const d = createDecipheriv('aes-256-gcm', key, nonce);
        d.setAuthTag(bareCt.tag);
        d.setAAD(aad);
        d.update(bareCt.ct);
        d.final();
      };
      const envOpen = () => {
        env.open(sealed, header, engineKey);
      };

      const batch = size >= 64 * 1024 ? 10 : 100;
      const seal = pairedOps(bareSeal, envSeal, ms, batch);
      const open = pairedOps(bareOpen, envOpen, ms, batch);
      const label = size >= 1024 ? `${size / 1024}KiB` : `${size}B`;
      rows.push(
        { suite: 'envelope', name: `bare-gcm seal ${label}`, value: seal.a, unit: 'ops/s' },
        {
          suite: 'envelope',
          name: `storage-envelope seal ${label}`,
          value: seal.b,
          unit: 'ops/s',
          ratio: seal.b / seal.a,
          ratioTo: 'bare createCipheriv (interleaved)',
          target: '>= 0.8',
        },
        { suite: 'envelope', name: `bare-gcm open ${label}`, value: open.a, unit: 'ops/s' },
        {
          suite: 'envelope',
          name: `storage-envelope open ${label}`,
          value: open.b,
          unit: 'ops/s',
          ratio: open.b / open.a,
          ratioTo: 'bare createDecipheriv (interleaved)',
        },
      );
    }
    return rows;
  },
};

/**
 * Ops/s of `a` and `b` measured in alternating batches for about `ms` each.
 * Interleaving at batch granularity makes a burst of load from other
 * processes on the shared cores hit both sides alike, so the ratio is stable
 * even when the absolute numbers are not.
 */
function pairedOps(a: () => void, b: () => void, ms: number, batch: number): { a: number; b: number } {
  for (let i = 0; i < batch; i++) {
    a();
    b();
  }
  const budget = BigInt(ms) * 2_000_000n;
  let ta = 0n;
  let tb = 0n;
  let batches = 0;
  const timed = (fn: () => void): bigint => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    return process.hrtime.bigint() - t0;
  };
  while (ta + tb < budget) {
    // Alternate which side goes first so GC debt is shared evenly.
    if (batches % 2 === 0) {
      ta += timed(a);
      tb += timed(b);
    } else {
      tb += timed(b);
      ta += timed(a);
    }
    batches++;
  }
  const ops = batches * batch;
  return { a: ops / (Number(ta) / 1e9), b: ops / (Number(tb) / 1e9) };
}

export default suite;
