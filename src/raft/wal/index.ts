export type { SnapshotMode } from './codec.ts';
export { DEFAULT_PAD_BYTES } from './padding.ts';
export type { RepairReport } from './recover.ts';
export {
  DEFAULT_SEGMENT_BYTES,
  type RecoveredState,
  type SaveOptions,
  type SnapshotMarker,
  Wal,
  type WalCrashPoint,
  type WalOptions,
  type WalStats,
} from './wal.ts';
