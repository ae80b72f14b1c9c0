import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { formatNodeId16, fullNodeId, nodeId16 } from '../identity.ts';
import type { KekProvider } from '../kek/provider.ts';
import type { RegistryRow } from '../registry/codec.ts';
import type { Sidecar, SidecarKey } from '../sidecar/schema.ts';
import type { GuardFlags, MemberList, PinnedEpochs, RegistryView } from './types.ts';

/**
 * The individual refusal rules of encryption.md §11, as pure functions over
 * already-loaded values. Each returns a short detail on success and throws the
 * spec's SealError, naming the offending values, on refusal.
 */

export const MAX_EPOCH = 0xffff;
/** Above this an active epoch draws a warning: only a rotation recovers from exhaustion. */
export const EPOCH_WARN = 0xff00;

const hex = (n: bigint): string => `0x${n.toString(16).padStart(16, '0')}`;

export function enabledWithPath(flags: GuardFlags): flags is GuardFlags & { sidecarPath: string } {
  return flags.encryptionEnabled && flags.sidecarPath !== undefined && flags.sidecarPath !== '';
}

/** #1 and #15: a snapshot that carries a raft cutover the sidecar does not know. */
export function checkCutoverDivergence(
  snapshotCutover: bigint | undefined,
  sidecarCutover: bigint,
  where: string,
): string {
  if (snapshotCutover === undefined) return `no ${where}`;
  if (snapshotCutover === 0n) return `${where} carries no raft cutover`;
  if (snapshotCutover !== sidecarCutover) {
    throw sealError(
      Err.EnvelopeCutoverDivergence,
      `${where} has raft cutover ${snapshotCutover} but the sidecar has ${sidecarCutover}; ` +
        'run `sealkv admin encryption resync-sidecar` against the leader, then restart',
      { snapshotCutover, sidecarCutover },
    );
  }
  return `${where} raft cutover ${snapshotCutover} matches the sidecar`;
}

/** #3 */
export function checkSidecarWithoutFlag(flags: GuardFlags, exists: boolean): string {
  if (flags.encryptionEnabled) return 'encryption enabled';
  if (!exists) return 'no sidecar file';
  throw sealError(
    Err.SidecarPresentWithoutFlag,
    `sidecar ${flags.sidecarPath} exists but --encryption-enabled is not set; restart with the encryption flags`,
    { path: flags.sidecarPath },
  );
}

/** #4 */
export function checkFlagWithoutKek(flags: GuardFlags): string {
  if (!flags.encryptionEnabled) return 'encryption disabled';
  if (flags.kekFile === undefined || flags.kekFile === '') {
    throw sealError(
      Err.KEKRequiredWithFlag,
      '--encryption-enabled is set but --kek-file is not; give the path of the 32-byte KEK file',
    );
  }
  return `kek file ${flags.kekFile}`;
}

function sortedKeys(sidecar: Sidecar): [number, SidecarKey][] {
  return [...sidecar.keys].sort((a, b) => a[0] - b[0]);
}

/**
 * #5: unwraps every non-empty key in ascending id order; the first failure
 * names that key. Returns the DEKs (caller owns and zeroes them).
 */
export function unwrapAllKeys(sidecar: Sidecar, kek: KekProvider): Map<number, Uint8Array> {
  const deks = new Map<number, Uint8Array>();
  for (const [id, key] of sortedKeys(sidecar)) {
    if (key.wrapped.length === 0) continue;
    let dek: Uint8Array;
    try {
      dek = kek.unwrap(key.wrapped);
    } catch (e) {
      for (const d of deks.values()) d.fill(0);
      throw sealError(
        Err.KEKMismatch,
        `key ${id} (purpose ${key.purpose}) does not unwrap under ${kek.name()}; is --kek-file the cluster's KEK?`,
        { keyId: id, purpose: key.purpose, kek: kek.name() },
        e,
      );
    }
    if (dek.length !== 32) {
      for (const d of deks.values()) d.fill(0);
      throw sealError(
        Err.KEKMismatch,
        `key ${id} (purpose ${key.purpose}) unwraps to ${dek.length} bytes under ${kek.name()}, want 32`,
        { keyId: id, purpose: key.purpose, kek: kek.name() },
      );
    }
    deks.set(id, dek);
  }
  return deks;
}

function activeKey(sidecar: Sidecar, purpose: 'storage' | 'raft'): SidecarKey | undefined {
  const id = sidecar.active[purpose];
  return id === 0 ? undefined : sidecar.keys.get(id);
}

/** #6 */
export function checkEpochExhausted(sidecar: Sidecar | undefined, warn: (m: string) => void): string {
  if (sidecar === undefined) return 'no sidecar';
  const parts: string[] = [];
  for (const purpose of ['storage', 'raft'] as const) {
    const key = activeKey(sidecar, purpose);
    if (key === undefined) continue;
    const id = sidecar.active[purpose];
    if (key.localEpoch >= MAX_EPOCH) {
      throw sealError(
        Err.LocalEpochExhausted,
        `active ${purpose} key ${id} is at local_epoch ${key.localEpoch} (0xFFFF); rotate the ${purpose} key`,
        { keyId: id, purpose, localEpoch: key.localEpoch },
      );
    }
    if (key.localEpoch > EPOCH_WARN) {
      warn(
        `active ${purpose} key ${id} is at local_epoch ${key.localEpoch}; rotate it before it reaches 65535`,
      );
    }
    parts.push(`${purpose} key ${id} epoch ${key.localEpoch}`);
  }
  return parts.length === 0 ? 'no active key' : parts.join(', ');
}

/** #8: two distinct member ids that share a node_id16 would share a nonce prefix. */
export function checkNodeIdCollision(self: string, members: MemberList): string {
  const owners = new Map<number, string>();
  const ids = [self, ...members.ids.filter((m) => m !== self)];
  for (const id of ids) {
    const n16 = nodeId16(fullNodeId(id));
    const other = owners.get(n16);
    if (other !== undefined && other !== id) {
      throw sealError(
        Err.NodeIDCollision,
        `${members.source} "${other}" and "${id}" share node_id16 ${formatNodeId16(n16)}; ` +
          'give one of them another --id',
        { a: other, b: id, nodeId16: n16, source: members.source },
      );
    }
    owners.set(n16, id);
  }
  return `${ids.length} member ids, node_id16 values distinct (${members.source})`;
}

/** #8a and #14 */
export function checkSidecarBehindStore(
  registry: RegistryView | undefined,
  sidecar: Sidecar | undefined,
): string {
  if (registry === undefined) return 'no store yet';
  const storeIndex = registry.sidecarIndex();
  const sidecarIndex = sidecar?.raftAppliedIndex ?? 0n;
  if (storeIndex > sidecarIndex) {
    throw sealError(
      Err.SidecarBehindRaftLog,
      `store sidecar-index ${storeIndex} > sidecar raft_applied_index ${sidecarIndex}: the sidecar missed a ` +
        'bootstrap, cutover or rotation (old copy, or it arrived in a snapshot); run resync-sidecar, then restart',
      { storeIndex, sidecarIndex },
    );
  }
  return `store sidecar-index ${storeIndex} <= sidecar raft_applied_index ${sidecarIndex}`;
}

/**
 * #9 (strict: refuse epoch < last_seen) and #13 (refuse epoch <= last_seen):
 * the own row for the active storage key must exist while the envelope is
 * active, belong to this node, and not be ahead of the sidecar's epoch.
 */
export function checkOwnStorageRow(
  flags: GuardFlags,
  registry: RegistryView | undefined,
  sidecar: Sidecar | undefined,
  allowEqual: boolean,
): string {
  if (sidecar === undefined || sidecar.active.storage === 0) return 'no active storage key';
  if (registry === undefined) return 'no store yet';
  const dekId = sidecar.active.storage;
  const full = fullNodeId(flags.id);
  const n16 = nodeId16(full);
  const epoch = sidecar.keys.get(dekId)!.localEpoch;
  const row = registry.row(dekId, n16);
  if (row === undefined) {
    if (!sidecar.storageEnvelopeActive) return `no own row for storage key ${dekId} (envelope inactive)`;
    throw sealError(
      Err.LocalEpochRollback,
      `no writer row for storage key ${dekId} and node ${hex(full)} while the storage envelope is active; ` +
        `repair with \`register-writer --dek-id ${dekId} --full-node-id ${full} --local-epoch ${epoch}\`, then restart`,
      { dekId, fullNodeId: full, sidecarEpoch: epoch },
    );
  }
  checkOwner(row, dekId, full, n16);
  const behind = allowEqual ? epoch < row.lastSeenEpoch : epoch <= row.lastSeenEpoch;
  if (behind) {
    throw sealError(
      Err.LocalEpochRollback,
      `sidecar local_epoch ${epoch} of storage key ${dekId} is ${allowEqual ? 'below' : 'not above'} the ` +
        `registry last_seen ${row.lastSeenEpoch} for node ${hex(full)}: the sidecar was rolled back; nonces could repeat`,
      { dekId, fullNodeId: full, sidecarEpoch: epoch, lastSeen: row.lastSeenEpoch },
    );
  }
  return `storage key ${dekId} sidecar epoch ${epoch}, registry last_seen ${row.lastSeenEpoch}`;
}

function checkOwner(row: RegistryRow, dekId: number, full: bigint, n16: number): void {
  if (row.fullNodeId !== full) {
    throw sealError(
      Err.LocalEpochRollback,
      `writer row (dek ${dekId}, node_id16 ${formatNodeId16(n16)}) belongs to node ${hex(row.fullNodeId)}, ` +
        `not to this node ${hex(full)}`,
      { dekId, fullNodeId: full, owner: row.fullNodeId },
    );
  }
}

/** #10 */
export function checkRaftScope(sidecar: Sidecar | undefined, localGroups: number): string {
  const cutover = sidecar?.raftEnvelopeCutoverIndex ?? 0n;
  if (sidecar === undefined || cutover === 0n) return 'raft envelope inactive';
  if (sidecar.active.raft === 0 || localGroups !== 1) {
    throw sealError(
      Err.RaftEnvelopeScope,
      `raft cutover ${cutover} needs an active raft key and exactly one local group; ` +
        `have active raft key ${sidecar.active.raft} and ${localGroups} local groups`,
      { cutover, activeRaft: sidecar.active.raft, localGroups },
    );
  }
  return `raft cutover ${cutover}, active raft key ${sidecar.active.raft}`;
}

/**
 * The sidecar with the active epochs bumped (§3.3): storage whenever a storage
 * key is active, raft only when the raft cutover is active.
 */
export function bumpEpochs(sidecar: Sidecar): { next: Sidecar; pinned: PinnedEpochs } {
  const keys = new Map(sidecar.keys);
  const bump = (purpose: 'storage' | 'raft'): number => {
    const id = sidecar.active[purpose];
    const key = keys.get(id)!;
    if (key.localEpoch >= MAX_EPOCH) {
      throw sealError(
        Err.LocalEpochExhausted,
        `active ${purpose} key ${id} is at local_epoch ${key.localEpoch} (0xFFFF); rotate the ${purpose} key`,
        { keyId: id, purpose, localEpoch: key.localEpoch },
      );
    }
    const epoch = key.localEpoch + 1;
    keys.set(id, { ...key, localEpoch: epoch });
    return epoch;
  };
  const storage = sidecar.active.storage !== 0 ? bump('storage') : 0;
  const raft = sidecar.raftEnvelopeCutoverIndex !== 0n && sidecar.active.raft !== 0 ? bump('raft') : 0;
  return { next: { ...sidecar, keys }, pinned: { storage, raft } };
}

/** #16: a raft row already at or above the pinned raft epoch means the raft epoch went backwards. */
export function checkRaftRegistrationEpoch(
  flags: GuardFlags,
  registry: RegistryView | undefined,
  sidecar: Sidecar | undefined,
  pinned: PinnedEpochs,
): string {
  // The pinned raft epoch exists only if the cutover was active when #11 ran.
  if (sidecar === undefined || sidecar.raftEnvelopeCutoverIndex === 0n || pinned.raft === 0) {
    return 'raft envelope inactive at start';
  }
  if (registry === undefined) return 'no store yet';
  const dekId = sidecar.active.raft;
  const full = fullNodeId(flags.id);
  const row = registry.row(dekId, nodeId16(full));
  if (row === undefined || row.fullNodeId !== full) return `no own row for raft key ${dekId} yet`;
  if (row.lastSeenEpoch >= pinned.raft) {
    throw sealError(
      Err.LocalEpochRollback,
      `registry last_seen ${row.lastSeenEpoch} for raft key ${dekId} and node ${hex(full)} is not below the ` +
        `pinned raft epoch ${pinned.raft}: the sidecar was rolled back; nonces could repeat`,
      { dekId, fullNodeId: full, lastSeen: row.lastSeenEpoch, pinned: pinned.raft },
    );
  }
  return `raft key ${dekId} last_seen ${row.lastSeenEpoch} < pinned ${pinned.raft}`;
}

/** #17 (§12.5 process-start trigger). */
export function decideStartRegistration(
  flags: GuardFlags,
  registry: RegistryView | undefined,
  sidecar: Sidecar | undefined,
  pinned: PinnedEpochs,
): { verdict: 'not-applicable' | 'registered' | 'register-async'; detail: string } {
  if (sidecar === undefined || !sidecar.storageEnvelopeActive || sidecar.active.storage === 0) {
    return { verdict: 'not-applicable', detail: 'storage envelope or key inactive' };
  }
  const dekId = sidecar.active.storage;
  const full = fullNodeId(flags.id);
  const n16 = nodeId16(full);
  const row = registry?.row(dekId, n16);
  if (row !== undefined) checkOwner(row, dekId, full, n16);
  const last = row?.lastSeenEpoch ?? 0;
  if (pinned.storage < last) {
    throw sealError(
      Err.LocalEpochRollback,
      `pinned storage epoch ${pinned.storage} is below registry last_seen ${last} for storage key ${dekId} ` +
        `and node ${hex(full)}; nonces could repeat`,
      { dekId, fullNodeId: full, pinned: pinned.storage, lastSeen: last },
    );
  }
  if (row !== undefined && pinned.storage === last) {
    return { verdict: 'registered', detail: `registered under storage key ${dekId} at epoch ${last}` };
  }
  return {
    verdict: 'register-async',
    detail: `registers storage key ${dekId} at epoch ${pinned.storage} (last_seen ${last}) behind the first-write barrier`,
  };
}
