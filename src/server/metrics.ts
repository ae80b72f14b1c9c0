import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { COMMANDS } from '../redis/commands/registry.ts';

/**
 * Prometheus metrics of one node (interface.md §4). Each instance owns its own
 * registry, so several nodes in one process (tests, the simulator) never share
 * or overwrite series.
 */

/** Sub-millisecond to ten seconds: fsyncs and local commands sit low, quorum rounds and stalls high. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export type RaftRole = 'follower' | 'precandidate' | 'candidate' | 'leader';
const RAFT_ROLES: readonly RaftRole[] = ['follower', 'precandidate', 'candidate', 'leader'];

export interface RaftSnapshot {
  readonly role: RaftRole;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
}

export type KeyPurpose = 'storage' | 'raft';

/** Storage figures read at scrape time. */
export interface StorageSnapshot {
  /** The point-read cache; undefined when the engine has none. */
  readonly cache?: {
    readonly hits: number;
    readonly misses: number;
    readonly entries: number;
    readonly bytes: number;
  };
  /** Keys written since MVCC GC last visited them. */
  readonly gcDirtyKeys: number;
}

export type GcPassKind = 'dirty' | 'full';

export interface EncryptionSnapshot {
  /** Active DEK ids from the sidecar; 0 means none for that purpose. */
  readonly activeKeyIds: { readonly storage: number; readonly raft: number };
  /** The local_epoch this process pinned for each purpose's nonce factory. */
  readonly localEpoch: { readonly storage: number; readonly raft: number };
  /** The sidecar's raft_applied_index (uint64). */
  readonly sidecarRaftAppliedIndex: bigint;
}

/** Connection-level commands handled by the Redis server rather than the keyspace registry. */
const CONNECTION_COMMANDS = [
  'ping',
  'echo',
  'quit',
  'reset',
  'select',
  'hello',
  'client',
  'command',
  'info',
  'publish',
  'subscribe',
  'psubscribe',
  'unsubscribe',
  'punsubscribe',
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
];

/** Every command name the server answers; anything else is folded into `other`. */
export function defaultKnownCommands(): ReadonlySet<string> {
  return new Set([...COMMANDS.keys(), ...CONNECTION_COMMANDS]);
}

/** Reasons are error codes or short words; bound them the same way as command names. */
const REASON_SHAPE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const MAX_REASONS = 64;
const MAX_DEK_LABELS = 256;

export interface NodeMetricsOptions {
  /** Read on every scrape; undefined while Raft is not running yet. */
  readonly raft: () => RaftSnapshot | undefined;
  /** Read on every scrape when given; otherwise the last `setEncryptionState` value is reported. */
  readonly encryption?: () => EncryptionSnapshot | undefined;
  /** Lower-case command names kept as label values; defaults to every command the server answers. */
  readonly knownCommands?: Iterable<string>;
  /** Also export prom-client's process metrics (CPU, heap, event loop) into this registry. */
  readonly processMetrics?: boolean;
  /** Read on every scrape when given. */
  readonly storage?: () => StorageSnapshot;
}

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly known: ReadonlySet<string>;
  private readonly reasons = new Set<string>();
  private readonly deks = new Set<string>();
  private encState: EncryptionSnapshot | undefined;

  private readonly proposals: Counter<'result'>;
  private readonly proposalSeconds: Histogram<'result'>;
  /** Per-command tallies by label, in first-seen order; exported lazily at scrape time. */
  private readonly commandStats = new Map<string, CommandStats>();
  /** Labels in the order of their first error reply (the errors counter's series order). */
  private readonly erroredStats: CommandStats[] = [];
  /** Raw command name → its tallies, so the per-command path skips label normalisation. */
  private readonly statsByName = new Map<string, CommandStats>();
  private readonly fsyncSeconds: Histogram;
  private readonly encrypts: Counter<'purpose'>;
  private readonly decrypts: Counter<'purpose'>;
  private readonly cryptoFailures: Counter<'reason'>;
  private readonly dekWrites: Counter<'dek_id'>;
  private readonly gcPasses: Counter<'kind'>;
  private readonly gcRemoved: Counter<'kind'>;

  constructor(private readonly opts: NodeMetricsOptions) {
    this.known = new Set([...(opts.knownCommands ?? defaultKnownCommands())].map((c) => c.toLowerCase()));
    const registers = [this.registry];
    this.registerRaftGauges();
    this.registerEncryptionGauges();
    this.registerStorageGauges();
    this.gcPasses = new Counter({
      name: 'sealkv_gc_passes_total',
      help: 'MVCC GC passes by kind: over the keys written since their last visit, or the whole store.',
      labelNames: ['kind'],
      registers,
    });
    this.gcRemoved = new Counter({
      name: 'sealkv_gc_versions_removed_total',
      help: 'MVCC versions removed by GC, by pass kind.',
      labelNames: ['kind'],
      registers,
    });
    this.proposals = new Counter({
      name: 'sealkv_raft_proposals_total',
      help: 'Raft proposals by outcome (ok or failed).',
      labelNames: ['result'],
      registers,
    });
    this.proposalSeconds = new Histogram({
      name: 'sealkv_raft_proposal_duration_seconds',
      help: 'Time from propose to commit-and-apply (or failure), in seconds.',
      labelNames: ['result'],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.registerCommandMetrics();
    this.fsyncSeconds = new Histogram({
      name: 'sealkv_fsync_duration_seconds',
      help: 'Latency of fsync calls that durability depends on.',
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.encrypts = new Counter({
      name: 'sealkv_encryption_encrypt_total',
      help: 'AEAD seal operations, by key purpose.',
      labelNames: ['purpose'],
      registers,
    });
    this.decrypts = new Counter({
      name: 'sealkv_encryption_decrypt_total',
      help: 'AEAD open operations, by key purpose.',
      labelNames: ['purpose'],
      registers,
    });
    this.cryptoFailures = new Counter({
      name: 'sealkv_encryption_failures_total',
      help: 'Encryption or decryption failures, by reason (error code).',
      labelNames: ['reason'],
      registers,
    });
    this.dekWrites = new Counter({
      name: 'sealkv_encryption_dek_writes_total',
      help: 'Values sealed under each data encryption key.',
      labelNames: ['dek_id'],
      registers,
    });
    if (opts.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  observeProposal(seconds: number, ok: boolean): void {
    const result = ok ? 'ok' : 'failed';
    this.proposals.inc({ result });
    this.proposalSeconds.observe({ result }, seconds);
  }

  /**
   * Counts one command. This runs for every command a node answers, so it only
   * bumps plain numbers; prom-client sees the totals when it is scraped.
   */
  observeCommand(name: string, seconds: number, error: boolean): void {
    if (!Number.isFinite(seconds)) throw new TypeError(`Value is not a valid number: ${seconds}`);
    const stats = this.statsByName.get(name) ?? this.statsFor(name);
    stats.observe(seconds);
    if (error) {
      if (stats.errors === 0) this.erroredStats.push(stats);
      stats.errors++;
    }
  }

  private statsFor(name: string): CommandStats {
    const command = this.commandLabel(name);
    let stats = this.commandStats.get(command);
    if (stats === undefined) {
      stats = new CommandStats(command);
      this.commandStats.set(command, stats);
    }
    // Bounded: a client can send any number of distinct names (or casings).
    if (this.statsByName.size < MAX_CACHED_COMMAND_NAMES) this.statsByName.set(name, stats);
    return stats;
  }

  /** The label a command name is counted under: itself when known, else `other`. */
  commandLabel(name: string): string {
    const lower = name.toLowerCase();
    return this.known.has(lower) ? lower : 'other';
  }

  observeGcPass(kind: GcPassKind, removed: number): void {
    this.gcPasses.inc({ kind });
    this.gcRemoved.inc({ kind }, removed);
  }

  observeFsync(seconds: number): void {
    this.fsyncSeconds.observe(seconds);
  }

  countEncrypt(purpose: KeyPurpose = 'storage'): void {
    this.encrypts.inc({ purpose });
  }

  countDecrypt(purpose: KeyPurpose = 'storage'): void {
    this.decrypts.inc({ purpose });
  }

  countCryptoFailure(reason: string): void {
    this.cryptoFailures.inc({ reason: boundedLabel(this.reasons, reason, MAX_REASONS, REASON_SHAPE) });
  }

  countWrite(dekId: number): void {
    this.dekWrites.inc({ dek_id: boundedLabel(this.deks, String(dekId), MAX_DEK_LABELS, /^[0-9]{1,10}$/) });
  }

  /** For wiring without an `encryption` callback: the value reported until the next call. */
  setEncryptionState(state: EncryptionSnapshot | undefined): void {
    this.encState = state;
  }

  /** Prometheus text exposition of everything in this node's registry. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private registerCommandMetrics(): void {
    const registers = [this.registry];
    const stats = this.commandStats;
    const errored = this.erroredStats;
    new Counter({
      name: 'sealkv_redis_commands_total',
      help: 'Redis commands handled, by command name (unknown names as "other").',
      labelNames: ['command'],
      registers,
      collect() {
        for (const s of stats.values()) {
          if (s.count > s.exportedCount) this.inc(s.labels, s.count - s.exportedCount);
          s.exportedCount = s.count;
        }
      },
    });
    new Counter({
      name: 'sealkv_redis_command_errors_total',
      help: 'Redis commands that answered with an error reply, by command name.',
      labelNames: ['command'],
      registers,
      collect() {
        for (const s of errored) {
          if (s.errors > s.exportedErrors) this.inc(s.labels, s.errors - s.exportedErrors);
          s.exportedErrors = s.errors;
        }
      },
    });
    const histogram = new TalliedHistogram(
      'sealkv_redis_command_duration_seconds',
      'Redis command latency from parse to reply, by command name.',
      stats,
      () => {
        stats.clear();
        errored.length = 0;
        this.statsByName.clear();
      },
    );
    // TalliedHistogram has the shape the registry reads (name, help, type, get…), not prom-client's class.
    this.registry.registerMetric(histogram as unknown as Histogram);
  }

  private registerRaftGauges(): void {
    const registers = [this.registry];
    const raft = this.opts.raft;
    new Gauge({
      name: 'sealkv_raft_role',
      help: 'Current Raft role: 1 for the role this node holds, 0 for the others.',
      labelNames: ['role'],
      registers,
      collect() {
        const s = raft();
        for (const role of RAFT_ROLES) this.set({ role }, s?.role === role ? 1 : 0);
      },
    });
    const fields = [
      ['sealkv_raft_term', 'Current Raft term.', 'term'],
      ['sealkv_raft_commit_index', 'Highest log index known committed.', 'commit'],
      ['sealkv_raft_applied_index', 'Highest log index applied to the state machine.', 'applied'],
    ] as const;
    for (const [name, help, key] of fields) {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = raft();
          if (s !== undefined) this.set(s[key]);
        },
      });
    }
  }

  private registerStorageGauges(): void {
    const read = this.opts.storage;
    if (read === undefined) return;
    const registers = [this.registry];
    // The cache counts from process start; the counters follow it by difference.
    const seen = { hit: 0, miss: 0 };
    new Counter({
      name: 'sealkv_point_read_cache_lookups_total',
      help: 'Point reads answered from the newest-version cache (hit) or from the store (miss).',
      labelNames: ['result'],
      registers,
      collect() {
        const c = read().cache;
        if (c === undefined) return;
        this.inc({ result: 'hit' }, c.hits - seen.hit);
        this.inc({ result: 'miss' }, c.misses - seen.miss);
        seen.hit = c.hits;
        seen.miss = c.misses;
      },
    });
    new Gauge({
      name: 'sealkv_point_read_cache_bytes',
      help: 'Bytes the newest-version cache accounts for (entries and their overhead).',
      registers,
      collect() {
        this.set(read().cache?.bytes ?? 0);
      },
    });
    new Gauge({
      name: 'sealkv_gc_dirty_keys',
      help: 'Keys written since MVCC GC last visited them.',
      registers,
      collect() {
        this.set(read().gcDirtyKeys);
      },
    });
  }

  private registerEncryptionGauges(): void {
    const registers = [this.registry];
    const read = (): EncryptionSnapshot | undefined =>
      this.opts.encryption !== undefined ? this.opts.encryption() : this.encState;
    const purposes: readonly KeyPurpose[] = ['storage', 'raft'];
    new Gauge({
      name: 'sealkv_encryption_active_key_id',
      help: 'Active data encryption key id per purpose (0 = none).',
      labelNames: ['purpose'],
      registers,
      collect() {
        const s = read();
        for (const purpose of purposes) this.set({ purpose }, s?.activeKeyIds[purpose] ?? 0);
      },
    });
    new Gauge({
      name: 'sealkv_encryption_local_epoch',
      help: 'local_epoch pinned by this process for each purpose (nonce uniqueness across restarts).',
      labelNames: ['purpose'],
      registers,
      collect() {
        const s = read();
        for (const purpose of purposes) this.set({ purpose }, s?.localEpoch[purpose] ?? 0);
      },
    });
    new Gauge({
      name: 'sealkv_encryption_sidecar_raft_applied_index',
      help: 'raft_applied_index recorded in the durable encryption sidecar.',
      registers,
      collect() {
        const s = read();
        // Prometheus samples are float64; indexes stay exact up to 2^53.
        this.set(s === undefined ? 0 : Number(s.sidecarRaftAppliedIndex));
      },
    });
  }
}

const MAX_CACHED_COMMAND_NAMES = 1024;
const BUCKET_COUNT = LATENCY_BUCKETS.length;

/** Running totals of one `command` label: counts, errors and LATENCY_BUCKETS histogram. */
class CommandStats {
  readonly labels: { command: string };
  count = 0;
  errors = 0;
  sum = 0;
  /** Non-cumulative counts per bucket; values above the last bound are only in `count`. */
  readonly buckets = new Float64Array(BUCKET_COUNT);
  exportedCount = 0;
  exportedErrors = 0;

  constructor(command: string) {
    this.labels = { command };
  }

  observe(seconds: number): void {
    let i = 0;
    while (i < BUCKET_COUNT && seconds > LATENCY_BUCKETS[i]!) i++;
    if (i < BUCKET_COUNT) this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

type ExportedValue = {
  value: number;
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  metricName: string;
  exemplar?: null;
};

/** What a prom-client registry reads from a metric (text and JSON exposition). */
interface MetricExport {
  name: string;
  help: string;
  type: string;
  values: ExportedValue[];
  aggregator: string;
}

/**
 * A histogram over CommandStats with the exposition of a prom-client
 * Histogram with the same name, buckets and one `command` label: the series,
 * their order, labels and values are what prom-client would print had every
 * sample gone through Histogram.observe (its sum is accumulated in the same
 * order, so even the float sum matches). Observing is CommandStats.observe; this
 * only renders, when the registry is scraped.
 */
class TalliedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly stats: ReadonlyMap<string, CommandStats>,
    private readonly onReset: () => void,
  ) {}

  /** Registry.resetMetrics(): forgets every command's tallies (the counters reset themselves). */
  reset(): void {
    this.onReset();
  }

  /** The form Registry.metrics() renders: bucket bounds as `le`, the command as a shared label. */
  async getForPromString(): Promise<MetricExport> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.stats.values()) {
      let acc = 0;
      for (let i = 0; i < BUCKET_COUNT; i++) {
        acc += s.buckets[i]!;
        values.push({
          labels: { le: LATENCY_BUCKETS[i]! },
          sharedLabels: s.labels,
          value: acc,
          metricName: bucket,
          exemplar: null,
        });
      }
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: s.labels,
        value: s.count,
        metricName: bucket,
        exemplar: null,
      });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (Registry.getMetricsAsJSON): labels merged as prom-client's Histogram.get does. */
  async get(): Promise<MetricExport> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }));
    return data;
  }
}

/** Keeps a label's value set finite: malformed or overflow values become `other`. */
function boundedLabel(seen: Set<string>, value: string, max: number, shape: RegExp): string {
  if (seen.has(value)) return value;
  if (!shape.test(value) || seen.size >= max) return 'other';
  seen.add(value);
  return value;
}

export interface HealthReport {
  readonly ok: boolean;
  readonly detail: Record<string, unknown>;
}

export interface MetricsServerOptions {
  readonly host: string;
  /** 0 picks a free port; the bound one is returned. */
  readonly port: number;
  readonly metrics: NodeMetrics;
  readonly health: () => HealthReport | Promise<HealthReport>;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` and `GET /healthz` (200 when healthy, 503 otherwise); 404 elsewhere. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    handle(opts, req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${errorText(e)}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        // Scrapers keep connections alive; without this close() would wait for their idle timeout.
        server.closeAllConnections();
      }),
  };
}

async function handle(opts: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path !== '/metrics' && path !== '/healthz') {
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  if (path === '/metrics') {
    const { contentType, body } = await opts.metrics.render();
    send(res, 200, contentType, body);
    return;
  }
  let report: HealthReport;
  try {
    report = await opts.health();
  } catch (e) {
    report = { ok: false, detail: { error: errorText(e) } };
  }
  const body = JSON.stringify({ ...report.detail, status: report.ok ? 'ok' : 'unavailable' }, jsonSafe);
  send(res, report.ok ? 200 : 503, 'application/json', `${body}\n`);
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Health details carry uint64 indexes as bigint, which JSON cannot encode natively. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
