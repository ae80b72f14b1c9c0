import { Err } from '../../util/codes.ts';
import { isSealError, type SealError, sealError } from '../../util/errors.ts';
import type { KekProvider } from '../kek/provider.ts';
import type { Keystore } from '../keystore.ts';
import type { RegistryStore } from '../registry/store.ts';
import type { SidecarIo } from '../sidecar/file.ts';
import type { EncryptionStateCache } from '../state-cache.ts';

/** Named points between the applier's side effects; a hook that throws simulates a crash there. */
export type ApplierFaultPoint =
  | 'applier.afterUnwrap'
  | 'applier.afterRows'
  | 'applier.afterKeystore'
  | 'applier.afterSidecar'
  | 'applier.afterCache'
  | 'applier.afterInstaller';

/** Installs the raft-envelope wrap from `cutover` on, under `raftKeyId` (§3.5). MUST be idempotent. */
export interface WrapInstaller {
  install(cutover: bigint, raftKeyId: number): void | Promise<void>;
}

export interface ApplierOptions {
  /** Required; a missing or non-persistent store refuses construction. */
  registry?: RegistryStore | undefined;
  kek?: KekProvider | undefined;
  keystore?: Keystore | undefined;
  sidecarPath?: string | undefined;
  sidecarIo?: SidecarIo | undefined;
  /** Milliseconds since the Unix epoch, only for the diagnostic `created` field. */
  clock?: (() => number) | undefined;
  stateCache?: EncryptionStateCache | undefined;
  /** This process's pinned epochs; a rotated-in key starts at the one for its purpose (0 if unset). */
  pinnedEpochs?: (() => { storage: number; raft: number }) | undefined;
  installer?: WrapInstaller | undefined;
  faults?: ((point: ApplierFaultPoint, index: bigint) => void) | undefined;
}

export type ApplyOp =
  | 'entry'
  | 'registration'
  | 'bootstrap'
  | 'rotation'
  | 'rotate-dek'
  | 'enable-storage-envelope'
  | 'enable-raft-envelope';

/**
 * - applied: the entry's effects were made durable now.
 * - replayed: already reflected (rows or sidecar ahead of the applied index); nothing changed.
 * - unchanged: a registration whose row already had that epoch.
 * - duplicate / stale / already-active: benign no-op branches that only advance the sidecar index.
 */
export type ApplyEffect = 'applied' | 'replayed' | 'unchanged' | 'duplicate' | 'stale' | 'already-active';

export interface ApplyOutcome {
  readonly op: ApplyOp;
  readonly effect: ApplyEffect;
  /**
   * Set for every bootstrap/rotation apply: the FSM MUST put
   * `!encryption|sidecar-index` = this value (BE64) into the same batch that
   * persists its applied index.
   */
  readonly sidecarIndex?: bigint;
}

/** The Err code of any thrown value: SealError code, else errno code, else 'unknown'. */
export function innerCode(e: unknown): string {
  if (isSealError(e)) return e.code;
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return 'unknown';
}

/**
 * A halt (encryption.md §6.3): code ErrEncryptionApply, the underlying cause's
 * code in `details.inner`, the entry in `details.index` / `details.op`, the
 * original error as `cause`. The FSM must stop without advancing its applied
 * index; restart re-applies the same entry.
 */
export function applyHalt(index: bigint, op: ApplyOp, e: unknown): SealError {
  if (isSealError(e, Err.EncryptionApply) && e.details.index === index) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return sealError(
    Err.EncryptionApply,
    `halting at index ${index} (${op}): ${msg}`,
    { inner: innerCode(e), index, op },
    e,
  );
}

export function isApplyHalt(e: unknown, inner?: string): e is SealError {
  return isSealError(e, Err.EncryptionApply) && (inner === undefined || e.details.inner === inner);
}
