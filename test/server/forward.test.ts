import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RespCommandParser } from '../../src/redis/resp/index.ts';
import { Upstream } from '../../src/server/forward.ts';

// A stand-in leader: answers each command with `:<n>` (a running count), writing the
// replies one byte at a time so that replies of one batch span many reads.
let server: Server;
let port: number;
const sockets = new Set<Socket>();
let latest: Socket | undefined;
let accepted = 0;
let holdReplies = false;

before(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    latest = socket;
    accepted += 1;
    socket.on('close', () => sockets.delete(socket));
    const parser = new RespCommandParser();
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      parser.feed(chunk);
      let out = '';
      for (let cmd = parser.next(); cmd !== undefined; cmd = parser.next()) {
        if (!Array.isArray(cmd)) throw new Error('bad command from the upstream');
        n += 1;
        out += `:${n}\r\n`;
      }
      if (holdReplies) return;
      for (const byte of Buffer.from(out)) socket.write(Buffer.of(byte));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  port = typeof addr === 'object' && addr !== null ? addr.port : 0;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const ints = (replies: { t: string; n?: number | bigint }[]) => replies.map((r) => Number(r.n));

describe('Upstream (a follower forwarding to the leader)', () => {
  test('pipelined batches resolve with their own replies, in order', async () => {
    holdReplies = false;
    const up = new Upstream({ host: '127.0.0.1', port });
    try {
      const a = up.send([
        ['SET', 'k', '1'],
        ['GET', 'k'],
        ['INCR', 'n'],
      ]);
      const b = up.send([['PING']]);
      const c = up.send([
        ['GET', 'a'],
        ['GET', 'b'],
      ]);
      assert.deepEqual(ints(await a), [1, 2, 3]);
      assert.deepEqual(ints(await b), [4]);
      assert.deepEqual(ints(await c), [5, 6]);
      assert.deepEqual(await up.send([]), []);
      assert.deepEqual(ints(await up.send([['PING']])), [7]);
    } finally {
      up.close();
    }
  });

  test('a closed connection rejects every unanswered batch; the next send reconnects', async () => {
    holdReplies = true;
    const up = new Upstream({ host: '127.0.0.1', port });
    try {
      const before = accepted;
      const a = up.send([
        ['GET', 'x'],
        ['GET', 'y'],
      ]);
      const b = up.send([['PING']]);
      // The retry goes out the moment the first batch fails, as a forwarding node's
      // next command would: the dead socket may still emit events after that.
      const retry = a.then(
        () => assert.fail('the first batch cannot succeed'),
        () => {
          holdReplies = false;
          return up.send([['PING'], ['PING']]);
        },
      );
      while (accepted === before) await new Promise((r) => setTimeout(r, 5));
      latest?.resetAndDestroy();
      // A reset surfaces as the socket's error, a clean close as ErrNotLeader.
      for (const p of [a, b]) await assert.rejects(p, (e: unknown) => e instanceof Error);
      assert.deepEqual(ints(await retry), [1, 2]);
    } finally {
      up.close();
    }
  });
});
