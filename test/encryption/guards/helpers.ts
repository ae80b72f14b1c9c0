import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryView, StartupInputs } from '../../../src/encryption/guards/index.ts';
import { fullNodeId, nodeId16 } from '../../../src/encryption/identity.ts';
import { FileKekProvider } from '../../../src/encryption/kek/file-provider.ts';
import { Keystore } from '../../../src/encryption/keystore.ts';
import type { RegistryRow } from '../../../src/encryption/registry/codec.ts';
import { readSidecarFile, writeSidecarFile } from '../../../src/encryption/sidecar/file.ts';
import { nodeSidecarFs } from '../../../src/encryption/sidecar/fs.ts';
import { probeSidecarFilesystem } from '../../../src/encryption/sidecar/probe.ts';
import type { Sidecar, SidecarKey } from '../../../src/encryption/sidecar/schema.ts';
import { EncryptionStateCache } from '../../../src/encryption/state-cache.ts';

export const STORAGE_ID = 1;
export const RAFT_ID = 2;

/** An in-memory registry: rows by (dek, node_id16) plus the sidecar-index marker. */
export class MapRegistry implements RegistryView {
  index = 0n;
  readonly rows = new Map<string, RegistryRow>();
  sidecarIndex(): bigint {
    return this.index;
  }
  row(dekId: number, id16: number): RegistryRow | undefined {
    return this.rows.get(`${dekId}/${id16}`);
  }
  put(dekId: number, nodeId: string, first: number, last: number, owner: string = nodeId): void {
    this.rows.set(`${dekId}/${nodeId16(fullNodeId(nodeId))}`, {
      fullNodeId: fullNodeId(owner),
      firstSeenEpoch: first,
      lastSeenEpoch: last,
    });
  }
}

export function writeKek(path: string, bytes: Uint8Array = randomBytes(32), mode = 0o600): string {
  writeFileSync(path, bytes, { mode });
  return path;
}

export interface SidecarSpec {
  storageEpoch?: number;
  raftEpoch?: number;
  /** Raft cutover index; 0 = Phase 2 not reached. */
  cutover?: bigint;
  envelopeActive?: boolean;
  appliedIndex?: bigint;
  activeStorage?: number;
  activeRaft?: number;
  /** Extra keys beyond the two active ones. */
  extra?: ReadonlyMap<number, Omit<SidecarKey, 'wrapped'> & { wrapped?: Uint8Array }>;
}

export function makeSidecar(kek: FileKekProvider, spec: SidecarSpec = {}): Sidecar {
  const key = (purpose: 'storage' | 'raft', localEpoch: number): SidecarKey => ({
    purpose,
    wrapped: kek.wrap(randomBytes(32)),
    created: '2026-01-01T00:00:00Z',
    localEpoch,
  });
  const keys = new Map<number, SidecarKey>([
    [STORAGE_ID, key('storage', spec.storageEpoch ?? 0)],
    [RAFT_ID, key('raft', spec.raftEpoch ?? 0)],
  ]);
  for (const [id, k] of spec.extra ?? [])
    keys.set(id, { ...k, wrapped: k.wrapped ?? kek.wrap(randomBytes(32)) });
  return {
    version: 2,
    raftAppliedIndex: spec.appliedIndex ?? 10n,
    storageEnvelopeActive: spec.envelopeActive ?? true,
    storageEnvelopeCutoverIndex: spec.envelopeActive === false ? 0n : 8n,
    raftEnvelopeCutoverIndex: spec.cutover ?? 0n,
    active: { storage: spec.activeStorage ?? STORAGE_ID, raft: spec.activeRaft ?? RAFT_ID },
    keys,
  };
}

/** A temp dir with a 0600 KEK file and a sidecar path in an `encryption/` subdirectory. */
export class Fixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'sealkv-guards-'));
  readonly kekPath = writeKek(join(this.dir, 'kek'));
  readonly sidecarPath: string;
  readonly kek = FileKekProvider.open(this.kekPath);
  readonly registry = new MapRegistry();
  readonly keystore = new Keystore();
  readonly stateCache = new EncryptionStateCache();
  readonly installs: [bigint, number][] = [];
  readonly warnings: string[] = [];

  constructor() {
    const encDir = join(this.dir, 'encryption');
    mkdirSync(encDir);
    this.sidecarPath = join(encDir, 'keys.json');
  }

  writeSidecar(spec: SidecarSpec = {}): Sidecar {
    const s = makeSidecar(this.kek, spec);
    writeSidecarFile(this.sidecarPath, s);
    return s;
  }

  readSidecar(): Sidecar | undefined {
    return readSidecarFile(this.sidecarPath);
  }

  inputs(over: Partial<StartupInputs> = {}): StartupInputs {
    return {
      flags: { id: 'n1', encryptionEnabled: true, kekFile: this.kekPath, sidecarPath: this.sidecarPath },
      sidecarExists: (p) => nodeSidecarFs.readFile(p) !== undefined,
      readSidecar: (p) => readSidecarFile(p),
      writeSidecar: (p, s) => writeSidecarFile(p, s),
      loadKek: (p) => FileKekProvider.open(p),
      probeFilesystem: (p) => probeSidecarFilesystem(p),
      newestSnapshotCutover: () => undefined,
      openRegistryView: () => this.registry,
      members: () => ({ ids: ['n1', 'n2', 'n3'], source: '--peers' }),
      keystore: this.keystore,
      stateCache: this.stateCache,
      installRaftWrap: (c, id) => this.installs.push([c, id]),
      warn: (m) => this.warnings.push(m),
      ...over,
    };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Two distinct ids whose FNV-1a-64 share the low 16 bits (found by search, deterministic). */
export function collidingIds(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `node-${i}`;
    const n16 = nodeId16(fullNodeId(id));
    const other = seen.get(n16);
    if (other !== undefined) return [other, id];
    seen.set(n16, id);
  }
}
