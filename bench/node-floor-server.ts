// The fastest a Redis-protocol server in Node can answer on this machine: the
// same parser and socket handling as sealkv's listener, and a canned reply per
// command with nothing behind it. The redis suite runs it as a reference, so the
// figures show how much of the gap to redis-server is Node's per-request cost
// and how much is sealkv's (the coordinator, Raft, the store).
//
// Usage: node --import tsx bench/node-floor-server.ts <port>; prints "ready".
import { createServer } from 'node:net';
import { RespCommandParser } from '../src/redis/resp/index.ts';

const OK = Buffer.from('+OK\r\n');
const VALUE = Buffer.from('$3\r\nxxx\r\n');
const PONG = Buffer.from('+PONG\r\n');
const ERR = Buffer.from('-ERR protocol error\r\n');

const port = Number(process.argv[2]);
const server = createServer((socket) => {
  socket.setNoDelay(true);
  const parser = new RespCommandParser();
  socket.on('data', (chunk: Buffer) => {
    parser.feed(chunk);
    const out: Buffer[] = [];
    for (let cmd = parser.next(); cmd !== undefined; cmd = parser.next()) {
      if (!Array.isArray(cmd)) {
        socket.end(ERR);
        return;
      }
      const name = cmd[0]?.toString('latin1').toLowerCase();
      out.push(name === 'get' ? VALUE : name === 'ping' ? PONG : OK);
    }
    if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  });
  socket.on('error', () => socket.destroy());
});
server.listen(port, '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
