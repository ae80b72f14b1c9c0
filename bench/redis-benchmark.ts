import { spawn } from 'node:child_process';

/** One test line of `redis-benchmark --csv` (redis-tools 7.x prints percentiles there). */
export interface RedisBenchResult {
  test: string;
  rps: number;
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface RedisBenchOptions {
  host?: string;
  port: number;
  tests: string[];
  requests: number;
  clients: number;
  pipeline: number;
  /** `-r`: random keys `key:%012d` below this bound instead of one fixed key. */
  keyspace?: number;
  /** `-d`: value size of SET in bytes (redis-benchmark's default is 3). */
  dataSize?: number;
  /** Kill the child after this long; a stalled server must not hang the suite. */
  timeoutMs: number;
}

const BIN = '/usr/bin/redis-benchmark';

/** Splits one CSV line whose fields are all double-quoted (redis-benchmark's format). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"]|"")*)"/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) out.push(m[1]!.replace(/""/g, '"'));
  return out;
}

/**
 * Parses `--csv` output by header name rather than column position, so a
 * version that adds or reorders columns still parses or fails loudly.
 */
export function parseRedisBenchCsv(text: string): RedisBenchResult[] {
  const lines = text.split(/\r?\n/).filter((l) => l.startsWith('"'));
  const header = csvFields(lines[0] ?? '');
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`redis-benchmark csv lacks column ${name}; header: ${header.join(',')}`);
    return i;
  };
  const idx = {
    test: col('test'),
    rps: col('rps'),
    avg: col('avg_latency_ms'),
    p50: col('p50_latency_ms'),
    p95: col('p95_latency_ms'),
    p99: col('p99_latency_ms'),
    max: col('max_latency_ms'),
  };
  return lines.slice(1).map((line) => {
    const f = csvFields(line);
    const num = (i: number): number => {
      const v = Number(f[i]);
      if (!Number.isFinite(v)) throw new Error(`redis-benchmark csv: bad number in ${line}`);
      return v;
    };
    return {
      test: f[idx.test] ?? '',
      rps: num(idx.rps),
      avgMs: num(idx.avg),
      p50Ms: num(idx.p50),
      p95Ms: num(idx.p95),
      p99Ms: num(idx.p99),
      maxMs: num(idx.max),
    };
  });
}

/** Runs redis-benchmark once and returns one result per requested test. */
export function runRedisBenchmark(o: RedisBenchOptions): Promise<RedisBenchResult[]> {
  const args = [
    '-h',
    o.host ?? '127.0.0.1',
    '-p',
    String(o.port),
    '-t',
    o.tests.join(','),
    '-n',
    String(o.requests),
    '-c',
    String(o.clients),
    '-P',
    String(o.pipeline),
    ...(o.keyspace === undefined ? [] : ['-r', String(o.keyspace)]),
    ...(o.dataSize === undefined ? [] : ['-d', String(o.dataSize)]),
    '--csv',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      const what = `redis-benchmark ${args.join(' ')}`;
      if (timedOut) return reject(new Error(`${what}: no result within ${o.timeoutMs} ms`));
      if (code !== 0) return reject(new Error(`${what}: exit ${code ?? sig}: ${err.trim()}`));
      try {
        const rows = parseRedisBenchCsv(out);
        const missing = o.tests.filter((t) => !rows.some((r) => r.test.toLowerCase() === t.toLowerCase()));
        if (missing.length > 0) throw new Error(`no result for ${missing.join(',')}: ${out}${err}`);
        resolve(rows);
      } catch (e) {
        reject(e instanceof Error ? new Error(`${what}: ${e.message}`) : e);
      }
    });
  });
}
