// The canned answers of the bench's reference servers (node-floor-server.ts,
// replication-floor.ts): every command is parsed like sealkv parses it, and
// nothing is stored or looked up.
import { createServer, type Server, type Socket } from 'node:net';
import { RespCommandParser } from '../src/redis/resp/index.ts';

const OK = Buffer.from('+OK\r\n');
const VALUE = Buffer.from('$3\r\nxxx\r\n');
const PONG = Buffer.from('+PONG\r\n');
const PROTOCOL_ERROR = Buffer.from('-ERR protocol error\r\n');

/**
 * Takes every whole command fed to `parser` so far and answers each: `writes`
 * says whether one of them was a SET. Undefined on a protocol error.
 */
function cannedReplies(parser: RespCommandParser): { out: Buffer[]; writes: boolean } | undefined {
  const out: Buffer[] = [];
  let writes = false;
  for (let cmd = parser.next(); cmd !== undefined; cmd = parser.next()) {
    if (!Array.isArray(cmd)) return undefined;
    const name = cmd[0]?.toString('latin1').toLowerCase();
    if (name === 'set') writes = true;
    out.push(name === 'get' ? VALUE : name === 'ping' ? PONG : OK);
  }
  return { out, writes };
}

/** Join replies into one write. */
export function joined(out: Buffer[]): Buffer {
  return out.length === 1 ? out[0]! : Buffer.concat(out);
}

/**
 * A RESP listener that hands each chunk's canned replies to `answer` (never
 * empty), and closes a connection after a protocol error.
 */
export function cannedServer(
  answer: (socket: Socket, out: Buffer[], writes: boolean, chunk: Buffer) => void,
  onClose: (socket: Socket) => void = () => {},
): Server {
  return createServer((socket) => {
    socket.setNoDelay(true);
    const parser = new RespCommandParser();
    socket.on('data', (chunk: Buffer) => {
      parser.feed(chunk);
      const replies = cannedReplies(parser);
      if (replies === undefined) socket.end(PROTOCOL_ERROR);
      else if (replies.out.length > 0) answer(socket, replies.out, replies.writes, chunk);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => onClose(socket));
  });
}
