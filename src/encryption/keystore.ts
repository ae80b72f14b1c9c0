import { createSecretKey, type KeyObject } from 'node:crypto';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

export interface LoadedKey {
  readonly id: number;
  readonly dek: Uint8Array;
  /** Prepared once so the per-value path does not re-import the raw key. */
  readonly key: KeyObject;
}

/**
 * Process-wide `key_id → DEK` map (encryption.md §2.4). Reads see an immutable
 * snapshot; every update swaps in a new map (copy-on-write), so a reader never
 * observes a half-applied change.
 */
export class Keystore {
  private keys: ReadonlyMap<number, LoadedKey> = new Map();

  set(id: number, dek: Uint8Array): void {
    if (!Number.isInteger(id) || id <= 0 || id > 0xffffffff) {
      throw sealError(Err.ReservedKeyID, `key id ${id} is not a non-zero uint32`, { id });
    }
    if (dek.length !== 32) {
      throw sealError(Err.BadKeySize, `DEK for key id ${id} has ${dek.length} bytes, want 32`, { id });
    }
    const existing = this.keys.get(id);
    if (existing !== undefined) {
      if (Buffer.compare(Buffer.from(existing.dek), Buffer.from(dek)) === 0) return;
      throw sealError(Err.KeyConflict, `key id ${id} is already loaded with different key bytes`, { id });
    }
    const copy = Uint8Array.from(dek);
    const next = new Map(this.keys);
    next.set(id, { id, dek: copy, key: createSecretKey(copy) });
    this.keys = next;
  }

  get(id: number): LoadedKey | undefined {
    return this.keys.get(id);
  }

  has(id: number): boolean {
    return this.keys.has(id);
  }

  /** Loaded key ids in ascending order. */
  ids(): number[] {
    return [...this.keys.keys()].sort((a, b) => a - b);
  }

  delete(id: number): void {
    if (!this.keys.has(id)) return;
    const next = new Map(this.keys);
    next.delete(id);
    this.keys = next;
  }
}
