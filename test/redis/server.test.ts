import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RedisServer } from '../../src/redis/server.ts';
import { MemoryBackend } from '../helpers/memory-backend.ts';

const run = promisify(execFile);

let server: RedisServer;
let port: number;

before(async () => {
  server = new RedisServer({
    backend: new MemoryBackend(),
    limits: {
      resp: { maxBulkLength: 1024 * 1024 },
      outputHighWaterBytes: 64 * 1024,
      outputHardLimitBytes: 1024 * 1024,
      maxPipelineBatch: 16,
    },
  });
  port = (await server.listen('127.0.0.1', 0)).port;
});

after(async () => {
  await server.close();
});

function client(protocol?: 2 | 3): Redis {
  return new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, ...(protocol ? { protocol } : {}) });
}

function raw(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends bytes and collects everything until the server closes the socket or `ms` pass. */
async function exchange(bytes: string | Buffer, ms = 500): Promise<{ data: string; closed: boolean }> {
  const s = await raw();
  let data = '';
  let closed = false;
  s.on('data', (d) => (data += d.toString('latin1')));
  const done = new Promise<void>((resolve) => {
    s.on('close', () => {
      closed = true;
      resolve();
    });
    setTimeout(resolve, ms);
  });
  s.write(bytes);
  await done;
  s.destroy();
  return { data, closed };
}

describe('redis server with real clients', () => {
  test('ioredis with its default RESP3 handshake falls back to RESP2 and works', async () => {
    const c = client();
    try {
      assert.equal(await c.set('greeting', 'hello'), 'OK');
      assert.equal(await c.get('greeting'), 'hello');
      assert.deepEqual(await c.zadd('z', 1, 'a', 2, 'b'), 2);
      assert.deepEqual(await c.call('ZRANGE', 'z', '0', '-1', 'WITHSCORES'), ['a', '1', 'b', '2']);
    } finally {
      c.disconnect();
    }
  });

  test('a pipeline of 10k commands answers every command in order', async () => {
    const c = client(2);
    try {
      const p = c.pipeline();
      for (let i = 0; i < 5000; i++) {
        p.set(`k${i}`, String(i));
        p.incr(`k${i}`);
      }
      const res = await p.exec();
      assert.equal(res?.length, 10000);
      for (let i = 0; i < 5000; i++) {
        assert.deepEqual(res![2 * i], [null, 'OK']);
        assert.deepEqual(res![2 * i + 1], [null, i + 1]);
      }
    } finally {
      c.disconnect();
    }
  });

  test('MULTI/EXEC applies atomically; WATCH aborts on a concurrent write', async () => {
    const a = client(2);
    const b = client(2);
    try {
      const ok = await a.multi().set('acct', '10').incrby('acct', 5).get('acct').exec();
      assert.deepEqual(ok, [
        [null, 'OK'],
        [null, 15],
        [null, '15'],
      ]);
      await a.watch('acct');
      await b.set('acct', '100');
      const aborted = await a.multi().set('acct', '0').exec();
      assert.equal(aborted, null);
      assert.equal(await a.get('acct'), '100');
      await assert.rejects(a.multi().set('x', '1').call('nosuchcommand').exec(), /EXECABORT/);
      assert.equal(await a.exists('x'), 0);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  test('redis-cli sets and reads values, including binary-safe ones', async () => {
    const set = await run('redis-cli', ['-p', String(port), 'SET', 'cli key', 'a\nb']);
    assert.equal(set.stdout.trim(), 'OK');
    const get = await run('redis-cli', ['-p', String(port), '--no-raw', 'GET', 'cli key']);
    assert.equal(get.stdout.trim(), '"a\\nb"');
    const err = await run('redis-cli', ['-p', String(port), 'LPUSH', 'cli key', 'x']);
    assert.match(err.stdout, /WRONGTYPE/);
    const ping = await run('redis-cli', ['-p', String(port), 'PING']);
    assert.equal(ping.stdout.trim(), 'PONG');
  });

  test('inline commands work (telnet style)', async () => {
    const r = await exchange('SET inl "a b"\r\nGET inl\r\nPING\r\n');
    assert.equal(r.data, '+OK\r\n$3\r\na b\r\n+PONG\r\n');
  });

  test('malformed RESP gets a protocol error and that connection closes; others keep working', async () => {
    const r = await exchange('*1\r\n$abc\r\n');
    assert.match(r.data, /^-ERR Protocol error: invalid bulk length\r\n$/);
    assert.equal(r.closed, true);
    const c = client(2);
    try {
      assert.equal(await c.ping(), 'PONG');
    } finally {
      c.disconnect();
    }
  });

  test('an oversized bulk is refused with an error and the server keeps serving', async () => {
    const r = await exchange(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${2 * 1024 * 1024}\r\n`);
    assert.match(r.data, /^-ERR Protocol error: invalid bulk length/);
    assert.equal(r.closed, true);
    const c = client(2);
    try {
      assert.equal(await c.set('after', '1'), 'OK');
    } finally {
      c.disconnect();
    }
  });

  test('unknown commands and bad arguments get errors and the connection stays usable', async () => {
    const r = await exchange('*2\r\n$4\r\nFROB\r\n$1\r\nx\r\n*1\r\n$3\r\nGET\r\n*1\r\n$4\r\nPING\r\n');
    assert.equal(
      r.data,
      "-ERR unknown command 'FROB', with args beginning with: 'x' \r\n-ERR wrong number of arguments for 'get' command\r\n+PONG\r\n",
    );
    assert.equal(r.closed, false);
  });

  test('pub/sub delivers messages and restricts a subscribed connection', async () => {
    const sub = client(2);
    const pub = client(2);
    try {
      const got = new Promise<[string, string]>((resolve) =>
        sub.on('message', (ch, msg) => resolve([ch, msg])),
      );
      await sub.subscribe('news');
      assert.equal(await pub.publish('news', 'hello'), 1);
      assert.deepEqual(await got, ['news', 'hello']);
      const r = await exchange('*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nc\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
      assert.match(r.data, /\*3\r\n\$9\r\nsubscribe\r\n\$1\r\nc\r\n:1\r\n-ERR Can't execute 'get'/);
    } finally {
      sub.disconnect();
      pub.disconnect();
    }
  });

  test('a client that never reads its replies cannot grow server memory without bound', async () => {
    const c = client(2);
    await c.set('big', 'x'.repeat(100 * 1024));
    c.disconnect();
    const s = await raw();
    s.pause(); // never read
    const cmd = '*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n';
    for (let i = 0; i < 2000; i++) s.write(cmd);
    await new Promise((r) => setTimeout(r, 1000));
    // Either reading was paused at the high-water mark or the client was cut off at the hard limit.
    const pending = (server as unknown as { conns: Set<{ socket: Socket }> }).conns;
    for (const conn of pending)
      assert.ok(conn.socket.writableLength <= 2 * 1024 * 1024, `${conn.socket.writableLength}`);
    s.destroy();
    const probe = client(2);
    try {
      assert.equal(await probe.ping(), 'PONG');
    } finally {
      probe.disconnect();
    }
  });
});
