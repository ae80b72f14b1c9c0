import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkAllGuards,
  type GuardName,
  type GuardStatus,
  type MemberList,
  type PinnedEpochs,
  type RegistrationStart,
  type RegistryView,
  runPostReplayGuards,
  runStartupGuards,
  type StartupInputs,
} from '../encryption/guards/index.ts';
import { FileKekProvider } from '../encryption/kek/file-provider.ts';
import type { KekProvider } from '../encryption/kek/provider.ts';
import { Keystore } from '../encryption/keystore.ts';
import { decodeRegistryValue, registryKey } from '../encryption/registry/codec.ts';
import { decodeIndexValue, SIDECAR_INDEX_KEY } from '../encryption/registry/store.ts';
import { readSidecarFile, type SidecarFaultPoint, writeSidecarFile } from '../encryption/sidecar/file.ts';
import { nodeSidecarFs, type SidecarFs } from '../encryption/sidecar/fs.ts';
import { probeSidecarFilesystem } from '../encryption/sidecar/probe.ts';
import type { Sidecar } from '../encryption/sidecar/schema.ts';
import { decodeSnapshotHeader, SNAPSHOT_HEADER_MAX_BYTES } from '../encryption/snapshot-header.ts';
import { EncryptionStateCache } from '../encryption/state-cache.ts';
import { ByteReader, readConf } from '../raft/wal/codec.ts';
import { parseSnapFileName } from '../raft/wal/snapfile.ts';
import { openLmdbEngine, type ReadView } from '../storage/index.ts';
import { crc32c } from '../util/crc32c.ts';
import { isSealError } from '../util/errors.ts';
import type { ServerConfig } from './config.ts';

/** Where the node keeps its store and snapshot files inside `--data-dir`. */
export const storeDir = (dataDir: string): string => join(dataDir, 'store');
export const snapDir = (dataDir: string): string => join(dataDir, 'snap');

export interface PrepareOptions {
  /** Where the snapshot files live; default `<data-dir>/snap`. */
  snapshotDir?: string;
  /** Filesystem under the sidecar write and the probe (tests inject failing fsyncs). */
  sidecarFs?: SidecarFs;
  /** Crash points inside the epoch-bump write. */
  sidecarFaults?: (point: SidecarFaultPoint) => void;
  /** Membership recovered from the WAL, when the caller has it; else the newest snapshot's, else --peers. */
  members?: () => MemberList;
  installRaftWrap?: (cutover: bigint, raftKeyId: number) => void;
  warn?: (message: string) => void;
  onPass?: (guard: GuardName, detail: string) => void;
}

export interface PreparedEncryption {
  readonly keystore: Keystore;
  readonly stateCache: EncryptionStateCache;
  readonly pinned: PinnedEpochs;
  /** The sidecar after the epoch bump; undefined when there is none. */
  readonly sidecar: Sidecar | undefined;
  readonly kek: KekProvider | undefined;
}

const SNAP_MAGIC = new TextEncoder().encode('SKSNAP01');
const MAX_SNAP_META = 16 * 1024 * 1024;

function readPrefix(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

interface SnapFileHead {
  /** Offset of the FSM snapshot body (where the EKVTHLC header sits). */
  readonly dataStart: number;
  readonly members: string[];
}

/** Reads only the checksummed meta of a `SKSNAP01` snapshot file, not its body. */
function readSnapFileHead(path: string): SnapFileHead | undefined {
  const fixed = readPrefix(path, 0, 12);
  if (fixed.length < 12 || !SNAP_MAGIC.every((b, i) => fixed[i] === b)) return undefined;
  const hLen = new DataView(fixed.buffer, fixed.byteOffset).getUint32(8);
  // The meta is small (ids of the members); a huge length is damage, not a reason to allocate it.
  if (hLen > MAX_SNAP_META) return undefined;
  const head = readPrefix(path, 0, 12 + hLen + 4);
  if (head.length !== 12 + hLen + 4) return undefined;
  const crc = new DataView(head.buffer, head.byteOffset).getUint32(12 + hLen);
  if (crc32c(head.subarray(0, 12 + hLen)) !== crc) return undefined;
  try {
    const r = new ByteReader(head.subarray(12, 12 + hLen));
    r.u64();
    r.u64();
    const conf = readConf(r);
    return { dataStart: 12 + hLen + 4, members: [...conf.voters, ...conf.learners] };
  } catch {
    // A damaged meta is the WAL recovery's to report; here the file is read as a bare stream.
    return undefined;
  }
}

interface NewestSnapshot {
  readonly path: string;
  readonly head: SnapFileHead | undefined;
}

/** The snapshot file with the highest (index, term) in `dir`, if any. */
export function findNewestSnapshot(dir: string): NewestSnapshot | undefined {
  if (!existsSync(dir)) return undefined;
  let best: { name: string; index: number; term: number } | undefined;
  for (const name of readdirSync(dir)) {
    const p = parseSnapFileName(name);
    if (p === undefined) continue;
    if (best === undefined || p.index > best.index || (p.index === best.index && p.term > best.term)) {
      best = { name, ...p };
    }
  }
  if (best === undefined) return undefined;
  const path = join(dir, best.name);
  return { path, head: readSnapFileHead(path) };
}

/** The raft cutover in the EKVTHLC header of a snapshot file's body (0 for v1 or headerless). */
export function snapshotFileCutover(snap: NewestSnapshot): bigint {
  const start = snap.head?.dataStart ?? 0;
  return decodeSnapshotHeader(readPrefix(snap.path, start, SNAPSHOT_HEADER_MAX_BYTES)).raftCutover;
}

/** The guards' view of the encryption namespace of any store reader (live engine or snapshot). */
export function registryViewOf(reader: ReadView): RegistryView {
  return {
    sidecarIndex: () =>
      decodeIndexValue('!encryption|sidecar-index', reader.get('encryption', SIDECAR_INDEX_KEY)),
    row(dekId, id16) {
      const v = reader.get('encryption', registryKey(dekId, id16));
      return v === undefined ? undefined : decodeRegistryValue(v);
    },
  };
}

interface OpenedStore {
  readonly view: RegistryView;
  close(): Promise<void>;
}

/**
 * Opens the store only to read it: a pinned read snapshot of the encryption
 * namespace. Nothing is written through it; the caller opens the store for
 * writing only after the guards (and the epoch bump) passed.
 */
function openStoreForReading(dataDir: string): OpenedStore | undefined {
  const path = storeDir(dataDir);
  if (!existsSync(path)) return undefined;
  const engine = openLmdbEngine(path);
  const snap = engine.snapshot();
  const view: RegistryView = {
    sidecarIndex: () =>
      decodeIndexValue('!encryption|sidecar-index', snap.get('encryption', SIDECAR_INDEX_KEY)),
    row(dekId, id16) {
      const v = snap.get('encryption', registryKey(dekId, id16));
      return v === undefined ? undefined : decodeRegistryValue(v);
    },
  };
  return {
    view,
    async close() {
      snap.close();
      await engine.close();
    },
  };
}

interface Built {
  readonly inputs: StartupInputs;
  close(): Promise<void>;
}

function buildInputs(
  config: ServerConfig,
  opts: PrepareOptions,
  keystore: Keystore,
  cache: EncryptionStateCache,
): Built {
  const fs = opts.sidecarFs ?? nodeSidecarFs;
  let store: OpenedStore | undefined;
  let snapshot: NewestSnapshot | undefined | null = null;
  const newest = (): NewestSnapshot | undefined => {
    if (snapshot === null) snapshot = findNewestSnapshot(opts.snapshotDir ?? snapDir(config.dataDir));
    return snapshot;
  };
  const inputs: StartupInputs = {
    flags: {
      id: config.id,
      encryptionEnabled: config.encryptionEnabled,
      kekFile: config.kekFile,
      sidecarPath: config.sidecarPath,
    },
    sidecarExists: (path) => fs.readFile(path) !== undefined,
    readSidecar: (path) => readSidecarFile(path, { fs }),
    writeSidecar: (path, s) =>
      writeSidecarFile(path, s, { fs, ...(opts.sidecarFaults ? { faults: opts.sidecarFaults } : {}) }),
    loadKek: (path) => FileKekProvider.open(path),
    probeFilesystem: (path) => probeSidecarFilesystem(path, { fs }),
    newestSnapshotCutover: () => {
      const s = newest();
      return s === undefined ? undefined : snapshotFileCutover(s);
    },
    openRegistryView: () => {
      store ??= openStoreForReading(config.dataDir);
      return store?.view;
    },
    members:
      opts.members ??
      (() => {
        const persisted = newest()?.head?.members;
        if (persisted !== undefined && persisted.length > 0)
          return { ids: persisted, source: 'persisted members' };
        return { ids: config.peers.map((p) => p.id), source: '--peers' };
      }),
    keystore,
    stateCache: cache,
    ...(opts.installRaftWrap ? { installRaftWrap: opts.installRaftWrap } : {}),
    ...(opts.warn ? { warn: opts.warn } : {}),
  };
  return { inputs, close: async () => store?.close() };
}

/**
 * Runs start-up guards #1–#11 against the real data directory. On success the
 * active epochs are bumped and durable, every DEK is in the keystore and the
 * state cache is primed: the caller may now open the store for writing and
 * replay the log. A refusal is thrown as a SealError naming the guard.
 */
export async function prepareEncryption(
  config: ServerConfig,
  opts: PrepareOptions = {},
): Promise<PreparedEncryption> {
  const keystore = new Keystore();
  const stateCache = new EncryptionStateCache();
  const built = buildInputs(config, opts, keystore, stateCache);
  try {
    const r = runStartupGuards(built.inputs, opts.onPass ? { onPass: opts.onPass } : {});
    return { keystore, stateCache, pinned: r.pinned, sidecar: r.sidecar, kek: r.kek };
  } finally {
    await built.close();
  }
}

/** `sealkv doctor`: every guard that needs no running cluster, each reported, nothing persisted. */
export async function diagnoseEncryption(
  config: ServerConfig,
  opts: PrepareOptions = {},
): Promise<GuardStatus[]> {
  const built = buildInputs(config, opts, new Keystore(), new EncryptionStateCache());
  try {
    return checkAllGuards(built.inputs);
  } finally {
    await built.close();
  }
}

/**
 * Guards #13, #14, #16 and #17, once the store is open for writing and the
 * log has been replayed: the sidecar is read again (replay may have rotated
 * keys) and compared with the live store. 'register-async' means the caller
 * arms the first-write barrier and registers in the background (§12.5).
 */
export function finishEncryptionStartup(
  config: ServerConfig,
  prepared: PreparedEncryption,
  store: ReadView,
  opts: Pick<PrepareOptions, 'sidecarFs' | 'onPass'> = {},
): RegistrationStart {
  const path = config.sidecarPath;
  const sidecar =
    config.encryptionEnabled && path !== undefined
      ? readSidecarFile(path, { fs: opts.sidecarFs ?? nodeSidecarFs })
      : undefined;
  return runPostReplayGuards(
    {
      flags: {
        id: config.id,
        encryptionEnabled: config.encryptionEnabled,
        kekFile: config.kekFile,
        sidecarPath: config.sidecarPath,
      },
      pinned: prepared.pinned,
      sidecar,
      registry: registryViewOf(store),
      stateCache: prepared.stateCache,
    },
    opts.onPass ? { onPass: opts.onPass } : {},
  );
}

/** The one stderr line of a start-up refusal (exit 3): it always carries the Err… name. */
export function refusalLine(e: unknown): string {
  const message = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ');
  if (!isSealError(e)) return `startup refused ${message}`;
  const guard = typeof e.details.guard === 'string' ? ` guard=${e.details.guard}` : '';
  const detail = message.startsWith(`${e.code}: `) ? message.slice(e.code.length + 2) : message;
  return `startup refused${guard} ${e.code} ${detail}`;
}
