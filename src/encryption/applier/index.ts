/**
 * The encryption applier (encryption.md §7): applies the FSM-internal
 * entries 0x03 (writer registration), 0x04 (bootstrap) and 0x05 (rotation:
 * rotate-dek, enable-storage-envelope, enable-raft-envelope) identically on
 * every replica. Deterministic: no clock but the injected one, no timers, no
 * randomness.
 *
 * Durable state lives in three places that become durable separately: the
 * registry rows (+ `!encryption|registry-index`, one atomic batch), the
 * sidecar file, and the FSM's applied index (+ `!encryption|sidecar-index`,
 * persisted by the FSM from ApplyOutcome.sidecarIndex). After a crash the
 * rows and the sidecar may be several entries ahead of the applied index,
 * so every entry is replayed against them:
 *
 * - Rows: an entry at or below `registry-index` skips its row effects; any
 *   other entry sees exactly the registry state that preceded its first
 *   apply, so it reaches the same verdict.
 * - 0x04/0x05 at or below the sidecar's `raft_applied_index` change nothing
 *   (no rows, keystore or sidecar); if the sidecar's raft cutover is set the
 *   wrap installer is called with (sidecar cutover, sidecar active.raft).
 * - Otherwise the sidecar holds the pre-entry state. The branch is chosen
 *   from it, then, in this order: unwrap the new DEK (if any); write rows;
 *   keystore set; ONE sidecar write (every branch, advancing
 *   `raft_applied_index` to max(old, index)); refresh the state cache; call
 *   the installer. Rows precede the sidecar so "active ⇒ proposer row
 *   exists" survives any crash, and a replay never re-decides a branch.
 *
 * Every failure is a halt: the methods reject with a SealError whose code is
 * ErrEncryptionApply and whose `details.inner` is the cause's code
 * (`details.index`, `details.op` name the entry). The FSM must then stop
 * without advancing its applied index.
 */
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import type { KekProvider } from '../kek/provider.ts';
import type { Keystore } from '../keystore.ts';
import type { RegistryStore } from '../registry/store.ts';
import { readSidecarFile, writeSidecarFile } from '../sidecar/file.ts';
import {
  emptySidecar,
  formatCreated,
  type Purpose,
  type Sidecar,
  type SidecarKey,
} from '../sidecar/schema.ts';
import {
  decodeBootstrap,
  decodeRegistration,
  decodeRotation,
  OP_BOOTSTRAP,
  OP_REGISTRATION,
  OP_ROTATION,
  PURPOSE_STORAGE,
  type RotationPayload,
  SUBTAG_ENABLE_RAFT_ENVELOPE,
  SUBTAG_ENABLE_STORAGE_ENVELOPE,
} from '../wire/fsm.ts';
import { applyWriterRows } from './rows.ts';
import {
  type ApplierFaultPoint,
  type ApplierOptions,
  type ApplyOp,
  type ApplyOutcome,
  applyHalt,
} from './types.ts';

export * from './types.ts';

interface Trio {
  kek: KekProvider;
  keystore: Keystore;
  path: string;
}

function invalid(msg: string, details: Record<string, unknown> = {}): never {
  throw sealError(Err.InvalidArgument, msg, details);
}

function reservedId(what: string): never {
  throw sealError(Err.ReservedKeyID, `${what} names key id 0, which is reserved`);
}

export class EncryptionApplier {
  private readonly registry: RegistryStore;

  constructor(private readonly opts: ApplierOptions) {
    if (opts.registry === undefined || !opts.registry.persistent) {
      throw sealError(
        Err.UnsupportedStoreForWriterRegistry,
        'the encryption applier needs a store with a persistent raw namespace for the writer registry',
      );
    }
    this.registry = opts.registry;
  }

  /**
   * Dispatches an FSM entry whose opcode is in 0x03..0x07 (reserved 0x06/0x07
   * and anything else halt). In every apply method `payload` is the whole
   * `fsm_payload`, opcode byte first, already unwrapped from any raft envelope.
   */
  applyEntry(index: bigint, payload: Uint8Array): Promise<ApplyOutcome> {
    const op = payload[0];
    if (op === OP_REGISTRATION) return this.applyRegistration(index, payload);
    if (op === OP_BOOTSTRAP) return this.applyBootstrap(index, payload);
    if (op === OP_ROTATION) return this.applyRotation(index, payload);
    const [code, what] =
      op === 0x06 || op === 0x07 ? [Err.EncryptionApply, 'reserved'] : [Err.FSMOpcodeUnknown, 'unknown'];
    const hex = op === undefined ? 'empty payload' : `opcode 0x${op.toString(16).padStart(2, '0')}`;
    return Promise.reject(applyHalt(index, 'entry', sealError(code, `${what} FSM ${hex}`, { opcode: op })));
  }

  /** 0x03 (§7.2): the §5 table only; needs no KEK and never touches the sidecar. */
  applyRegistration(index: bigint, payload: Uint8Array): Promise<ApplyOutcome> {
    return this.halting(index, 'registration', async () => {
      const row = decodeRegistration(payload);
      const res = await applyWriterRows(this.registry, index, [row]);
      return { op: 'registration', effect: res === 'written' ? 'applied' : res };
    });
  }

  /** 0x04 (§7.3). */
  applyBootstrap(index: bigint, payload: Uint8Array): Promise<ApplyOutcome> {
    return this.halting(index, 'bootstrap', async () => {
      const p = decodeBootstrap(payload);
      const trio = this.trio();
      if (p.storageId === 0 || p.raftId === 0) reservedId('bootstrap');
      if (p.storageId === p.raftId) invalid(`bootstrap uses key id ${p.storageId} for both purposes`);
      const bad = p.rows.find((r) => r.dekId !== p.storageId && r.dekId !== p.raftId);
      if (bad !== undefined) invalid(`bootstrap row names key id ${bad.dekId}, not one of the two new keys`);
      const sc = this.readSidecar(trio);
      if (await this.alreadyReflected(index, sc)) return this.outcome('bootstrap', 'replayed', index);
      if (sc.active.storage !== 0 || sc.active.raft !== 0) {
        // A retry or a race past the leader's pre-check: re-writing would reset epochs and reuse nonces.
        await this.commitSidecar(trio, index, sc, {});
        return this.outcome('bootstrap', 'duplicate', index);
      }
      for (const id of [p.storageId, p.raftId]) {
        if (sc.keys.has(id))
          throw sealError(Err.DEKIDExists, `bootstrap key id ${id} is already in the sidecar`);
      }
      const storageDek = this.unwrap(trio, p.storageId, p.storageWrapped);
      const raftDek = this.unwrap(trio, p.raftId, p.raftWrapped);
      this.fault('applier.afterUnwrap', index);
      await applyWriterRows(this.registry, index, p.rows);
      this.fault('applier.afterRows', index);
      trio.keystore.set(p.storageId, storageDek);
      trio.keystore.set(p.raftId, raftDek);
      this.fault('applier.afterKeystore', index);
      const keys = new Map(sc.keys);
      keys.set(p.storageId, this.newKey('storage', p.storageWrapped, 0));
      keys.set(p.raftId, this.newKey('raft', p.raftWrapped, 0));
      await this.commitSidecar(trio, index, sc, { active: { storage: p.storageId, raft: p.raftId }, keys });
      return this.outcome('bootstrap', 'applied', index);
    });
  }

  /** 0x05 (§7.4): dispatch by sub-tag; the decoder already refused any sub-tag not handled here. */
  applyRotation(index: bigint, payload: Uint8Array): Promise<ApplyOutcome> {
    return this.halting(index, 'rotation', async () => {
      const p = decodeRotation(payload);
      if (p.subtag === SUBTAG_ENABLE_STORAGE_ENVELOPE) return this.enableStorageEnvelope(index, p);
      if (p.subtag === SUBTAG_ENABLE_RAFT_ENVELOPE) return this.enableRaftEnvelope(index, p);
      return this.rotateDek(index, p);
    });
  }

  /** §7.5 */
  private async rotateDek(index: bigint, p: RotationPayload): Promise<ApplyOutcome> {
    const op = 'rotate-dek';
    if (p.dekId === 0) reservedId(op);
    if (p.proposer.dekId !== p.dekId)
      invalid(`${op} proposer row names key ${p.proposer.dekId}, not ${p.dekId}`);
    const trio = this.trio();
    const sc = this.readSidecar(trio);
    if (await this.alreadyReflected(index, sc)) return this.outcome(op, 'replayed', index);
    if (sc.keys.has(p.dekId)) {
      await this.commitSidecar(trio, index, sc, {});
      return this.outcome(op, 'duplicate', index);
    }
    const purpose: Purpose = p.purpose === PURPOSE_STORAGE ? 'storage' : 'raft';
    const dek = this.unwrap(trio, p.dekId, p.wrapped);
    this.fault('applier.afterUnwrap', index);
    await applyWriterRows(this.registry, index, [p.proposer]);
    this.fault('applier.afterRows', index);
    trio.keystore.set(p.dekId, dek);
    this.fault('applier.afterKeystore', index);
    const keys = new Map(sc.keys);
    keys.set(p.dekId, this.newKey(purpose, p.wrapped, this.opts.pinnedEpochs?.()[purpose] ?? 0));
    const next = await this.commitSidecar(trio, index, sc, {
      active: { ...sc.active, [purpose]: p.dekId },
      keys,
    });
    if (purpose === 'raft' && next.raftEnvelopeCutoverIndex !== 0n) {
      await this.install(index, next.raftEnvelopeCutoverIndex, p.dekId);
    }
    return this.outcome(op, 'applied', index);
  }

  /** §7.6 */
  private async enableStorageEnvelope(index: bigint, p: RotationPayload): Promise<ApplyOutcome> {
    const op = 'enable-storage-envelope';
    this.checkMarker(op, p, 'storage');
    const trio = this.trio();
    const sc = this.readSidecar(trio);
    if (await this.alreadyReflected(index, sc)) return this.outcome(op, 'replayed', index);
    if (p.dekId !== sc.active.storage) {
      await this.commitSidecar(trio, index, sc, {});
      return this.outcome(op, 'stale', index);
    }
    if (sc.storageEnvelopeActive) {
      await this.commitSidecar(trio, index, sc, {});
      return this.outcome(op, 'already-active', index);
    }
    await applyWriterRows(this.registry, index, [p.proposer]);
    this.fault('applier.afterRows', index);
    await this.commitSidecar(trio, index, sc, {
      storageEnvelopeActive: true,
      storageEnvelopeCutoverIndex:
        sc.storageEnvelopeCutoverIndex === 0n ? index : sc.storageEnvelopeCutoverIndex,
    });
    return this.outcome(op, 'applied', index);
  }

  /** §7.7 */
  private async enableRaftEnvelope(index: bigint, p: RotationPayload): Promise<ApplyOutcome> {
    const op = 'enable-raft-envelope';
    if (index === 0n) invalid(`${op} at index 0 cannot name a cutover`);
    this.checkMarker(op, p, 'raft');
    const trio = this.trio();
    const sc = this.readSidecar(trio);
    if (await this.alreadyReflected(index, sc)) return this.outcome(op, 'replayed', index);
    if (sc.raftEnvelopeCutoverIndex !== 0n) {
      const next = await this.commitSidecar(trio, index, sc, {});
      await this.install(index, next.raftEnvelopeCutoverIndex, next.active.raft);
      return this.outcome(op, 'already-active', index);
    }
    if (p.dekId !== sc.active.raft) {
      await this.commitSidecar(trio, index, sc, {});
      return this.outcome(op, 'stale', index);
    }
    await applyWriterRows(this.registry, index, [p.proposer]);
    this.fault('applier.afterRows', index);
    const next = await this.commitSidecar(trio, index, sc, { raftEnvelopeCutoverIndex: index });
    await this.install(index, index, next.active.raft);
    return this.outcome(op, 'applied', index);
  }

  /** Shape of an enable-* marker: right purpose, no key material, proposer row under the named key. */
  private checkMarker(op: ApplyOp, p: RotationPayload, purpose: Purpose): void {
    if (p.dekId === 0) reservedId(op);
    const want = purpose === 'storage' ? PURPOSE_STORAGE : PURPOSE_STORAGE + 1;
    if (p.purpose !== want) invalid(`${op} carries purpose ${p.purpose}, want ${want}`);
    if (p.wrapped.length !== 0) invalid(`${op} carries a ${p.wrapped.length}-byte wrapped DEK, want none`);
    if (p.proposer.dekId !== p.dekId)
      invalid(`${op} proposer row names key ${p.proposer.dekId}, not ${p.dekId}`);
  }

  private trio(): Trio {
    const { kek, keystore, sidecarPath } = this.opts;
    if (kek === undefined || keystore === undefined || sidecarPath === undefined || sidecarPath === '') {
      throw sealError(
        Err.KEKNotConfigured,
        'bootstrap and rotation entries need a KEK, a keystore and a sidecar path on this node',
        { kek: kek !== undefined, keystore: keystore !== undefined, sidecarPath: sidecarPath ?? '' },
      );
    }
    return { kek, keystore, path: sidecarPath };
  }

  private readSidecar(trio: Trio): Sidecar {
    return readSidecarFile(trio.path, this.opts.sidecarIo) ?? emptySidecar();
  }

  /** §7.9 step 1: the sidecar already reflects this entry; only re-assert the installed wrap. */
  private async alreadyReflected(index: bigint, sc: Sidecar): Promise<boolean> {
    if (index > sc.raftAppliedIndex) return false;
    if (sc.raftEnvelopeCutoverIndex !== 0n)
      await this.install(index, sc.raftEnvelopeCutoverIndex, sc.active.raft);
    return true;
  }

  private unwrap(trio: Trio, id: number, wrapped: Uint8Array): Uint8Array {
    let dek: Uint8Array;
    try {
      dek = trio.kek.unwrap(wrapped);
    } catch (e) {
      throw sealError(
        Err.KEKMismatch,
        `key ${id} does not unwrap under this node's KEK (${trio.kek.name()})`,
        { keyId: id },
        e,
      );
    }
    if (dek.length !== 32)
      throw sealError(Err.BadKeySize, `key ${id} unwraps to ${dek.length} bytes, want 32`);
    return dek;
  }

  private newKey(purpose: Purpose, wrapped: Uint8Array, localEpoch: number): SidecarKey {
    const created = formatCreated(this.opts.clock?.() ?? 0);
    return { purpose, wrapped: Uint8Array.from(wrapped), created, localEpoch };
  }

  /** The one sidecar write of a bootstrap/rotation apply (§7.8), then the cache refresh. */
  private async commitSidecar(
    trio: Trio,
    index: bigint,
    sc: Sidecar,
    change: Partial<Sidecar>,
  ): Promise<Sidecar> {
    const next: Sidecar = {
      ...sc,
      ...change,
      version: 2,
      raftAppliedIndex: index > sc.raftAppliedIndex ? index : sc.raftAppliedIndex,
    };
    writeSidecarFile(trio.path, next, this.opts.sidecarIo);
    this.fault('applier.afterSidecar', index);
    this.opts.stateCache?.refresh(next);
    this.fault('applier.afterCache', index);
    return next;
  }

  private async install(index: bigint, cutover: bigint, raftKeyId: number): Promise<void> {
    if (this.opts.installer === undefined) return;
    await this.opts.installer.install(cutover, raftKeyId);
    this.fault('applier.afterInstaller', index);
  }

  private outcome(op: ApplyOp, effect: ApplyOutcome['effect'], index: bigint): ApplyOutcome {
    return index === 0n ? { op, effect } : { op, effect, sidecarIndex: index };
  }

  private fault(point: ApplierFaultPoint, index: bigint): void {
    this.opts.faults?.(point, index);
  }

  private async halting(index: bigint, op: ApplyOp, run: () => Promise<ApplyOutcome>): Promise<ApplyOutcome> {
    try {
      return await run();
    } catch (e) {
      throw applyHalt(index, op, e);
    }
  }
}
