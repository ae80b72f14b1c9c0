import { existsSync } from 'node:fs';
import type {
  AdmittedRpc,
  AppliedIndexResponse,
  CapabilityReport,
  EnableRaftEnvelopeResponse,
  EnableStorageEnvelopeResponse,
  EncryptionAdminHandler,
  ResyncSidecarResponse,
  SidecarStateReport,
} from '../admin/handlers.ts';
import { fullNodeId } from '../encryption/identity.ts';
import { readSidecarFile } from '../encryption/sidecar/file.ts';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import type { ServerConfig } from './config.ts';
import type { PreparedEncryption } from './startup.ts';

export const BUILD_SHA = process.env.SEALKV_BUILD_SHA ?? 'dev';

/**
 * EncryptionAdmin on a node. The read RPCs are served; the five mutators and
 * ResyncSidecar answer FailedPrecondition until the online rollout (bootstrap,
 * cutovers, rotation) is wired into the node.
 */
export class EncryptionAdmin implements EncryptionAdminHandler {
  constructor(
    private readonly config: ServerConfig,
    private readonly enc: PreparedEncryption | undefined,
  ) {}

  private get enabled(): boolean {
    return (
      this.config.encryptionEnabled &&
      this.config.kekFile !== undefined &&
      this.config.sidecarPath !== undefined
    );
  }

  async admit(_rpc: AdmittedRpc): Promise<void> {
    if (!this.enabled) {
      throw sealError(
        Err.EncryptionMutatorsDisabled,
        'encryption mutators need --encryption-enabled, --kek-file and --encryption-sidecar-path on this node',
      );
    }
    throw sealError(
      Err.EncryptionMutatorsDisabled,
      'the online encryption rollout is not available in this build yet (no bootstrap, cutover or rotation)',
    );
  }

  async getCapability(): Promise<CapabilityReport> {
    if (!this.enabled) {
      return {
        encryptionCapable: false,
        buildSha: BUILD_SHA,
        sidecarPresent: false,
        fullNodeId: 0n,
        localEpoch: 0,
        raftLocalEpoch: 0,
      };
    }
    return {
      encryptionCapable: true,
      buildSha: BUILD_SHA,
      sidecarPresent: existsSync(this.config.sidecarPath!),
      fullNodeId: fullNodeId(this.config.id),
      localEpoch: this.enc?.pinned.storage ?? 0,
      raftLocalEpoch: this.enc?.pinned.raft ?? 0,
    };
  }

  async getSidecarState(): Promise<SidecarStateReport> {
    const path = this.config.sidecarPath;
    const s = path === undefined ? undefined : readSidecarFile(path);
    if (s === undefined)
      throw sealError(Err.SidecarMissing, 'no sidecar file on this node (encryption not bootstrapped)');
    return {
      wrappedDeksById: new Map([...s.keys].map(([id, k]) => [id, k.wrapped])),
      activeStorageId: s.active.storage,
      activeRaftId: s.active.raft,
      storageEnvelopeActive: s.storageEnvelopeActive,
      raftEnvelopeCutoverIndex: s.raftEnvelopeCutoverIndex,
      latestAppliedIndex: s.raftAppliedIndex,
      writerRegistryForCaller: new Map(),
    };
  }

  resyncSidecar(): Promise<ResyncSidecarResponse> {
    return Promise.reject(this.unavailableError());
  }
  bootstrapEncryption(): Promise<AppliedIndexResponse> {
    return Promise.reject(this.unavailableError());
  }
  rotateDek(): Promise<AppliedIndexResponse> {
    return Promise.reject(this.unavailableError());
  }
  registerEncryptionWriter(): Promise<AppliedIndexResponse> {
    return Promise.reject(this.unavailableError());
  }
  enableStorageEnvelope(): Promise<EnableStorageEnvelopeResponse> {
    return Promise.reject(this.unavailableError());
  }
  enableRaftEnvelope(): Promise<EnableRaftEnvelopeResponse> {
    return Promise.reject(this.unavailableError());
  }

  private unavailableError(): Error {
    return sealError(
      Err.EncryptionMutatorsDisabled,
      'the online encryption rollout is not available in this build yet',
    );
  }
}
