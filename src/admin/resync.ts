import type { KekProvider } from '../encryption/kek/provider.ts';
import {
  formatCreated,
  type Purpose,
  SIDECAR_VERSION,
  type Sidecar,
  type SidecarKey,
} from '../encryption/sidecar/schema.ts';
import { bytesEqual } from '../util/bytes.ts';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import type { ResyncSidecarResponse } from './handlers.ts';
import { MAX_LOCAL_EPOCH } from './validate.ts';

/**
 * The sidecar a stopped node writes after `ResyncSidecar` (encryption.md
 * §12.6). Keys, purposes, active ids, flags and both cutover indexes come from
 * the leader; `raft_applied_index` is the leader's applied index; each key's
 * epoch is one past the highest epoch this node may have used under it
 * (its old file or its registry row), so no nonce is ever reused. The leader's
 * own epochs are never copied. Every blob must unwrap under the local KEK
 * first: a node that cannot read its keys must not get a sidecar naming them.
 */
export function buildResyncedSidecar(
  resp: ResyncSidecarResponse,
  local: Sidecar | undefined,
  kek: KekProvider,
  nowMs: number,
): Sidecar {
  const keys = new Map<number, SidecarKey>();
  for (const id of [...resp.wrappedDeksById.keys()].sort((a, b) => a - b)) {
    const wrapped = resp.wrappedDeksById.get(id) ?? new Uint8Array(0);
    const purpose = resp.purposeById.get(id);
    if (purpose !== 'storage' && purpose !== 'raft') {
      throw sealError(Err.SidecarPurpose, `leader reports purpose "${purpose ?? ''}" for key ${id}`, {
        keyId: id,
      });
    }
    checkUnwraps(kek, id, wrapped);
    const previous = local?.keys.get(id);
    const registry = resp.writerRegistryForCaller.get(id) ?? 0;
    if (registry > MAX_LOCAL_EPOCH) {
      throw sealError(Err.LocalEpochOutOfRange, `leader reports last_seen ${registry} for key ${id}`, {
        keyId: id,
      });
    }
    const epoch = Math.max(previous?.localEpoch ?? 0, registry) + 1;
    if (epoch > MAX_LOCAL_EPOCH) {
      throw sealError(
        Err.LocalEpochExhausted,
        `key ${id} has used every local epoch up to 0xFFFF on this node; rotate the key before resyncing`,
        { keyId: id },
      );
    }
    const created =
      previous !== undefined && bytesEqual(previous.wrapped, wrapped)
        ? previous.created
        : formatCreated(nowMs);
    keys.set(id, { purpose: purpose satisfies Purpose, wrapped, created, localEpoch: epoch });
  }
  return {
    version: SIDECAR_VERSION,
    raftAppliedIndex: resp.leaderLatestAppliedIndex,
    storageEnvelopeActive: resp.storageEnvelopeActive,
    storageEnvelopeCutoverIndex: resp.storageEnvelopeCutoverIndex,
    raftEnvelopeCutoverIndex: resp.raftEnvelopeCutoverIndex,
    active: { storage: resp.activeStorageId, raft: resp.activeRaftId },
    keys,
  };
}

function checkUnwraps(kek: KekProvider, id: number, wrapped: Uint8Array): void {
  let dek: Uint8Array;
  try {
    dek = kek.unwrap(wrapped);
  } catch (e) {
    throw sealError(
      Err.KEKMismatch,
      `key ${id} from the leader does not unwrap under ${kek.name()}; is this the cluster's KEK?`,
      { keyId: id },
      e,
    );
  }
  const ok = dek.length === 32;
  dek.fill(0);
  if (!ok)
    throw sealError(Err.KEKMismatch, `key ${id} unwraps to ${dek.length} bytes, want 32`, { keyId: id });
}
