// The fastest a Redis-protocol server in Node can answer on this machine: the
// same parser and socket handling as sealkv's listener, and a canned reply per
// command with nothing behind it. The redis suite runs it as a reference, so the
// figures show how much of the gap to redis-server is Node's per-request cost
// and how much is sealkv's (the coordinator, Raft, the store).
//
// Usage: node --import tsx bench/node-floor-server.ts <port>; prints "ready".
import { cannedServer, joined } from './canned-replies.ts';

const port = Number(process.argv[2]);
const server = cannedServer((socket, out) => socket.write(joined(out)));
server.listen(port, '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
