import { bytesEqual, readU64be, toHex, u64be, utf8 } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';

/** Raw (non-MVCC) key: BE64 index of the last entry whose registry rows are durable. */
export const REGISTRY_INDEX_KEY = utf8('!encryption|registry-index');
/** Raw (non-MVCC) key: BE64 index of the last applied bootstrap/rotation entry. */
export const SIDECAR_INDEX_KEY = utf8('!encryption|sidecar-index');

export interface RegistryWrite {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/**
 * The raw engine namespace the applier keeps writer rows in (encryption.md §5).
 * Implemented by the storage layer over a non-MVCC sub-database.
 */
export interface RegistryStore {
  /** False for engines without a durable raw namespace; the applier refuses them. */
  readonly persistent: boolean;
  /** The raw registry value at `key`, or undefined if there is none. */
  get(key: Uint8Array): Uint8Array | undefined;
  /** The `!encryption|registry-index` value, 0 if absent. */
  registryIndex(): bigint;
  /**
   * Writes every row plus `!encryption|registry-index` = index in ONE atomic
   * synced batch: after a crash either all of it is durable or none of it.
   */
  commitRows(rows: readonly RegistryWrite[], index: bigint): Promise<void>;
}

/** Decodes a stored BE64 index; anything but 8 bytes is corruption. */
export function decodeIndexValue(name: string, value: Uint8Array | undefined): bigint {
  if (value === undefined) return 0n;
  if (value.length !== 8) {
    throw sealError(Err.RegistryValueMalformed, `${name} has ${value.length} bytes, want 8`, { key: name });
  }
  return readU64be(value, 0);
}

export type RegistryFaultPoint = 'registry.beforeCommit' | 'registry.afterCommit';

/**
 * In-memory RegistryStore whose "disk" is the map itself: a commit is all or
 * nothing, so a fault thrown before the swap leaves the previous state intact.
 */
export class MemoryRegistryStore implements RegistryStore {
  readonly persistent: boolean;
  faults: ((point: RegistryFaultPoint) => void) | undefined;
  private data = new Map<string, Uint8Array>();

  constructor(opts: { persistent?: boolean; faults?: (point: RegistryFaultPoint) => void } = {}) {
    this.persistent = opts.persistent ?? true;
    this.faults = opts.faults;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const v = this.data.get(toHex(key));
    return v === undefined ? undefined : Uint8Array.from(v);
  }

  registryIndex(): bigint {
    return decodeIndexValue('!encryption|registry-index', this.data.get(toHex(REGISTRY_INDEX_KEY)));
  }

  async commitRows(rows: readonly RegistryWrite[], index: bigint): Promise<void> {
    this.faults?.('registry.beforeCommit');
    const next = new Map(this.data);
    for (const r of rows) next.set(toHex(r.key), Uint8Array.from(r.value));
    next.set(toHex(REGISTRY_INDEX_KEY), u64be(index));
    this.data = next;
    this.faults?.('registry.afterCommit');
  }

  /** Test hook: writes a raw value outside any batch (corruption, snapshots). */
  putRaw(key: Uint8Array, value: Uint8Array): void {
    this.data.set(toHex(key), Uint8Array.from(value));
  }

  /** Every stored key (hex) → value (hex), sorted; for state comparisons. */
  dump(): [string, string][] {
    return [...this.data]
      .map(([k, v]) => [k, toHex(v)] as [string, string])
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }

  has(key: Uint8Array, value: Uint8Array): boolean {
    const v = this.data.get(toHex(key));
    return v !== undefined && bytesEqual(v, value);
  }
}
