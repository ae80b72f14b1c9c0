import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decideRegistryRow,
  decodeRegistryValue,
  encodeRegistryValue,
  nodeId16,
  parseRegistryKey,
  type RegistryRow,
  registryKey,
} from '../../../src/encryption/registry/codec.ts';
import {
  MemoryRegistryStore,
  REGISTRY_INDEX_KEY,
  SIDECAR_INDEX_KEY,
} from '../../../src/encryption/registry/store.ts';
import { toHex } from '../../../src/util/bytes.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';

const code = (c: string) => (e: unknown) => isSealError(e, c);
const F = 0x0123_4567_89ab_cdefn;

describe('registry codecs (§5)', () => {
  test('key is 27 bytes: prefix ‖ BE32 dek ‖ "|" ‖ BE16 node_id16', () => {
    const k = registryKey(0x01020304, 0xabcd);
    assert.equal(k.length, 27);
    assert.equal(Buffer.from(k.subarray(0, 20)).toString(), '!encryption|writers|');
    assert.equal(toHex(k.subarray(20)), '010203047cabcd');
    assert.deepEqual(parseRegistryKey(k), { dekId: 0x01020304, nodeId16: 0xabcd });
    assert.equal(parseRegistryKey(k.subarray(1)), undefined);
    assert.equal(nodeId16(F), 0xcdef);
  });

  test('raw key constants', () => {
    assert.equal(Buffer.from(REGISTRY_INDEX_KEY).toString(), '!encryption|registry-index');
    assert.equal(Buffer.from(SIDECAR_INDEX_KEY).toString(), '!encryption|sidecar-index');
  });

  test('value is BE64 full ‖ BE16 first ‖ BE16 last and round-trips', () => {
    const row = { fullNodeId: F, firstSeenEpoch: 3, lastSeenEpoch: 0xffff };
    const v = encodeRegistryValue(row);
    assert.equal(toHex(v), '0123456789abcdef0003ffff');
    assert.deepEqual(decodeRegistryValue(v), row);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat(0xffff), fc.nat(0xffff), (f, a, b) => {
        const r = { fullNodeId: f, firstSeenEpoch: a, lastSeenEpoch: b };
        assert.deepEqual(decodeRegistryValue(encodeRegistryValue(r)), r);
      }),
      { numRuns: 200 },
    );
  });

  test('any other value length is ErrRegistryValueMalformed, never absent', () => {
    for (const n of [0, 1, 11, 13, 24]) {
      assert.throws(() => decodeRegistryValue(new Uint8Array(n)), code(Err.RegistryValueMalformed), `${n}`);
    }
  });
});

describe('registry apply table (§5)', () => {
  const row = (full: bigint, first: number, last: number): RegistryRow => ({
    fullNodeId: full,
    firstSeenEpoch: first,
    lastSeenEpoch: last,
  });

  test('case 1: no row → insert {full, e, e}', () => {
    assert.deepEqual(decideRegistryRow(undefined, 1, F, 4), { kind: 'insert', row: row(F, 4, 4) });
  });
  test('case 2: same full, e > last → last = e, first kept', () => {
    assert.deepEqual(decideRegistryRow(row(F, 2, 4), 1, F, 9), { kind: 'advance', row: row(F, 2, 9) });
  });
  test('replay: same full, e == last → no-op success', () => {
    assert.deepEqual(decideRegistryRow(row(F, 2, 4), 1, F, 4), { kind: 'noop' });
  });
  test('case 3: same full, e < last → ErrLocalEpochRollback', () => {
    assert.throws(() => decideRegistryRow(row(F, 2, 4), 1, F, 3), code(Err.LocalEpochRollback));
  });
  test('case 4: other full at the same node_id16 → ErrWriterUint16Collision', () => {
    const other = 0xffff_0000_0000_cdefn;
    assert.equal(nodeId16(other), nodeId16(F));
    assert.throws(() => decideRegistryRow(row(other, 0, 0), 1, F, 0), code(Err.WriterUint16Collision));
    assert.throws(() => decideRegistryRow(row(other, 0, 9), 1, F, 9), code(Err.WriterUint16Collision));
  });

  test('scenarios 16/17 at table level: 3 → {F,3,3}; 3 again no-op; 7 → {F,3,7}; 5 → rollback', () => {
    let r: RegistryRow | undefined;
    const apply = (e: number) => {
      const v = decideRegistryRow(r, 1, F, e);
      if (v.kind !== 'noop') r = v.row;
      return v.kind;
    };
    assert.equal(apply(3), 'insert');
    assert.deepEqual(r, row(F, 3, 3));
    assert.equal(apply(3), 'noop');
    assert.deepEqual(r, row(F, 3, 3));
    assert.equal(apply(7), 'advance');
    assert.deepEqual(r, row(F, 3, 7));
    assert.throws(() => apply(5), code(Err.LocalEpochRollback));
    assert.deepEqual(r, row(F, 3, 7));
  });
});

describe('MemoryRegistryStore', () => {
  test('commitRows is all-or-nothing and stamps registry-index', async () => {
    const s = new MemoryRegistryStore();
    assert.equal(s.registryIndex(), 0n);
    const k = registryKey(1, 2);
    await s.commitRows(
      [{ key: k, value: encodeRegistryValue({ fullNodeId: 2n, firstSeenEpoch: 0, lastSeenEpoch: 0 }) }],
      7n,
    );
    assert.equal(s.registryIndex(), 7n);
    assert.equal(s.get(k)?.length, 12);
    s.faults = (p) => {
      if (p === 'registry.beforeCommit') throw new Error('crash');
    };
    await assert.rejects(s.commitRows([{ key: registryKey(9, 9), value: new Uint8Array(12) }], 8n), /crash/);
    assert.equal(s.registryIndex(), 7n);
    assert.equal(s.get(registryKey(9, 9)), undefined);
    s.putRaw(REGISTRY_INDEX_KEY, new Uint8Array(3));
    assert.throws(() => s.registryIndex(), code(Err.RegistryValueMalformed));
  });
});
