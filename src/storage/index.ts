/** Public surface of the storage layer. */
export {
  type Engine,
  type KeyValue,
  MAX_KEY_SIZE,
  NAMESPACES,
  type Namespace,
  type NamespacedRow,
  type RangeOptions,
  type ReadView,
  type Snapshot,
  WriteBatch,
  type WriteObserver,
  type WriteOptions,
} from './engine.ts';
export { LmdbEngine, type LmdbEngineOptions, openLmdbEngine } from './lmdb-engine.ts';
export { createMemoryEngine, MemoryEngine } from './memory-engine.ts';
export {
  type GcCursor,
  type GcOptions,
  Mvcc,
  MvccBatch,
  type MvccOptions,
  type PutOptions,
  type RawNamespace,
  type ReadAt,
  type ScanOptions,
  type VisibleValue,
} from './mvcc/mvcc.ts';
export type { ValueSealer } from './sealer.ts';
export { decodeSnapshot, restoreSnapshot, snapshotStream } from './snapshot-stream.ts';
