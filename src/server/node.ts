import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AdminRpcError, ClusterAdminClient } from '../admin/client.ts';
import { startAdminServer } from '../admin/server.ts';
import { EncryptionApplier } from '../encryption/applier/index.ts';
import { RaftEnvelope } from '../encryption/envelope/raft.ts';
import { StorageEnvelope } from '../encryption/envelope/storage.ts';
import { fullNodeId, nodeId16 } from '../encryption/identity.ts';
import { NonceFactory } from '../encryption/nonce.ts';
import { Coordinator } from '../kv/coordinator.ts';
import { Fsm } from '../kv/fsm.ts';
import { startGcLoop } from '../kv/gc.ts';
import { DirtyKeys, ReadPins } from '../kv/gc-tracking.ts';
import { HybridLogicalClock } from '../kv/hlc.ts';
import { LmdbRegistryStore } from '../kv/registry-store.ts';
import { ConfChangeType, decodeConfChange, type Entry, EntryType } from '../raft/core/index.ts';
import { NodeDisk, TimedDisk } from '../raft/disk/index.ts';
import { RaftNode, type StopReason } from '../raft/node.ts';
import { Transport } from '../raft/transport/index.ts';
import { KvBackend } from '../redis/kv-backend.ts';
import { LocalPubSub } from '../redis/pubsub.ts';
import { RedisServer } from '../redis/server.ts';
import { Mvcc, openLmdbEngine } from '../storage/index.ts';
import { StagedEngine } from '../storage/staged-engine.ts';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import { ClusterAdmin } from './cluster-admin.ts';
import { formatHostPort, type ServerConfig } from './config.ts';
import { EncryptionAdmin } from './encryption-admin.ts';
import { RoutingBackend } from './forward.ts';
import { sessionIdSource } from './ids.ts';
import type { Logger } from './log.ts';
import { MemberDirectory, parseContext } from './members.ts';
import { NodeMetrics, startMetricsServer } from './metrics.ts';
import { PubSubFanout } from './pubsub-fanout.ts';
import { type PreparedEncryption, prepareEncryption } from './startup.ts';

const CLUSTER_ID = 'sealkv';
/** MVCC history kept behind the newest commit; older versions are collected. */
// Reads at older timestamps than the newest commit either run synchronously or
// pin their timestamp (ReadPins), so the retention window is only a margin.
const GC_RETENTION_MS = 5_000;
/** Targeted passes over the keys written since GC last visited them. */
const SNAPSHOT_EVERY_ENTRIES = 50_000;
const GC_INTERVAL_MS = 1_000;
/** Whole-store passes, for expired keys nobody rewrites and keys the tracker dropped. */
const GC_FULL_INTERVAL_MS = 300_000;
/** Keys GC tracks between visits (about 150 B each) before it falls back to full passes. */
const GC_MAX_DIRTY_KEYS = 100_000;

/**
 * One running node: store, FSM, Raft, coordinator, Redis and admin listeners,
 * wired in the startup order of encryption.md §11 (guards first, then the
 * store, then replay, then listeners).
 */
export class SealkvNode {
  private leaderReady = false;
  private stopping = false;
  readonly done: Promise<StopReason>;

  private constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly engine: StagedEngine,
    readonly raft: RaftNode,
    private readonly transport: Transport,
    readonly coordinator: Coordinator,
    private readonly redis: RedisServer,
    private readonly routing: RoutingBackend,
    private readonly admin: { close(): Promise<void> },
    readonly encryption: PreparedEncryption | undefined,
    private readonly stopBackground: () => Promise<void>,
    storageFailure: Promise<StopReason>,
  ) {
    this.done = Promise.race([raft.done, storageFailure]);
  }

  static async start(config: ServerConfig, log: Logger): Promise<SealkvNode> {
    mkdirSync(config.dataDir, { recursive: true });
    const writeWiring =
      config.encryptionEnabled && config.kekFile !== undefined && config.sidecarPath !== undefined;
    // Guards run before the store is opened for writing (§11); a refusal throws.
    const enc =
      config.encryptionEnabled || config.sidecarPath !== undefined
        ? await prepareEncryption(config)
        : undefined;
    let storageFailed!: (reason: StopReason) => void;
    const storageFailure = new Promise<StopReason>((resolve) => {
      storageFailed = resolve;
    });
    // Applied batches are visible at once and committed to lmdb behind the
    // apply loop: the Raft WAL holds them durably until then.
    const engine = new StagedEngine(openLmdbEngine(join(config.dataDir, 'store')), {
      // Gathering 20 ms of applied batches per lmdb commit cuts lmdb's fsyncs,
      // which share the disk with the Raft WAL's, by an order of magnitude under
      // load; the batches are in the WAL already and reads see them at once.
      commitIntervalMs: 20,
      onFailure: (error) => {
        log('error', 'storage commit failed; stopping so a restart replays the Raft log', {
          error: String(error),
        });
        storageFailed({ kind: 'fatal', error });
      },
    });
    const self = { full: fullNodeId(config.id) };
    const node16 = nodeId16(self.full);
    let raftCutover = enc?.sidecar?.raftEnvelopeCutoverIndex ?? 0n;
    let activeRaftKey = enc?.sidecar?.active.raft ?? 0;
    const sealer =
      writeWiring && enc !== undefined
        ? new StorageEnvelope(enc.keystore, new NonceFactory(node16, enc.pinned.storage), () => ({
            activeStorageKeyId: enc.stateCache.activeStorage,
            envelopeActive: enc.stateCache.storageEnvelopeActive,
          }))
        : undefined;
    const raftEnvelope =
      writeWiring && enc !== undefined
        ? new RaftEnvelope(enc.keystore, new NonceFactory(node16, enc.pinned.raft), () => activeRaftKey)
        : undefined;
    const mvcc = new Mvcc(engine, sealer === undefined ? {} : { sealer });
    const applier = new EncryptionApplier({
      registry: new LmdbRegistryStore(engine),
      kek: enc?.kek,
      keystore: enc?.keystore,
      sidecarPath: writeWiring ? config.sidecarPath : undefined,
      stateCache: enc?.stateCache,
      pinnedEpochs: () => enc?.pinned ?? { storage: 0, raft: 0 },
      clock: () => Date.now(),
      installer: {
        install: (cutover, keyId) => {
          raftCutover = cutover;
          activeRaftKey = keyId;
        },
      },
    });
    const hlc = new HybridLogicalClock({ nowMs: () => Date.now() });
    const dirtyKeys = new DirtyKeys(GC_MAX_DIRTY_KEYS);
    const readPins = new ReadPins();
    const fsm = new Fsm({
      mvcc,
      engine,
      written: (key, ts) => dirtyKeys.note(key, ts),
      applier,
      ...(raftEnvelope === undefined ? {} : { raftEnvelope }),
      raftCutoverIndex: () => raftCutover,
      hlc,
      // The Raft WAL already holds every applied entry durably, and the log is
      // compacted only behind a durable snapshot, so a crash that loses
      // unsynced FSM batches just replays them: one fsync per commit, not two.
      sync: { syncEveryBatch: false },
    });
    const members = new MemberDirectory(engine);
    await members.seed(config.peers);
    const joining =
      config.join === undefined ? undefined : await learnCluster(formatHostPort(config.join), members);

    const transport = new Transport({ id: config.id, clusterId: CLUSTER_ID });
    if (config.raftAddr === undefined) throw new Error('--raft-addr is required');
    await transport.listen(config.raftAddr.host, config.raftAddr.port);
    for (const [id, a] of members.all()) if (id !== config.id) transport.addPeer(id, a.raft);

    let coordinator!: Coordinator;
    let viaLease = false;
    let raft!: RaftNode;
    const holder: { node?: SealkvNode; metrics?: NodeMetrics } = {};
    coordinator = new Coordinator({
      pins: readPins,
      node: {
        readyToLead: () => holder.node?.leaderReady ?? false,
        propose: async (data) => BigInt((await raft.propose(data)).index),
        // A valid leader lease answers at once; otherwise a quorum round (ReadIndex).
        readIndex: async () => {
          viaLease = raft.leaseValid();
          return BigInt(viaLease ? raft.leaseRead() : await raft.readIndex());
        },
        readStillValid: () => (viaLease ? raft.leaseValid() : raft.status().role === 'leader'),
      },
      mvcc,
      hlc,
      lastCommitTs: () => fsm.lastCommitTs(),
      appliedIndex: fsm.appliedIndex(),
      nowMs: () => Date.now(),
      newId: sessionIdSource(),
      wrap: (body) =>
        raftCutover > 0n && raftEnvelope !== undefined ? raftEnvelope.wrapRaftPayload(body) : body,
    });

    // A joining node starts outside the configuration (it never campaigns) and
    // learns its membership from the leader's log once it is added as a learner.
    const voters = joining ?? (config.peers.length > 0 ? config.peers.map((p) => p.id) : [config.id]);
    raft = await RaftNode.start({
      id: config.id,
      voters,
      dir: join(config.dataDir, 'raft'),
      disk: new TimedDisk(new NodeDisk({ inlineDurableWrites: true }), (seconds) =>
        holder.metrics?.observeFsync(seconds),
      ),
      // A local snapshot streams the whole store, MVCC history included, and each
      // entry is a batch of requests: at 10,000 entries a write-heavy node spent a
      // quarter of its time snapshotting. The log is still bounded by bytes.
      snapshotEvery: SNAPSHOT_EVERY_ENTRIES,
      transport,
      logger: (level, msg, details) => log(level, msg, details),
      raft: { leaseReads: true },
      fsm: {
        appliedIndex: () => Number(fsm.appliedIndex()),
        apply: async (entries: readonly Entry[]) => {
          await recordMembers(entries, members, transport, config.id);
          const report = await fsm.apply(entries);
          coordinator.onApplied(report);
          holder.node?.noteApplied(entries);
          if (report.halt === undefined) return undefined;
          return {
            halt: { index: Number(report.halt.index), code: report.halt.code, detail: report.halt.detail },
          };
        },
        snapshot: async () => {
          const s = await fsm.snapshot();
          return { index: Number(s.index), chunks: s.chunks };
        },
        restore: async (_meta, chunks) => {
          await fsm.restore(chunks);
        },
      },
    });

    const kv = new KvBackend({ coordinator, info: () => holder.node?.info() ?? {} });
    const clusterAdmin = new ClusterAdmin(config, raft, members, () => holder.node?.redisAddress ?? '');
    const routing = new RoutingBackend(kv, () => clusterAdmin.route(() => holder.node?.leaderReady ?? false));
    const pubsub = new LocalPubSub();
    const fanout = new PubSubFanout(config.id, members);
    pubsub.remote = (channel, message) => fanout.publish(channel, message);
    const redis = new RedisServer({
      backend: routing,
      pubsub,
      log: (msg, fields) => log('warn', msg, fields),
      observeCommand: (name, seconds, error) => holder.metrics?.observeCommand(name, seconds, error),
    });
    const admin = await startAdminServer({
      host: config.adminAddr.host,
      port: config.adminAddr.port,
      encryption: new EncryptionAdmin(config, enc),
      cluster: clusterAdmin,
    });
    const stopGc = startGcLoop({
      mvcc,
      lastCommitTs: () => fsm.lastCommitTs(),
      nowMs: () => Date.now(),
      retentionMs: GC_RETENTION_MS,
      intervalMs: GC_INTERVAL_MS,
      fullIntervalMs: GC_FULL_INTERVAL_MS,
      dirty: dirtyKeys,
      pins: readPins,
      onPass: (kind, removed) => holder.metrics?.observeGcPass(kind, removed),
      onError: (e) => log('error', 'MVCC garbage collection failed', { error: e }),
    });
    const metrics = new NodeMetrics({
      raft: () => raft.status(),
      encryption: () =>
        enc === undefined
          ? undefined
          : {
              activeKeyIds: { storage: enc.stateCache.activeStorage, raft: activeRaftKey },
              localEpoch: enc.pinned,
              sidecarRaftAppliedIndex: enc.sidecar?.raftAppliedIndex ?? 0n,
            },
      processMetrics: true,
      storage: () => {
        const cache = mvcc.cacheStats();
        return { gcDirtyKeys: dirtyKeys.size, ...(cache === undefined ? {} : { cache }) };
      },
    });
    holder.metrics = metrics;
    const metricsServer =
      config.metricsAddr === undefined
        ? undefined
        : await startMetricsServer({
            host: config.metricsAddr.host,
            port: config.metricsAddr.port,
            metrics,
            health: () => {
              const st = raft.status();
              return {
                ok: st.lead !== '',
                detail: {
                  role: st.role,
                  leader: st.lead,
                  term: st.term,
                  commit: st.commit,
                  applied: st.applied,
                },
              };
            },
          });
    const node = new SealkvNode(
      config,
      log,
      engine,
      raft,
      transport,
      coordinator,
      redis,
      routing,
      admin,
      enc,
      async () => {
        await stopGc();
        fanout.close();
        await metricsServer?.close();
      },
      storageFailure,
    );
    holder.node = node;
    raft.onLeaderChange((lead) => node.onLeaderChange(lead));
    const bound = await redis.listen(config.redisAddr.host, config.redisAddr.port);
    node.redisAddress = formatHostPort(bound);
    if (
      config.join !== undefined &&
      !raft.status().conf.learners.includes(config.id) &&
      !raft.status().conf.voters.includes(config.id)
    ) {
      await requestMembership(formatHostPort(config.join), config, log);
    }
    log('info', 'node started', {
      redis: node.redisAddress,
      raft: formatHostPort(config.raftAddr),
      admin: formatHostPort(config.adminAddr),
      encryption: enc === undefined ? 'off' : 'capable',
    });
    return node;
  }

  redisAddress = '';

  private onLeaderChange(lead: string): void {
    if (lead !== this.config.id && this.leaderReady) {
      this.leaderReady = false;
      this.coordinator.onLeadershipLost();
    }
    this.log('info', 'leader changed', { leader: lead, term: this.raft.status().term });
  }

  /** The term-start rule: this node may propose once its own term-start entry applied. */
  private noteApplied(entries: readonly Entry[]): void {
    if (this.leaderReady) return;
    const st = this.raft.status();
    if (st.role !== 'leader') return;
    if (entries.some((e) => e.term === st.term && e.data.length === 0 && e.type === EntryType.Normal)) {
      this.leaderReady = true;
      this.coordinator.onLeaderReady();
      this.log('info', 'leader ready', { term: st.term });
    }
  }

  info(): Record<string, string | number> {
    const st = this.raft.status();
    const enc = this.encryption;
    const mode =
      enc === undefined || enc.stateCache.activeStorage === 0
        ? 'off'
        : enc.stateCache.storageEnvelopeActive
          ? 'storage'
          : 'bootstrapped';
    return {
      role: st.role === 'leader' ? 'master' : 'slave',
      leader: st.lead,
      raft_term: st.term,
      raft_commit_index: st.commit,
      raft_applied_index: st.applied,
      encryption: mode,
    };
  }

  /** SIGTERM: stop accepting, let in-flight replies go out, flush, close. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.stopBackground();
    await this.redis.close();
    this.routing.close();
    await this.admin.close();
    await this.raft.stop();
    await this.transport.close();
    await this.engine.close();
  }
}

/** Conf-change entries carry the member's addresses; record them before the change applies. */
async function recordMembers(
  entries: readonly Entry[],
  members: MemberDirectory,
  transport: Transport,
  self: string,
): Promise<void> {
  for (const e of entries) {
    if (e.type !== EntryType.ConfChange) continue;
    const cc = decodeConfChange(e.data);
    if (cc.type === ConfChangeType.AddLearner || cc.type === ConfChangeType.AddVoter) {
      const addrs = parseContext(cc.context);
      if (addrs === undefined) continue;
      await members.set(cc.node, addrs);
      if (cc.node !== self) transport.addPeer(cc.node, addrs.raft);
    }
  }
}

/** --join: reads the cluster's members from any node's admin API; returns the current voters. */
async function learnCluster(endpoint: string, members: MemberDirectory): Promise<string[]> {
  const client = new ClusterAdminClient(endpoint, { timeoutMs: 5000 });
  try {
    const st = await client.status();
    for (const m of st.members) {
      if (members.get(m.id) === undefined && m.raftAddr !== '')
        await members.set(m.id, { raft: m.raftAddr, admin: m.adminAddr });
    }
    return st.members.filter((m) => m.role === 'voter').map((m) => m.id);
  } finally {
    client.close();
  }
}

/** --join: asks the leader (following ErrNotLeader redirects) to add this node as a learner. */
async function requestMembership(endpoint: string, config: ServerConfig, log: Logger): Promise<void> {
  let target = endpoint;
  for (let attempt = 0; attempt < 20; attempt++) {
    const client = new ClusterAdminClient(target, { timeoutMs: 5000 });
    try {
      const r = await client.addLearner({
        id: config.id,
        raftAddr: formatHostPort(config.raftAddr!),
        adminAddr: formatHostPort(config.adminAddr),
      });
      log('info', 'joined the cluster as a learner', { appliedIndex: r.appliedIndex });
      return;
    } catch (e) {
      if (e instanceof AdminRpcError && e.leaderAddr !== undefined && e.leaderAddr !== '')
        target = e.leaderAddr;
      else await new Promise((r) => setTimeout(r, 250));
    } finally {
      client.close();
    }
  }
  throw sealError(Err.ProposalFailed, `could not join the cluster through ${endpoint}`);
}
