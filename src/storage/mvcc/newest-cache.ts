/**
 * The newest version of recently read user keys, opened (decrypted) once.
 *
 * Why: a point read at the current timestamp is the common read, and through
 * lmdb it costs a cursor, a copy and an unseal (about 20 µs); a hot key read
 * from here costs a map lookup. Only the newest version is kept, so an entry
 * answers exactly the reads at or after its commit timestamp; older reads go
 * to the engine.
 *
 * It stays exact by watching the engine: every write to a key's versions (a
 * put, a tombstone, a GC removal) drops that key's entry at the moment the
 * write becomes visible, and a whole-store replace empties the cache and
 * keeps it off until it finishes. Values are held in plaintext in process
 * memory, which the encryption model does not protect anyway (it covers
 * what is persisted); nothing here is ever written out.
 */
import type { WriteBatch, WriteObserver } from '../engine.ts';
import { decodeEngineKey, VERSION_SUFFIX_LEN } from './keys.ts';

export interface NewestVersion {
  readonly commitTs: bigint;
  /** A tombstone, or no version at all (then commitTs is 0). */
  readonly absent: boolean;
  readonly value: Uint8Array;
  readonly expireAt: bigint;
}

/** Per-entry bookkeeping on top of key and value bytes: map slot, objects, bigints and the
 * value's own ArrayBuffer (measured: about 400 B for a 16-byte key and a 105-byte value). */
const ENTRY_OVERHEAD_BYTES = 400;

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
// Node's own decoder takes any Uint8Array; going through Buffer.from costs an object per key.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: Latin1Slice }).latin1Slice;

/** Latin1 string of a user key: the map key (one char per byte). */
export function cacheKey(userKey: Uint8Array): string {
  return latin1Slice.call(userKey, 0, userKey.length);
}

/** The map key of the user key an MVCC engine key belongs to. */
function keyOfVersion(engineKey: Uint8Array): string {
  const end = engineKey.length - VERSION_SUFFIX_LEN;
  // Escaping only touches 0x00 bytes: without one, the user key is the plain prefix.
  if (end >= 0 && engineKey.subarray(0, end).indexOf(0) < 0) return latin1Slice.call(engineKey, 0, end);
  return cacheKey(decodeEngineKey(engineKey).userKey);
}

export class NewestVersionCache implements WriteObserver {
  readonly #entries = new Map<string, { v: NewestVersion; bytes: number }>();
  readonly #maxBytes: number;
  readonly #maxEntryBytes: number;
  #bytes = 0;
  #replacing = 0;
  hits = 0;
  misses = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    // One large value must not flush every hot key out.
    this.#maxEntryBytes = Math.max(1024, Math.floor(maxBytes / 64));
  }

  /** `id` is cacheKey(userKey). */
  get(id: string): NewestVersion | undefined {
    const e = this.#entries.get(id);
    if (e === undefined) this.misses++;
    else this.hits++;
    return e?.v;
  }

  /** Remembers what a read of the live engine found as the key's newest version. */
  set(id: string, v: NewestVersion): void {
    if (this.#replacing > 0) return;
    const bytes = id.length + v.value.byteLength + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.#maxEntryBytes) return;
    this.delete(id);
    // A copy: the row may be a view into a buffer the engine reuses or a caller keeps.
    const value = v.value.byteLength === 0 ? v.value : v.value.slice();
    this.#entries.set(id, { v: { ...v, value }, bytes });
    this.#bytes += bytes;
    // Oldest insert first: a hot key that is evicted comes back on its next read.
    for (const [k, old] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= old.bytes;
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  written(batch: WriteBatch): void {
    if (this.#entries.size === 0) return;
    for (const op of batch.ops) {
      if (op.ns !== 'mvcc') continue;
      this.delete(keyOfVersion(op.key));
    }
  }

  replacing(active: boolean): void {
    this.#replacing += active ? 1 : -1;
    this.#entries.clear();
    this.#bytes = 0;
  }

  private delete(id: string): void {
    const e = this.#entries.get(id);
    if (e === undefined) return;
    this.#entries.delete(id);
    this.#bytes -= e.bytes;
  }
}
