import type { KekProvider } from '../kek/provider.ts';
import type { Keystore } from '../keystore.ts';
import type { RegistryRow } from '../registry/codec.ts';
import type { Sidecar } from '../sidecar/schema.ts';
import type { EncryptionStateCache } from '../state-cache.ts';

/** The `sealkv server` flags the guards look at (encryption.md §10, §11). */
export interface GuardFlags {
  /** The raft `--id`; its FNV-1a-64 is this node's full_node_id. */
  readonly id: string;
  readonly encryptionEnabled: boolean;
  readonly kekFile: string | undefined;
  readonly sidecarPath: string | undefined;
}

/**
 * A read-only view of the encryption namespace of the store: the writer
 * registry rows and the `!encryption|sidecar-index` marker (encryption.md §5).
 * Corrupt values throw (ErrRegistryValueMalformed), never read as absent.
 */
export interface RegistryView {
  /** `!encryption|sidecar-index`, 0 if absent. */
  sidecarIndex(): bigint;
  row(dekId: number, nodeId16: number): RegistryRow | undefined;
}

export interface MemberList {
  readonly ids: readonly string[];
  /** Where the list came from, for the refusal message. */
  readonly source: 'persisted members' | '--peers';
}

/** Everything the pre-open guards (#1–#11) read or write, injected. */
export interface StartupInputs {
  readonly flags: GuardFlags;
  /** True iff a file exists at the sidecar path (no parse: #3 must not fail on a corrupt file). */
  sidecarExists(path: string): boolean;
  /** Parses the sidecar; undefined iff absent; throws a typed error on any defect. */
  readSidecar(path: string): Sidecar | undefined;
  /** Crash-durable write (encryption.md §4.2); returns only once the file and directory are synced. */
  writeSidecar(path: string, sidecar: Sidecar): void;
  /** Loads the KEK file (ErrInsecureKEKFile / ErrKEKFileInvalid on failure). */
  loadKek(path: string): KekProvider;
  /** The §4.3 probe in the sidecar's directory. */
  probeFilesystem(sidecarPath: string): void;
  /** Raft cutover of the newest on-disk snapshot header; undefined when there is no snapshot. */
  newestSnapshotCutover(): bigint | undefined;
  /** The store opened read-only; undefined when no store exists yet. May throw when it cannot be read. */
  openRegistryView(): RegistryView | undefined;
  /** Persisted membership, or the `--peers` list when none is persisted. */
  members(): MemberList;
  /** Number of raft groups this node hosts (one in this version). */
  readonly localGroups?: number;
  readonly keystore: Keystore;
  readonly stateCache: EncryptionStateCache;
  /** The §3.5 wrap installer; called by #11 when the sidecar raft cutover ≠ 0. */
  installRaftWrap?(cutover: bigint, raftKeyId: number): void;
  /** Operator warnings (an active epoch above 0xFF00). */
  warn?(message: string): void;
}

/** Epochs this process pins its nonce factories to (encryption.md §3.3). 0 = none. */
export interface PinnedEpochs {
  readonly storage: number;
  readonly raft: number;
}

export interface StartupResult {
  readonly pinned: PinnedEpochs;
  /** The sidecar as persisted by #11 (after the epoch bump); undefined when none exists. */
  readonly sidecar: Sidecar | undefined;
  readonly kek: KekProvider | undefined;
}

/** What the caller reads again after it opened the store and replayed the log (#12). */
export interface PostReplayInputs {
  readonly flags: GuardFlags;
  readonly pinned: PinnedEpochs;
  /** The sidecar as it is after replay (replayed rotations may have changed it). */
  readonly sidecar: Sidecar | undefined;
  /** The live store after replay; undefined only if there is none. */
  readonly registry: RegistryView | undefined;
  readonly stateCache: EncryptionStateCache;
}

/**
 * The process-start registration verdict (§12.5): already registered at the
 * pinned epoch, or must register asynchronously behind the first-write barrier.
 */
export type RegistrationStart = 'not-applicable' | 'registered' | 'register-async';

export type GuardStatus =
  | { readonly guard: string; readonly status: 'ok'; readonly detail: string }
  | { readonly guard: string; readonly status: 'refused'; readonly code: string; readonly detail: string }
  | { readonly guard: string; readonly status: 'skipped'; readonly reason: string };
