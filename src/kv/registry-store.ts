/**
 * The writer registry (encryption.md §5) over the storage engine's raw
 * `encryption` namespace. Rows, `!encryption|registry-index` and
 * `!encryption|sidecar-index` live outside the MVCC keyspace, so no user key
 * reaches them, MVCC scans and GC never see them, and they travel inside the
 * storage snapshot stream with everything else.
 *
 * `persistent`: true by default for every Engine. The lmdb engine is durable;
 * the in-memory engine loses the registry only together with the FSM's applied
 * index (they share one engine), so a restart replays the log from 0 against
 * an empty registry and reaches the same verdicts. Tests may pass
 * `persistent: false` to exercise the applier's refusal.
 */
import {
  decodeIndexValue,
  REGISTRY_INDEX_KEY,
  type RegistryFaultPoint,
  type RegistryStore,
  type RegistryWrite,
  SIDECAR_INDEX_KEY,
} from '../encryption/registry/store.ts';
import type { Engine } from '../storage/engine.ts';
import { WriteBatch } from '../storage/engine.ts';
import { u64be } from '../util/bytes.ts';

export interface LmdbRegistryStoreOptions {
  /** Defaults to true; see the module comment. */
  persistent?: boolean;
  /** Test hook around the one durable commit; throwing simulates a crash there. */
  faults?: (point: RegistryFaultPoint) => void;
}

const NS = 'encryption';

export class LmdbRegistryStore implements RegistryStore {
  readonly persistent: boolean;
  faults: ((point: RegistryFaultPoint) => void) | undefined;
  readonly #engine: Engine;

  constructor(engine: Engine, opts: LmdbRegistryStoreOptions = {}) {
    this.#engine = engine;
    this.persistent = opts.persistent ?? true;
    this.faults = opts.faults;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.#engine.get(NS, key);
  }

  registryIndex(): bigint {
    return decodeIndexValue('!encryption|registry-index', this.#engine.get(NS, REGISTRY_INDEX_KEY));
  }

  /** `!encryption|sidecar-index`: the last bootstrap/rotation entry whose applied index is persisted. */
  sidecarIndex(): bigint {
    return decodeIndexValue('!encryption|sidecar-index', this.#engine.get(NS, SIDECAR_INDEX_KEY));
  }

  /** One atomic batch: the rows and the registry index, awaited to stable storage. */
  async commitRows(rows: readonly RegistryWrite[], index: bigint): Promise<void> {
    const batch = new WriteBatch();
    for (const r of rows) batch.put(NS, r.key, r.value);
    batch.put(NS, REGISTRY_INDEX_KEY, u64be(index));
    this.faults?.('registry.beforeCommit');
    // Durability step: the applier writes the sidecar only after this, so
    // "active ⇒ proposer row exists" must not rest on an unflushed commit.
    await this.#engine.write(batch, { sync: true });
    this.faults?.('registry.afterCommit');
  }
}
