import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import {
  type EncryptionSnapshot,
  type HealthReport,
  LATENCY_BUCKETS,
  NodeMetrics,
  type RaftSnapshot,
  startMetricsServer,
} from '../../src/server/metrics.ts';

/** The sample value of one exact series line (`name{labels}`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function raftAt(s: RaftSnapshot): () => RaftSnapshot {
  return () => s;
}

describe('NodeMetrics exposition', () => {
  test('raft gauges follow the status snapshot at scrape time', async () => {
    let st: RaftSnapshot = { role: 'follower', term: 3, commit: 10, applied: 9 };
    const m = new NodeMetrics({ raft: () => st });
    let text = (await m.render()).body;
    assert.equal(sample(text, 'sealkv_raft_role{role="follower"}'), 1);
    assert.equal(sample(text, 'sealkv_raft_role{role="leader"}'), 0);
    assert.equal(sample(text, 'sealkv_raft_term'), 3);
    assert.equal(sample(text, 'sealkv_raft_commit_index'), 10);
    assert.equal(sample(text, 'sealkv_raft_applied_index'), 9);
    st = { role: 'leader', term: 4, commit: 12, applied: 12 };
    text = (await m.render()).body;
    assert.equal(sample(text, 'sealkv_raft_role{role="follower"}'), 0);
    assert.equal(sample(text, 'sealkv_raft_role{role="leader"}'), 1);
    assert.equal(sample(text, 'sealkv_raft_term'), 4);
    assert.equal(sample(text, 'sealkv_raft_applied_index'), 12);
  });

  test('proposals, commands, fsync and crypto counters land in the right series', async () => {
    const m = new NodeMetrics({ raft: raftAt({ role: 'leader', term: 1, commit: 1, applied: 1 }) });
    m.observeProposal(0.002, true);
    m.observeProposal(0.004, true);
    m.observeProposal(1.5, false);
    m.observeCommand('SET', 0.0003, false);
    m.observeCommand('set', 0.02, true);
    m.observeCommand('get', 0.00005, false);
    m.observeFsync(0.0008);
    m.countEncrypt();
    m.countEncrypt('raft');
    m.countDecrypt();
    m.countDecrypt();
    m.countCryptoFailure('ErrEncryptedReadIntegrity');
    m.countWrite(7);
    m.countWrite(7);
    m.countWrite(8);
    const text = (await m.render()).body;
    assert.equal(sample(text, 'sealkv_raft_proposals_total{result="ok"}'), 2);
    assert.equal(sample(text, 'sealkv_raft_proposals_total{result="failed"}'), 1);
    assert.equal(sample(text, 'sealkv_raft_proposal_duration_seconds_count{result="ok"}'), 2);
    assert.equal(sample(text, 'sealkv_raft_proposal_duration_seconds_bucket{le="0.0025",result="ok"}'), 1);
    assert.equal(sample(text, 'sealkv_raft_proposal_duration_seconds_bucket{le="2.5",result="failed"}'), 1);
    assert.equal(sample(text, 'sealkv_raft_proposal_duration_seconds_bucket{le="1",result="failed"}'), 0);
    assert.equal(sample(text, 'sealkv_redis_commands_total{command="set"}'), 2);
    assert.equal(sample(text, 'sealkv_redis_commands_total{command="get"}'), 1);
    assert.equal(sample(text, 'sealkv_redis_command_errors_total{command="set"}'), 1);
    assert.equal(sample(text, 'sealkv_redis_command_errors_total{command="get"}'), undefined);
    assert.equal(sample(text, 'sealkv_redis_command_duration_seconds_bucket{le="0.0001",command="get"}'), 1);
    assert.equal(sample(text, 'sealkv_redis_command_duration_seconds_bucket{le="0.0005",command="set"}'), 1);
    assert.equal(sample(text, 'sealkv_redis_command_duration_seconds_count{command="set"}'), 2);
    assert.equal(sample(text, 'sealkv_fsync_duration_seconds_bucket{le="0.0005"}'), 0);
    assert.equal(sample(text, 'sealkv_fsync_duration_seconds_bucket{le="0.001"}'), 1);
    assert.equal(sample(text, 'sealkv_fsync_duration_seconds_count'), 1);
    assert.equal(sample(text, 'sealkv_encryption_encrypt_total{purpose="storage"}'), 1);
    assert.equal(sample(text, 'sealkv_encryption_encrypt_total{purpose="raft"}'), 1);
    assert.equal(sample(text, 'sealkv_encryption_decrypt_total{purpose="storage"}'), 2);
    assert.equal(sample(text, 'sealkv_encryption_failures_total{reason="ErrEncryptedReadIntegrity"}'), 1);
    assert.equal(sample(text, 'sealkv_encryption_dek_writes_total{dek_id="7"}'), 2);
    assert.equal(sample(text, 'sealkv_encryption_dek_writes_total{dek_id="8"}'), 1);
  });

  test('encryption gauges come from the callback, or from setEncryptionState without one', async () => {
    let enc: EncryptionSnapshot | undefined;
    const viaCallback = new NodeMetrics({
      raft: () => undefined,
      encryption: () => enc,
    });
    let text = (await viaCallback.render()).body;
    assert.equal(sample(text, 'sealkv_encryption_active_key_id{purpose="storage"}'), 0);
    assert.equal(sample(text, 'sealkv_encryption_sidecar_raft_applied_index'), 0);
    enc = {
      activeKeyIds: { storage: 5, raft: 6 },
      localEpoch: { storage: 2, raft: 3 },
      sidecarRaftAppliedIndex: 41n,
    };
    text = (await viaCallback.render()).body;
    assert.equal(sample(text, 'sealkv_encryption_active_key_id{purpose="storage"}'), 5);
    assert.equal(sample(text, 'sealkv_encryption_active_key_id{purpose="raft"}'), 6);
    assert.equal(sample(text, 'sealkv_encryption_local_epoch{purpose="storage"}'), 2);
    assert.equal(sample(text, 'sealkv_encryption_local_epoch{purpose="raft"}'), 3);
    assert.equal(sample(text, 'sealkv_encryption_sidecar_raft_applied_index'), 41);

    const viaSetter = new NodeMetrics({ raft: () => undefined });
    viaSetter.setEncryptionState({
      activeKeyIds: { storage: 9, raft: 0 },
      localEpoch: { storage: 1, raft: 1 },
      sidecarRaftAppliedIndex: 100n,
    });
    text = (await viaSetter.render()).body;
    assert.equal(sample(text, 'sealkv_encryption_active_key_id{purpose="storage"}'), 9);
    assert.equal(sample(text, 'sealkv_encryption_sidecar_raft_applied_index'), 100);
  });

  test('two instances in one process keep separate registries and values', async () => {
    const a = new NodeMetrics({ raft: raftAt({ role: 'leader', term: 7, commit: 1, applied: 1 }) });
    const b = new NodeMetrics({ raft: raftAt({ role: 'follower', term: 2, commit: 1, applied: 1 }) });
    a.observeCommand('get', 0.001, false);
    a.observeCommand('get', 0.001, false);
    b.observeCommand('get', 0.001, false);
    const ta = (await a.render()).body;
    const tb = (await b.render()).body;
    assert.equal(sample(ta, 'sealkv_redis_commands_total{command="get"}'), 2);
    assert.equal(sample(tb, 'sealkv_redis_commands_total{command="get"}'), 1);
    assert.equal(sample(ta, 'sealkv_raft_term'), 7);
    assert.equal(sample(tb, 'sealkv_raft_term'), 2);
    assert.notEqual(a.registry, b.registry);
  });

  test('label cardinality is bounded: unknown commands, odd reasons and excess DEKs fold into other', async () => {
    const m = new NodeMetrics({ raft: () => undefined });
    m.observeCommand('FLUSHEVERYTHING', 0.001, true);
    m.observeCommand('x\n{evil="1"}', 0.001, false);
    for (let i = 0; i < 500; i++) m.observeCommand(`random${i}`, 0.001, false);
    m.countCryptoFailure('bad reason with spaces');
    for (let i = 0; i < 300; i++) m.countWrite(i + 1);
    const text = (await m.render()).body;
    assert.equal(sample(text, 'sealkv_redis_commands_total{command="other"}'), 502);
    assert.equal(sample(text, 'sealkv_redis_command_errors_total{command="other"}'), 1);
    const commandSeries = text.split('\n').filter((l) => l.startsWith('sealkv_redis_commands_total{'));
    assert.equal(commandSeries.length, 1);
    assert.equal(sample(text, 'sealkv_encryption_failures_total{reason="other"}'), 1);
    const dekSeries = text.split('\n').filter((l) => l.startsWith('sealkv_encryption_dek_writes_total{'));
    assert.equal(dekSeries.length, 257);
    assert.equal(sample(text, 'sealkv_encryption_dek_writes_total{dek_id="other"}'), 300 - 256);
  });

  test('process metrics are opt-in and per registry', async () => {
    const plain = (await new NodeMetrics({ raft: () => undefined }).render()).body;
    assert.doesNotMatch(plain, /^process_cpu_user_seconds_total /m);
    const a = new NodeMetrics({ raft: () => undefined, processMetrics: true });
    const b = new NodeMetrics({ raft: () => undefined, processMetrics: true });
    assert.match((await a.render()).body, /^process_cpu_user_seconds_total /m);
    assert.match((await b.render()).body, /^process_cpu_user_seconds_total /m);
  });

  test('a caller-supplied command list replaces the default', async () => {
    const m = new NodeMetrics({ raft: () => undefined, knownCommands: ['GET'] });
    assert.equal(m.commandLabel('get'), 'get');
    assert.equal(m.commandLabel('set'), 'other');
    assert.equal(new NodeMetrics({ raft: () => undefined }).commandLabel('ZADD'), 'zadd');
  });

  test('storage and GC figures: cache lookups as counters across scrapes, dirty keys, GC passes', async () => {
    let cache = { hits: 10, misses: 4, entries: 3, bytes: 1200 };
    let dirty = 7;
    const metrics = new NodeMetrics({
      raft: () => undefined,
      storage: () => ({ cache, gcDirtyKeys: dirty }),
    });
    let text = await metrics.registry.metrics();
    assert.equal(sample(text, 'sealkv_point_read_cache_lookups_total{result="hit"}'), 10);
    assert.equal(sample(text, 'sealkv_point_read_cache_lookups_total{result="miss"}'), 4);
    assert.equal(sample(text, 'sealkv_point_read_cache_bytes'), 1200);
    assert.equal(sample(text, 'sealkv_gc_dirty_keys'), 7);
    cache = { hits: 25, misses: 5, entries: 4, bytes: 1600 };
    dirty = 0;
    metrics.observeGcPass('dirty', 30);
    metrics.observeGcPass('dirty', 0);
    metrics.observeGcPass('full', 2);
    text = await metrics.registry.metrics();
    assert.equal(sample(text, 'sealkv_point_read_cache_lookups_total{result="hit"}'), 25);
    assert.equal(sample(text, 'sealkv_point_read_cache_lookups_total{result="miss"}'), 5);
    assert.equal(sample(text, 'sealkv_gc_dirty_keys'), 0);
    assert.equal(sample(text, 'sealkv_gc_passes_total{kind="dirty"}'), 2);
    assert.equal(sample(text, 'sealkv_gc_versions_removed_total{kind="dirty"}'), 30);
    assert.equal(sample(text, 'sealkv_gc_versions_removed_total{kind="full"}'), 2);
    // Without a storage callback the storage series are absent.
    const bare = await new NodeMetrics({ raft: () => undefined }).registry.metrics();
    assert.equal(sample(bare, 'sealkv_gc_dirty_keys'), undefined);
  });
});

/** The command metrics as prom-client renders them when every command is observed eagerly. */
class EagerCommandMetrics {
  readonly registry = new Registry();
  private readonly commands = new Counter({
    name: 'sealkv_redis_commands_total',
    help: 'Redis commands handled, by command name (unknown names as "other").',
    labelNames: ['command'],
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'sealkv_redis_command_errors_total',
    help: 'Redis commands that answered with an error reply, by command name.',
    labelNames: ['command'],
    registers: [this.registry],
  });
  private readonly seconds = new Histogram({
    name: 'sealkv_redis_command_duration_seconds',
    help: 'Redis command latency from parse to reply, by command name.',
    labelNames: ['command'],
    buckets: [...LATENCY_BUCKETS],
    registers: [this.registry],
  });
  constructor(private readonly label: (name: string) => string) {}
  observe(name: string, seconds: number, error: boolean): void {
    const command = this.label(name);
    this.commands.inc({ command });
    this.seconds.observe({ command }, seconds);
    if (error) this.errors.inc({ command });
  }
}

function commandLines(text: string): string {
  return text
    .split('\n')
    .filter((l) => /^(# (HELP|TYPE) )?sealkv_redis_/.test(l))
    .join('\n');
}

describe('command metrics', () => {
  test('tallied command metrics render exactly as eager prom-client observations, across scrapes', async () => {
    const names = ['get', 'GET', 'Set', 'zadd', 'nosuchcmd', 'PING', 'x"y'];
    const seconds = fc.oneof(
      fc.constantFrom(...LATENCY_BUCKETS, 0, 10.5),
      fc.double({ min: 0, max: 12, noNaN: true }),
    );
    const step = fc.oneof(
      fc.record({ name: fc.constantFrom(...names), seconds, error: fc.boolean() }),
      fc.constant('scrape' as const),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const m = new NodeMetrics({ raft: () => undefined });
        const eager = new EagerCommandMetrics((n) => m.commandLabel(n));
        for (const s of [...steps, 'scrape' as const]) {
          if (s !== 'scrape') {
            m.observeCommand(s.name, s.seconds, s.error);
            eager.observe(s.name, s.seconds, s.error);
            continue;
          }
          const got = commandLines((await m.render()).body);
          assert.equal(got, commandLines(await eager.registry.metrics()));
          assert.deepEqual(
            (await m.registry.getMetricsAsJSON())
              .filter((x) => x.name.startsWith('sealkv_redis_'))
              .map((x) => x.values.map((v) => ({ labels: v.labels, value: v.value }))),
            (await eager.registry.getMetricsAsJSON()).map((x) =>
              x.values.map((v) => ({ labels: v.labels, value: v.value })),
            ),
          );
        }
      }),
      { numRuns: 150 },
    );
  });

  test('resetting the registry clears the command series like prom-client metrics, then counts afresh', async () => {
    const m = new NodeMetrics({ raft: () => undefined });
    const eager = new EagerCommandMetrics((n) => m.commandLabel(n));
    const both = (name: string, seconds: number, error: boolean): void => {
      m.observeCommand(name, seconds, error);
      eager.observe(name, seconds, error);
    };
    both('get', 0.001, false);
    both('set', 0.2, true);
    await m.render();
    both('get', 0.003, true);
    m.registry.resetMetrics();
    eager.registry.resetMetrics();
    assert.equal(commandLines((await m.render()).body), commandLines(await eager.registry.metrics()));
    both('zadd', 0.0004, false);
    both('get', 0.02, true);
    const text = (await m.render()).body;
    assert.equal(commandLines(text), commandLines(await eager.registry.metrics()));
    assert.equal(sample(text, 'sealkv_redis_commands_total{command="get"}'), 1);
    assert.equal(sample(text, 'sealkv_redis_commands_total{command="set"}'), undefined);
  });

  test('a non-finite duration is refused as prom-client refuses it', () => {
    const m = new NodeMetrics({ raft: () => undefined });
    assert.throws(() => m.observeCommand('get', Number.NaN, false), TypeError);
  });
});

describe('metrics HTTP server', () => {
  let health: HealthReport = { ok: true, detail: { role: 'leader', applied: 5n } };
  const metrics = new NodeMetrics({ raft: raftAt({ role: 'leader', term: 2, commit: 5, applied: 5 }) });
  const started = startMetricsServer({ host: '127.0.0.1', port: 0, metrics, health: () => health });
  after(async () => {
    await (await started).close();
  });
  const url = async (path: string): Promise<string> => `http://127.0.0.1:${(await started).port}${path}`;

  test('GET /metrics returns the text exposition with the registry content type', async () => {
    metrics.observeCommand('get', 0.001, false);
    metrics.observeFsync(0.003);
    const res = await fetch(await url('/metrics'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), metrics.registry.contentType);
    const text = await res.text();
    assert.match(text, /^# HELP sealkv_raft_term /m);
    assert.match(text, /^# TYPE sealkv_redis_command_duration_seconds histogram$/m);
    assert.equal(sample(text, 'sealkv_redis_commands_total{command="get"}'), 1);
    assert.equal(sample(text, 'sealkv_fsync_duration_seconds_count'), 1);
    assert.equal(sample(text, 'sealkv_raft_commit_index'), 5);
  });

  test('GET /healthz answers 200 with JSON when healthy and 503 when not', async () => {
    let res = await fetch(await url('/healthz'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), { status: 'ok', role: 'leader', applied: '5' });
    health = { ok: false, detail: { reason: 'no leader' } };
    res = await fetch(await url('/healthz'));
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'unavailable', reason: 'no leader' });
    health = { ok: true, detail: {} };
  });

  test('a throwing health check is reported as 503, not a crash', async () => {
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      health: () => {
        throw new Error('store closed');
      },
    });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'unavailable', error: 'store closed' });
    } finally {
      await server.close();
    }
  });

  test('unknown paths get 404 and other methods 405', async () => {
    assert.equal((await fetch(await url('/'))).status, 404);
    assert.equal((await fetch(await url('/metricsx'))).status, 404);
    const post = await fetch(await url('/metrics'), { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.equal((await fetch(await url('/healthz?verbose=1'))).status, 200);
  });

  test('close() returns promptly even with an idle keep-alive connection open', async () => {
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, metrics, health: () => health });
    const agentRes = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: server.port, path: '/healthz', headers: { connection: 'keep-alive' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(agentRes, 200);
    const t0 = performance.now();
    await server.close();
    assert.ok(performance.now() - t0 < 1000);
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));
  });
});
