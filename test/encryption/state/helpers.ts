import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { EncryptionApplier } from '../../../src/encryption/applier/index.ts';
import type { ApplierFaultPoint, ApplyOutcome } from '../../../src/encryption/applier/types.ts';
import type { KekProvider } from '../../../src/encryption/kek/provider.ts';
import { Keystore } from '../../../src/encryption/keystore.ts';
import { MemoryRegistryStore, type RegistryFaultPoint } from '../../../src/encryption/registry/store.ts';
import type { SidecarFaultPoint } from '../../../src/encryption/sidecar/file.ts';
import type { SidecarFs } from '../../../src/encryption/sidecar/fs.ts';
import { parseSidecar } from '../../../src/encryption/sidecar/schema.ts';
import { EncryptionStateCache } from '../../../src/encryption/state-cache.ts';
import {
  encodeBootstrap,
  encodeRegistration,
  encodeRotation,
  PURPOSE_RAFT,
  PURPOSE_STORAGE,
} from '../../../src/encryption/wire/fsm.ts';
import { toHex } from '../../../src/util/bytes.ts';

/** AES-256-GCM under a fixed key; the nonce is derived from the DEK so wraps are reproducible. */
export class TestKek implements KekProvider {
  constructor(private readonly key: Uint8Array = new Uint8Array(32).fill(7)) {}
  wrap(dek: Uint8Array): Uint8Array {
    const nonce = createHash('sha256').update(dek).digest().subarray(0, 12);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    const ct = Buffer.concat([c.update(dek), c.final()]);
    return Uint8Array.from(Buffer.concat([nonce, ct, c.getAuthTag()]));
  }
  unwrap(wrapped: Uint8Array): Uint8Array {
    if (wrapped.length !== 60) throw new Error(`wrapped DEK has ${wrapped.length} bytes`);
    const d = createDecipheriv('aes-256-gcm', this.key, wrapped.subarray(0, 12));
    d.setAuthTag(wrapped.subarray(44));
    return Uint8Array.from(Buffer.concat([d.update(wrapped.subarray(12, 44)), d.final()]));
  }
  name(): string {
    return 'test:fixed';
  }
}

export const kek = new TestKek();
export const dekFor = (id: number): Uint8Array =>
  Uint8Array.from(createHash('sha256').update(`dek-${id}`).digest());
export const wrappedFor = (id: number): Uint8Array => kek.wrap(dekFor(id));

/** An in-memory filesystem: the map is the disk, so every completed step is durable. */
export class MemFs implements SidecarFs {
  files = new Map<string, Uint8Array>();
  modes = new Map<string, number>();
  failDirSync = false;
  failFsync = false;
  private open = new Map<number, { path: string; chunks: Uint8Array[] }>();
  private nextFd = 3;

  readFile(path: string): Uint8Array | undefined {
    const f = this.files.get(path);
    return f === undefined ? undefined : Uint8Array.from(f);
  }
  removeIfExists(path: string): void {
    this.files.delete(path);
    this.modes.delete(path);
  }
  createExclusive(path: string, mode: number): number {
    if (this.files.has(path)) throw Object.assign(new Error('EEXIST'), { code: 'EEXIST' });
    if (dirname(path) === '/missing') throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    this.files.set(path, new Uint8Array());
    this.modes.set(path, mode);
    const fd = this.nextFd++;
    this.open.set(fd, { path, chunks: [] });
    return fd;
  }
  write(fd: number, data: Uint8Array): void {
    const f = this.open.get(fd)!;
    f.chunks.push(Uint8Array.from(data));
    this.files.set(f.path, Buffer.concat(f.chunks));
  }
  fsync(_fd: number): void {
    if (this.failFsync) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
  }
  close(fd: number): void {
    this.open.delete(fd);
  }
  rename(from: string, to: string): void {
    const f = this.files.get(from);
    if (f === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    this.files.set(to, f);
    this.modes.set(to, this.modes.get(from)!);
    this.removeIfExists(from);
  }
  fsyncDir(_dir: string): void {
    if (this.failDirSync) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
  }
}

// ---- entry builders ----
export const A = 0x1111_0000_0000_aaaan;
export const B = 0x2222_0000_0000_bbbbn;
export const C = 0x3333_0000_0000_ccccn;
/** Same low 16 bits as A: a 16-bit collision. */
export const A2 = 0x4444_0000_0000_aaaan;

export const reg = (dekId: number, full: bigint, e: number) =>
  encodeRegistration({ dekId, fullNodeId: full, localEpoch: e });
export const boot = (s: number, r: number, members: bigint[] = [A, B, C]) =>
  encodeBootstrap({
    storageId: s,
    storageWrapped: wrappedFor(s),
    raftId: r,
    raftWrapped: wrappedFor(r),
    rows: members.flatMap((m) => [
      { dekId: s, fullNodeId: m, localEpoch: 0 },
      { dekId: r, fullNodeId: m, localEpoch: 0 },
    ]),
  });
export const rotate = (purpose: 'storage' | 'raft', dekId: number, full = A, e = 0) =>
  encodeRotation({
    subtag: 0x01,
    dekId,
    purpose: purpose === 'storage' ? PURPOSE_STORAGE : PURPOSE_RAFT,
    wrapped: wrappedFor(dekId),
    proposer: { dekId, fullNodeId: full, localEpoch: e },
  });
export const enableStorage = (dekId: number, full = A, e = 0) =>
  encodeRotation({
    subtag: 0x04,
    dekId,
    purpose: PURPOSE_STORAGE,
    wrapped: new Uint8Array(),
    proposer: { dekId, fullNodeId: full, localEpoch: e },
  });
export const enableRaft = (dekId: number, full = A, e = 0) =>
  encodeRotation({
    subtag: 0x05,
    dekId,
    purpose: PURPOSE_RAFT,
    wrapped: new Uint8Array(),
    proposer: { dekId, fullNodeId: full, localEpoch: e },
  });

export type AnyFault = ApplierFaultPoint | SidecarFaultPoint | RegistryFaultPoint;

/**
 * One replica's durable state plus a minimal FSM loop: applied index and
 * sidecar-index are persisted after each successful apply; a throw stops the
 * loop without advancing (a halt or a simulated crash).
 */
export class TestNode {
  readonly registry = new MemoryRegistryStore();
  readonly fs = new MemFs();
  readonly path = '/data/encryption/keys.json';
  appliedIndex = 0n;
  sidecarIndex = 0n;
  installed: [bigint, number] | undefined;
  crashAt: ((point: AnyFault, index: bigint) => boolean) | undefined;
  keystore = new Keystore();
  cache = new EncryptionStateCache();
  applier = this.start();
  private current = 0n;

  /** A fresh process over the same disk: keystore reloaded from the sidecar, as start-up does. */
  start(): EncryptionApplier {
    this.keystore = new Keystore();
    this.cache = new EncryptionStateCache();
    this.installed = undefined;
    const raw = this.fs.readFile(this.path);
    if (raw !== undefined) {
      const sc = parseSidecar(raw);
      for (const [id, k] of sc.keys) this.keystore.set(id, kek.unwrap(k.wrapped));
      this.cache.refresh(sc);
      if (sc.raftEnvelopeCutoverIndex !== 0n) this.installed = [sc.raftEnvelopeCutoverIndex, sc.active.raft];
    }
    const crash = (point: AnyFault) => {
      if (this.crashAt?.(point, this.current)) throw new Error(`simulated crash at ${point}`);
    };
    this.registry.faults = crash;
    this.applier = new EncryptionApplier({
      registry: this.registry,
      kek,
      keystore: this.keystore,
      sidecarPath: this.path,
      sidecarIo: { fs: this.fs, faults: crash },
      clock: () => 1_700_000_000_000,
      stateCache: this.cache,
      pinnedEpochs: () => ({ storage: 2, raft: 1 }),
      installer: {
        install: (cutover, raftKeyId) => {
          this.installed = [cutover, raftKeyId];
        },
      },
      faults: (point) => crash(point),
    });
    return this.applier;
  }

  restart(): void {
    this.start();
  }

  /** Applies log[appliedIndex..] (log[i] has index i+1); returns the error that stopped it, if any. */
  async run(log: readonly Uint8Array[]): Promise<unknown> {
    for (let i = Number(this.appliedIndex); i < log.length; i++) {
      const index = BigInt(i + 1);
      this.current = index;
      let out: ApplyOutcome;
      try {
        out = await this.applier.applyEntry(index, log[i]!);
      } catch (e) {
        return e;
      }
      this.appliedIndex = index;
      if (out.sidecarIndex !== undefined) this.sidecarIndex = out.sidecarIndex;
    }
    return undefined;
  }

  state(): unknown {
    const raw = this.fs.readFile(this.path);
    return {
      rows: this.registry.dump(),
      sidecar: raw === undefined ? undefined : Buffer.from(raw).toString('utf8'),
      keystore: this.keystore.ids().map((id) => [id, toHex(this.keystore.get(id)!.dek)]),
      installed: this.installed,
      applied: this.appliedIndex,
      tmpLeft: this.fs.files.has(`${this.path}.tmp`),
    };
  }
}
