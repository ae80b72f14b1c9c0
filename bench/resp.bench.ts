import type { Socket } from 'node:net';
import type { Backend, PubSub, Watch } from '../src/redis/backend.ts';
import { checkArity, execute, lookup } from '../src/redis/commands/registry.ts';
import type { CommandTx, CursorStore, KeyRecord, Reply } from '../src/redis/commands/types.ts';
import { Connection, DEFAULT_CONNECTION_LIMITS } from '../src/redis/connection.ts';
import { LocalPubSub } from '../src/redis/pubsub.ts';
import { RespCommandParser } from '../src/redis/resp/command-parser.ts';
import { RespProtocolError } from '../src/redis/resp/errors.ts';
import { encodeCommand, ReplyWriter } from '../src/redis/resp/writer.ts';
import { NodeMetrics } from '../src/server/metrics.ts';
import { FakeSocket } from '../test/helpers/fake-socket.ts';
import type { BenchRow, BenchSuite } from './harness.ts';

// Parse: a pipeline of `SET key:<n> <100 B>` fed as 64 KiB socket-sized chunks,
// so commands straddle chunk boundaries as they do on a real connection.
// Encode: bulk replies of 100 B, 4 KiB and 64 KiB through one ReplyWriter per batch.
const COMMANDS = 20_000;
const CHUNK = 64 * 1024;

function pipeline(): { chunks: Buffer[]; bytes: number } {
  const value = Buffer.alloc(100, 0x76);
  const stream = Buffer.concat(
    Array.from({ length: COMMANDS }, (_, i) => encodeCommand(['SET', `key:${i}`, value])),
  );
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += CHUNK) chunks.push(stream.subarray(i, i + CHUNK));
  return { chunks, bytes: stream.length };
}

function parseOnce(chunks: Buffer[]): number {
  const p = new RespCommandParser();
  let n = 0;
  for (const chunk of chunks) {
    p.feed(chunk);
    for (let c = p.next(); c !== undefined; c = p.next()) {
      if (c instanceof RespProtocolError) throw new Error(c.reply);
      n++;
    }
  }
  if (n !== COMMANDS) throw new Error(`parsed ${n} commands`);
  return n;
}

function timeRounds(ms: number, fn: () => void): { rounds: number; seconds: number } {
  fn(); // warm-up
  const start = process.hrtime.bigint();
  let rounds = 0;
  let elapsed = 0n;
  do {
    fn();
    rounds++;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < BigInt(ms) * 1_000_000n);
  return { rounds, seconds: Number(elapsed) / 1e9 };
}

// Dispatch: the whole per-command CPU path of one client connection without a
// kernel socket. A chunk of 16 pipelined commands goes through the parser,
// command lookup, arity checks, a minimal in-memory backend (the real command
// bodies), the reply writer and NodeMetrics' per-command hook, as one `data`
// event of a real connection would. Left out: socket syscalls and the
// replicated backend (Raft, MVCC), which other suites measure.
const PIPELINE = 16;

/** One command's view over a Map: reads through, writes kept until the command succeeds. */
class MapView implements CommandTx {
  readonly nowMs = Date.now();
  readonly writes = new Map<string, KeyRecord | null>();
  constructor(
    private readonly data: Map<string, KeyRecord>,
    readonly cursors: CursorStore,
  ) {}
  get(key: Buffer): KeyRecord | undefined {
    const k = key.toString('latin1');
    const w = this.writes.get(k);
    if (w !== undefined) return w ?? undefined;
    return this.data.get(k);
  }
  put(key: Buffer, rec: KeyRecord): void {
    this.writes.set(key.toString('latin1'), rec);
  }
  del(key: Buffer): void {
    this.writes.set(key.toString('latin1'), null);
  }
  keysAfter(): Buffer[] {
    return [];
  }
  flushAll(): void {}
  random(): number {
    return 0.5;
  }
}

/** The smallest Backend that still runs the real command bodies, per command as KvBackend does. */
class MapBackend implements Backend {
  private readonly data = new Map<string, KeyRecord>();
  private readonly cursors: CursorStore = { save: () => '0', load: () => undefined };
  async run(cmds: Buffer[][]): Promise<Reply[]> {
    return cmds.map((c) => this.runOne(c));
  }
  async transaction(cmds: Buffer[][]): Promise<Reply[]> {
    return cmds.map((c) => this.runOne(c));
  }
  async watch(keys: Buffer[]): Promise<Watch> {
    return { keys, sinceTs: 0n };
  }
  info(): Record<string, string | number> {
    return {};
  }
  private runOne(args: Buffer[]): Reply {
    const spec = lookup(args[0]!);
    if (spec === undefined) return { t: 'error', s: 'ERR unknown command' };
    const bad = checkArity(spec, args);
    if (bad !== undefined) return bad;
    const view = new MapView(this.data, this.cursors);
    const { reply, ok } = execute(spec, view, args);
    if (ok) for (const [k, w] of view.writes) w === null ? this.data.delete(k) : this.data.set(k, w);
    return reply;
  }
}

/** A connection wired as a node wires it (NodeMetrics per-command hook), over MapBackend. */
function benchConnection(): FakeSocket {
  const socket = new FakeSocket();
  const metrics = new NodeMetrics({ raft: () => undefined });
  const pubsub: PubSub = new LocalPubSub();
  new Connection(socket as unknown as Socket, 1, {
    backend: new MapBackend(),
    pubsub,
    limits: DEFAULT_CONNECTION_LIMITS,
    infoText: () => '',
    onClose: () => {},
    observeCommand: (name, seconds, error) => metrics.observeCommand(name, seconds, error),
  });
  return socket;
}

/**
 * Round trips of `chunk` (PIPELINE commands) on one connection, after `setup`
 * ran and the replies to one `chunk` matched `expected` byte for byte. Returns
 * the medians over `trials` timed runs of wall-clock commands/s and of process
 * CPU time per command: on a shared machine the CPU time is the steadier figure.
 */
async function dispatchRate(
  setup: Buffer,
  chunk: Buffer,
  expected: Buffer,
  ms: number,
  trials: number,
): Promise<{ perSecond: number; cpuMicros: number }> {
  const socket = benchConnection();
  if (setup.length > 0) await socket.roundTrip(setup);
  socket.out = [];
  await socket.roundTrip(chunk);
  const got = Buffer.concat(socket.out);
  if (!got.equals(expected)) throw new Error(`unexpected replies: ${JSON.stringify(got.toString('latin1'))}`);
  for (let i = 0; i < 2000; i++) await socket.roundTrip(chunk); // warm-up
  const rates: number[] = [];
  const cpu: number[] = [];
  for (let t = 0; t < trials; t++) {
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    const budget = BigInt(Math.round(ms * 1e6));
    let rounds = 0;
    let elapsed = 0n;
    do {
      for (let i = 0; i < 100; i++) await socket.roundTrip(chunk);
      rounds += 100;
      socket.out = [];
      elapsed = process.hrtime.bigint() - start;
    } while (elapsed < budget);
    const used = process.cpuUsage(cpuStart);
    rates.push((rounds * PIPELINE) / (Number(elapsed) / 1e9));
    cpu.push((used.user + used.system) / (rounds * PIPELINE));
  }
  return { perSecond: median(rates), cpuMicros: median(cpu) };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function dispatchRows(ms: number): Promise<BenchRow[]> {
  const value = Buffer.alloc(100, 0x76);
  const repeat = (cmd: (string | Buffer)[]): Buffer =>
    Buffer.concat(Array.from({ length: PIPELINE }, () => encodeCommand(cmd)));
  const cases = [
    {
      name: 'GET',
      setup: encodeCommand(['SET', 'key:1', value]),
      chunk: repeat(['GET', 'key:1']),
      reply: `$100\r\n${value.toString('latin1')}\r\n`,
    },
    { name: 'SET', setup: Buffer.alloc(0), chunk: repeat(['SET', 'key:1', value]), reply: '+OK\r\n' },
  ];
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const expected = Buffer.from(c.reply.repeat(PIPELINE), 'latin1');
    const r = await dispatchRate(c.setup, c.chunk, expected, ms / 5, 5);
    const what = `dispatch pipelined ${c.name} x${PIPELINE}`;
    rows.push({ suite: 'resp', name: `${what} (commands/s)`, value: r.perSecond, unit: 'cmd/s' });
    rows.push({ suite: 'resp', name: `${what} (CPU us/command)`, value: r.cpuMicros, unit: 'us/cmd' });
  }
  return rows;
}

const suite: BenchSuite = {
  name: 'resp',
  async run({ quick }) {
    const ms = quick ? 300 : 1500;
    const rows: BenchRow[] = await dispatchRows(ms);
    const { chunks, bytes } = pipeline();
    const parse = timeRounds(ms, () => parseOnce(chunks));
    rows.push({
      suite: 'resp',
      name: 'parse pipelined SET 100 B (commands/s)',
      value: (parse.rounds * COMMANDS) / parse.seconds,
      unit: 'cmd/s',
    });
    rows.push({
      suite: 'resp',
      name: 'parse pipelined SET 100 B (MB/s)',
      value: (parse.rounds * bytes) / parse.seconds / 1e6,
      unit: 'MB/s',
    });
    for (const size of [100, 4096, 64 * 1024]) {
      const payload = Buffer.alloc(size, 0x62);
      const batch = size === 100 ? 1000 : 64;
      // From 16 KiB on the writer references the payload instead of copying it.
      const how = size >= 16 * 1024 ? ', by reference' : '';
      const enc = timeRounds(ms, () => {
        const w = new ReplyWriter();
        for (let i = 0; i < batch; i++) w.bulk(payload);
        w.take();
      });
      const replies = (enc.rounds * batch) / enc.seconds;
      rows.push({
        suite: 'resp',
        name: `encode bulk reply ${size} B${how} (replies/s)`,
        value: replies,
        unit: 'reply/s',
      });
      rows.push({
        suite: 'resp',
        name: `encode bulk reply ${size} B${how} (MB/s)`,
        value: (replies * (size + 8)) / 1e6,
        unit: 'MB/s',
      });
    }
    return rows;
  },
};

export default suite;
