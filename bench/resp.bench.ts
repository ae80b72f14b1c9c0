import { RespCommandParser } from '../src/redis/resp/command-parser.ts';
import { RespProtocolError } from '../src/redis/resp/errors.ts';
import { encodeCommand, ReplyWriter } from '../src/redis/resp/writer.ts';
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

const suite: BenchSuite = {
  name: 'resp',
  async run({ quick }) {
    const ms = quick ? 300 : 1500;
    const rows: BenchRow[] = [];
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
