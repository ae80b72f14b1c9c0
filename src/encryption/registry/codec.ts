import { concatBytes, readU16be, readU32be, readU64be, u16be, u32be, u64be, utf8 } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';

/**
 * Writer-registry rows (encryption.md §5): one row per (DEK, 16-bit writer id)
 * recording which full node id owns that nonce prefix and the epochs it used.
 */
export const WRITERS_PREFIX = utf8('!encryption|writers|');
export const REGISTRY_KEY_LENGTH = WRITERS_PREFIX.length + 4 + 1 + 2;
export const REGISTRY_VALUE_LENGTH = 12;

export interface RegistryRow {
  readonly fullNodeId: bigint;
  readonly firstSeenEpoch: number;
  readonly lastSeenEpoch: number;
}

/** `node_id16` exactly as every component narrows it (§2.5). */
export function nodeId16(fullNodeId: bigint): number {
  return Number(fullNodeId & 0xffffn);
}

export function registryKey(dekId: number, id16: number): Uint8Array {
  return concatBytes(WRITERS_PREFIX, u32be(dekId), utf8('|'), u16be(id16));
}

/** Inverse of registryKey; undefined for keys outside the writers namespace. */
export function parseRegistryKey(key: Uint8Array): { dekId: number; nodeId16: number } | undefined {
  if (key.length !== REGISTRY_KEY_LENGTH) return undefined;
  for (let i = 0; i < WRITERS_PREFIX.length; i++) if (key[i] !== WRITERS_PREFIX[i]) return undefined;
  if (key[WRITERS_PREFIX.length + 4] !== 0x7c) return undefined;
  return {
    dekId: readU32be(key, WRITERS_PREFIX.length),
    nodeId16: readU16be(key, WRITERS_PREFIX.length + 5),
  };
}

export function encodeRegistryValue(row: RegistryRow): Uint8Array {
  return concatBytes(u64be(row.fullNodeId), u16be(row.firstSeenEpoch), u16be(row.lastSeenEpoch));
}

/** A value of any other length is corruption, never "absent". */
export function decodeRegistryValue(value: Uint8Array): RegistryRow {
  if (value.length !== REGISTRY_VALUE_LENGTH) {
    throw sealError(
      Err.RegistryValueMalformed,
      `writer-registry value has ${value.length} bytes, want ${REGISTRY_VALUE_LENGTH}; the store is corrupt`,
      { length: value.length },
    );
  }
  return {
    fullNodeId: readU64be(value, 0),
    firstSeenEpoch: readU16be(value, 8),
    lastSeenEpoch: readU16be(value, 10),
  };
}

export type RegistryVerdict =
  | { readonly kind: 'insert'; readonly row: RegistryRow }
  | { readonly kind: 'advance'; readonly row: RegistryRow }
  | { readonly kind: 'noop' };

/**
 * The §5 apply table for `(dek, full, epoch)` against the row at
 * `(dek, full & 0xFFFF)`. Cases 3 (rollback) and 4 (16-bit collision) throw:
 * they are halts on every replica, by design.
 */
export function decideRegistryRow(
  existing: RegistryRow | undefined,
  dekId: number,
  fullNodeId: bigint,
  epoch: number,
): RegistryVerdict {
  if (existing === undefined) {
    return { kind: 'insert', row: { fullNodeId, firstSeenEpoch: epoch, lastSeenEpoch: epoch } };
  }
  if (existing.fullNodeId !== fullNodeId) {
    throw sealError(
      Err.WriterUint16Collision,
      `writer row (dek ${dekId}, node_id16 0x${nodeId16(fullNodeId).toString(16)}) belongs to node ` +
        `0x${existing.fullNodeId.toString(16)}, not 0x${fullNodeId.toString(16)}`,
      { dekId, nodeId16: nodeId16(fullNodeId), owner: existing.fullNodeId, fullNodeId },
    );
  }
  if (epoch > existing.lastSeenEpoch) {
    return { kind: 'advance', row: { ...existing, lastSeenEpoch: epoch } };
  }
  if (epoch === existing.lastSeenEpoch) return { kind: 'noop' };
  throw sealError(
    Err.LocalEpochRollback,
    `writer 0x${fullNodeId.toString(16)} under dek ${dekId} reports epoch ${epoch} below last_seen ` +
      `${existing.lastSeenEpoch}; a nonce may be reused`,
    { dekId, fullNodeId, epoch, lastSeen: existing.lastSeenEpoch },
  );
}
