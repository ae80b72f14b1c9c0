import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import type { Reply } from '../../../src/redis/commands/types.ts';
import { freeBasePort, type LaunchedNode, startNode, waitForLeader } from '../../../src/server/launcher.ts';
import { MemoryKeyspace } from '../../helpers/memory-keyspace.ts';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.ts';
import { openSingleNode } from '../../helpers/single-node.ts';

// Runs the same command sequences against redis-server and against sealkv's
// command layer (on an in-memory keyspace) and compares every reply.

type Plain = string | number | null | { error: string } | Plain[];

function fromReply(r: Reply): Plain {
  switch (r.t) {
    case 'simple':
      return r.s;
    case 'error':
      return { error: r.s };
    case 'int':
      return Number(r.n);
    case 'bulk':
      return r.b === null ? null : r.b.toString('latin1');
    case 'array':
      return r.items === null ? null : r.items.map(fromReply);
  }
}

function fromIoredis(v: unknown): Plain {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(fromIoredis);
  if (v instanceof Error) return { error: v.message };
  return String(v);
}

/** Commands whose array replies have no defined order in Redis. */
const UNORDERED = new Set(['smembers', 'sinter', 'sunion', 'sdiff', 'keys', 'hkeys', 'hvals', 'hgetall']);

function normalise(cmd: string, p: Plain): Plain {
  if (!Array.isArray(p) || !UNORDERED.has(cmd)) return p;
  if (cmd === 'hgetall') {
    const pairs: string[] = [];
    for (let i = 0; i < p.length; i += 2) pairs.push(`${String(p[i])}\u0000${String(p[i + 1])}`);
    return pairs.sort();
  }
  return [...p].map(String).sort();
}

let server: RedisServer;
let client: Redis;

before(async () => {
  server = await startRedisServer();
  client = new Redis({
    port: server.port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    protocol: 2,
  });
  await client.connect();
});

after(async () => {
  client?.disconnect();
  await server?.stop();
  if (cluster !== undefined) {
    cluster.follower.disconnect();
    for (const n of cluster.nodes) n.proc.kill('SIGKILL');
    await Promise.all(cluster.nodes.map((n) => n.exited));
    rmSync(cluster.dir, { recursive: true, force: true });
  }
});

/** A system under test: runs one command and returns its reply. */
interface Target {
  run(args: Buffer[]): Promise<Plain>;
  close(): Promise<void>;
}

let cluster: { nodes: LaunchedNode[]; follower: Redis; dir: string } | undefined;

async function clusterTarget(): Promise<{ nodes: LaunchedNode[]; follower: Redis; dir: string }> {
  if (cluster !== undefined) return cluster;
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-diff-'));
  const spec = { nodes: 3, dir, basePort: await freeBasePort(3) };
  const nodes = [0, 1, 2].map((i) => startNode(spec, i));
  let leader: string;
  try {
    leader = await waitForLeader(nodes);
  } catch (e) {
    // Nodes left running would keep this file's process alive after its tests end.
    for (const n of nodes) n.proc.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    const logs = nodes.map((n) => `${n.id}: ${n.stderr().slice(-800)}`).join('\n');
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs}`);
  }
  const f = nodes.find((n) => n.id !== leader)!;
  const follower = new Redis({
    host: '127.0.0.1',
    port: Number(f.redis.split(':')[1]),
    protocol: 2,
    maxRetriesPerRequest: 0,
  });
  follower.on('error', () => {});
  cluster = { nodes, follower, dir };
  return cluster;
}

const targets: Record<string, () => Promise<Target>> = {
  'in-memory keyspace': async () => {
    const ks = new MemoryKeyspace();
    return { run: async (a) => fromReply(ks.run(a)), close: async () => {} };
  },
  'coordinator + FSM + MVCC on lmdb': async () => {
    const { node, close } = openSingleNode();
    return { run: async (a) => fromReply((await node.backend.run([a]))[0]!), close };
  },
  '3-node cluster through a follower (ioredis)': async () => {
    const c = await clusterTarget();
    await c.follower.flushall();
    return {
      run: (a) => c.follower.callBuffer(a[0]!.toString(), ...a.slice(1)).then(fromIoredis, fromIoredis),
      close: async () => {},
    };
  },
};

async function compare(seq: string[][], makeTarget: () => Promise<Target>): Promise<void> {
  await client.flushall();
  const mine = await makeTarget();
  try {
    for (const cmd of seq) {
      const name = cmd[0]!.toLowerCase();
      const args = cmd.map((s) => Buffer.from(s, 'latin1'));
      const expected = await client.callBuffer(cmd[0]!, ...args.slice(1)).then(fromIoredis, fromIoredis);
      const actual = await mine.run(args);
      assert.deepEqual(normalise(name, actual), normalise(name, expected), `${cmd.join(' ')}`);
    }
  } finally {
    await mine.close();
  }
}

const cases: Record<string, string[][]> = {
  strings: [
    ['SET', 'a', '1'],
    ['GET', 'a'],
    ['SET', 'a', '2', 'NX'],
    ['SET', 'a', '3', 'XX', 'GET'],
    ['SET', 'b', 'x', 'XX'],
    ['SET', 'a', 'v', 'NX', 'XX'],
    ['SET', 'a', 'v', 'EX', '0'],
    ['SET', 'a', 'v', 'EX', 'x'],
    ['SET', 'a', 'v', 'EX', '10', 'PX', '100'],
    ['SET', 'a', 'v', 'EX'],
    ['SETNX', 'a', 'z'],
    ['SETNX', 'c', 'z'],
    ['GETDEL', 'c'],
    ['GETDEL', 'c'],
    ['MSET', 'k1', 'v1', 'k2', 'v2'],
    ['MSET', 'k1'],
    ['MGET', 'k1', 'nokey', 'k2'],
    ['MSETNX', 'k1', 'x', 'k3', 'y'],
    ['MSETNX', 'k4', 'x', 'k3', 'y'],
    ['INCR', 'n'],
    ['INCRBY', 'n', '41'],
    ['DECR', 'n'],
    ['DECRBY', 'n', '-10'],
    ['INCRBY', 'n', '9223372036854775807'],
    ['INCR', 'k1'],
    ['INCRBY', 'n', '1.5'],
    ['INCRBY', 'n', '+1'],
    ['INCRBYFLOAT', 'f', '10.5'],
    ['INCRBYFLOAT', 'f', '0.1'],
    ['INCRBYFLOAT', 'f', '-5e3'],
    ['INCRBYFLOAT', 'f', 'abc'],
    ['APPEND', 's', 'hello'],
    ['APPEND', 's', ' world'],
    ['STRLEN', 's'],
    ['STRLEN', 'nokey'],
    ['GETRANGE', 's', '0', '4'],
    ['GETRANGE', 's', '-5', '-1'],
    ['GETRANGE', 's', '5', '2'],
    ['GETRANGE', 's', '-100', '100'],
    ['SETRANGE', 's', '6', 'WORLD'],
    ['SETRANGE', 'pad', '5', 'x'],
    ['GET', 'pad'],
    ['SETRANGE', 's', '-1', 'x'],
    ['SETRANGE', 'nokey2', '0', ''],
    ['SETEX', 't', '100', 'v'],
    ['SETEX', 't', '0', 'v'],
    ['PSETEX', 't2', '100000', 'v'],
    ['GETEX', 't', 'PERSIST'],
    ['TTL', 't'],
    ['GETEX', 't', 'EX', '50'],
    ['GETEX', 'nokey'],
    ['GETEX', 't', 'BOGUS'],
    ['LPUSH', 'list', 'x'],
    ['GET', 'list'],
    ['SET', 'list', 'now-a-string'],
    ['GET', 'list'],
    ['SET', 'withttl', 'v', 'EX', '100'],
    ['SET', 'withttl', 'v2', 'KEEPTTL'],
    ['TTL', 'withttl'],
    ['SET', 'withttl', 'v3'],
    ['TTL', 'withttl'],
  ],
  keys: [
    ['MSET', 'a', '1', 'b', '2', 'c', '3'],
    ['DEL', 'a', 'a', 'zz'],
    ['EXISTS', 'b', 'b', 'a'],
    ['UNLINK', 'b'],
    ['TYPE', 'c'],
    ['TYPE', 'nokey'],
    ['RPUSH', 'l', '1'],
    ['TYPE', 'l'],
    ['RENAME', 'c', 'd'],
    ['RENAME', 'nokey', 'x'],
    ['RENAMENX', 'd', 'l'],
    ['RENAMENX', 'd', 'e'],
    ['RENAME', 'e', 'e'],
    ['KEYS', '*'],
    ['KEYS', '[el]'],
    ['KEYS', 'nomatch*'],
    ['DBSIZE'],
    ['EXPIRE', 'e', '100'],
    ['TTL', 'e'],
    ['PERSIST', 'e'],
    ['PERSIST', 'e'],
    ['TTL', 'e'],
    ['TTL', 'nokey'],
    ['PTTL', 'nokey'],
    ['EXPIRE', 'e', '100', 'XX'],
    ['EXPIRE', 'e', '100', 'NX'],
    ['EXPIRE', 'e', '50', 'GT'],
    ['EXPIRE', 'e', '500', 'GT'],
    ['EXPIRE', 'e', '1000', 'LT'],
    ['EXPIRE', 'e', '10', 'NX', 'XX'],
    ['EXPIRE', 'e', '10', 'GT', 'LT'],
    ['EXPIRE', 'e', 'abc'],
    ['EXPIRE', 'nokey', '10'],
    ['PEXPIRE', 'e', '-1'],
    ['EXISTS', 'e'],
    ['EXPIREAT', 'l', '1'],
    ['EXISTS', 'l'],
    ['FLUSHDB', 'bogus'],
    ['FLUSHDB'],
    ['DBSIZE'],
    ['RANDOMKEY'],
  ],
  lists: [
    ['RPUSH', 'l', 'a', 'b', 'c', 'd', 'b'],
    ['LPUSH', 'l', 'z'],
    ['LPUSHX', 'nokey', 'a'],
    ['RPUSHX', 'l', 'e'],
    ['LRANGE', 'l', '0', '-1'],
    ['LRANGE', 'l', '-3', '2'],
    ['LRANGE', 'l', '10', '20'],
    ['LLEN', 'l'],
    ['LINDEX', 'l', '-1'],
    ['LINDEX', 'l', '100'],
    ['LSET', 'l', '1', 'A'],
    ['LSET', 'l', '100', 'A'],
    ['LSET', 'nokey', '0', 'A'],
    ['LREM', 'l', '-1', 'b'],
    ['LREM', 'l', '0', 'zz'],
    ['LPOS', 'l', 'b'],
    ['LPOS', 'l', 'c', 'RANK', '-1'],
    ['LPOS', 'l', 'c', 'COUNT', '0'],
    ['LPOS', 'l', 'c', 'RANK', '0'],
    ['LPOS', 'l', 'nothere'],
    ['LTRIM', 'l', '1', '-2'],
    ['LRANGE', 'l', '0', '-1'],
    ['LPOP', 'l'],
    ['RPOP', 'l', '2'],
    ['RPOP', 'l', '-1'],
    ['LPOP', 'nokey'],
    ['LPOP', 'nokey', '2'],
    ['RPUSH', 'src', '1', '2', '3'],
    ['RPOPLPUSH', 'src', 'dst'],
    ['LMOVE', 'src', 'dst', 'LEFT', 'RIGHT'],
    ['LMOVE', 'src', 'src', 'LEFT', 'RIGHT'],
    ['LMOVE', 'src', 'dst', 'UP', 'RIGHT'],
    ['LRANGE', 'dst', '0', '-1'],
    ['LRANGE', 'src', '0', '-1'],
    ['LPOP', 'src', '5'],
    ['EXISTS', 'src'],
    ['SET', 's', 'x'],
    ['LPUSH', 's', 'a'],
    ['RPOPLPUSH', 'dst', 's'],
    ['LRANGE', 'dst', '0', '-1'],
  ],
  hashes: [
    ['HSET', 'h', 'f1', 'v1', 'f2', 'v2'],
    ['HSET', 'h', 'f1', 'x'],
    ['HSET', 'h', 'f1'],
    ['HMSET', 'h', 'f3', 'v3'],
    ['HSETNX', 'h', 'f3', 'no'],
    ['HSETNX', 'h', 'f4', '10'],
    ['HGET', 'h', 'f1'],
    ['HGET', 'h', 'nof'],
    ['HMGET', 'h', 'f1', 'nof', 'f2'],
    ['HGETALL', 'h'],
    ['HDEL', 'h', 'f2', 'nof'],
    ['HEXISTS', 'h', 'f2'],
    ['HLEN', 'h'],
    ['HKEYS', 'h'],
    ['HVALS', 'h'],
    ['HINCRBY', 'h', 'f4', '5'],
    ['HINCRBY', 'h', 'f1', '5'],
    ['HINCRBYFLOAT', 'h', 'f4', '0.5'],
    ['HINCRBYFLOAT', 'h', 'f1', '0.5'],
    ['HSTRLEN', 'h', 'f4'],
    ['HGETALL', 'nokey'],
    ['HDEL', 'h', 'f1', 'f3', 'f4'],
    ['EXISTS', 'h'],
    ['SET', 'str', 'x'],
    ['HGET', 'str', 'f'],
  ],
  sets: [
    ['SADD', 's', 'a', 'b', 'c', 'a'],
    ['SADD', 's2', 'b', 'c', 'd'],
    ['SREM', 's', 'a', 'zz'],
    ['SMEMBERS', 's'],
    ['SISMEMBER', 's', 'b'],
    ['SMISMEMBER', 's', 'b', 'zz'],
    ['SCARD', 's'],
    ['SINTER', 's', 's2'],
    ['SUNION', 's', 's2'],
    ['SDIFF', 's2', 's'],
    ['SINTER', 's', 'nokey'],
    ['SPOP', 'nokey'],
    ['SPOP', 'nokey', '3'],
    ['SPOP', 's', '-1'],
    ['SRANDMEMBER', 'nokey'],
    ['SRANDMEMBER', 'nokey', '-3'],
    ['SADD', 'one', 'x'],
    ['SPOP', 'one'],
    ['EXISTS', 'one'],
    ['SET', 'str', 'x'],
    ['SADD', 'str', 'x'],
    ['SINTER', 's', 'str'],
  ],
  zsets: [
    ['ZADD', 'z', '1', 'a', '2', 'b', '3', 'c'],
    ['ZADD', 'z', 'NX', '10', 'a', '4', 'd'],
    ['ZADD', 'z', 'XX', 'CH', '5', 'a', '9', 'zz'],
    ['ZADD', 'z', 'GT', 'CH', '1', 'a', '6', 'b'],
    ['ZADD', 'z', 'LT', 'CH', '1', 'a'],
    ['ZADD', 'z', 'NX', 'XX', '1', 'a'],
    ['ZADD', 'z', 'GT', 'LT', '1', 'a'],
    ['ZADD', 'z', 'INCR', '2', 'a', '3', 'b'],
    ['ZADD', 'z', 'INCR', '2.5', 'a'],
    ['ZADD', 'z', 'NX', 'INCR', '2.5', 'a'],
    ['ZADD', 'z', 'x', 'a'],
    ['ZADD', 'z', '1'],
    ['ZSCORE', 'z', 'a'],
    ['ZSCORE', 'z', 'nom'],
    ['ZINCRBY', 'z', '-0.5', 'c'],
    ['ZCARD', 'z'],
    ['ZCOUNT', 'z', '-inf', '+inf'],
    ['ZCOUNT', 'z', '(1', '4'],
    ['ZCOUNT', 'z', 'x', '4'],
    ['ZRANGE', 'z', '0', '-1'],
    ['ZRANGE', 'z', '0', '-1', 'WITHSCORES'],
    ['ZRANGE', 'z', '0', '1', 'REV'],
    ['ZRANGE', 'z', '(1', '5', 'BYSCORE', 'WITHSCORES'],
    ['ZRANGE', 'z', '5', '(1', 'BYSCORE', 'REV', 'LIMIT', '0', '2'],
    ['ZRANGE', 'z', '0', '1', 'LIMIT', '0', '1'],
    ['ZRANGEBYSCORE', 'z', '-inf', '+inf', 'WITHSCORES', 'LIMIT', '1', '-1'],
    ['ZREVRANGEBYSCORE', 'z', '+inf', '2'],
    ['ZREVRANGE', 'z', '0', '-1', 'WITHSCORES'],
    ['ZRANK', 'z', 'c'],
    ['ZREVRANK', 'z', 'c'],
    ['ZRANK', 'z', 'nom'],
    ['ZPOPMIN', 'z'],
    ['ZPOPMAX', 'z', '2'],
    ['ZPOPMIN', 'nokey'],
    ['ZADD', 'lex', '0', 'a', '0', 'b', '0', 'c', '0', 'd'],
    ['ZRANGE', 'lex', '[b', '(d', 'BYLEX'],
    ['ZRANGE', 'lex', '-', '+', 'BYLEX', 'LIMIT', '1', '2'],
    ['ZRANGE', 'lex', 'b', 'd', 'BYLEX'],
    ['ZREM', 'lex', 'a', 'b', 'c', 'd'],
    ['EXISTS', 'lex'],
  ],
  errors: [
    ['GET'],
    ['GET', 'a', 'b'],
    ['SET', 'a'],
    ['LPUSH', 'a'],
    ['HSET', 'h', 'f'],
    ['ZADD', 'z', '1'],
    ['RPOP', 'l', '1', '2'],
  ],
};

for (const [targetName, makeTarget] of Object.entries(targets)) {
  describe(`differential vs redis-server: ${targetName}`, () => {
    for (const [name, seq] of Object.entries(cases)) {
      test(name, async () => compare(seq, makeTarget));
    }
    test('random sequences', async () => {
      const k = fc.constantFrom('k1', 'k2', 'k3');
      const v = fc.constantFrom('a', 'b', '1', '-2', '10', '0.5', '');
      const i = fc.constantFrom('0', '1', '-1', '2', '-3', '10');
      const cmd = fc.oneof(
        fc
          .tuple(fc.constantFrom('SET', 'APPEND', 'SETNX', 'GETSET'), k, v)
          .map((a) => (a[0] === 'GETSET' ? ['SET', a[1], a[2], 'GET'] : a)),
        fc.tuple(
          fc.constantFrom(
            'GET',
            'INCR',
            'DECR',
            'STRLEN',
            'DEL',
            'EXISTS',
            'TYPE',
            'LLEN',
            'SCARD',
            'ZCARD',
            'HLEN',
            'LPOP',
            'RPOP',
            'PERSIST',
            'TTL',
          ),
          k,
        ),
        fc.tuple(
          fc.constantFrom('LPUSH', 'RPUSH', 'SADD', 'SREM', 'LPUSHX', 'HDEL', 'ZREM', 'SISMEMBER'),
          k,
          v,
        ),
        fc.tuple(fc.constantFrom('LRANGE', 'GETRANGE', 'LTRIM'), k, i, i),
        fc.tuple(fc.constantFrom('LINDEX', 'INCRBY', 'EXPIRE'), k, i),
        fc
          .tuple(
            fc.constantFrom('INCRBYFLOAT', 'HINCRBYFLOAT'),
            k,
            fc.constantFrom('0.1', '-3.3', '1e2', '7', 'x'),
          )
          .map((a) => (a[0] === 'HINCRBYFLOAT' ? [a[0], a[1], 'f', a[2]] : a)),
        fc
          .tuple(fc.constantFrom('HSET', 'HSETNX', 'HINCRBY'), k, v, v)
          .map((a) => (a[0] === 'HINCRBY' ? [a[0], a[1], a[2], '1'] : a)),
        fc.tuple(fc.constant('ZADD'), k, i, v),
        fc.tuple(fc.constant('ZRANGE'), k, i, i, fc.constantFrom('WITHSCORES', 'REV')),
        fc
          .tuple(fc.constantFrom('SINTER', 'SUNION', 'SDIFF', 'RENAME', 'LMOVE'), k, k)
          .map((a) => (a[0] === 'LMOVE' ? [...a, 'LEFT', 'RIGHT'] : a)),
        fc
          .tuple(fc.constantFrom('HGETALL', 'SMEMBERS', 'LRANGE'), k)
          .map((a) => (a[0] === 'LRANGE' ? [...a, '0', '-1'] : a)),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 40 }), async (seq) =>
          compare(seq as string[][], makeTarget),
        ),
        { numRuns: targetName.startsWith('in-memory') ? 150 : targetName.startsWith('3-node') ? 25 : 40 },
      );
    });
  });
}
