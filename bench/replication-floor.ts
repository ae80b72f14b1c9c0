// The least work a 3-node Raft group in Node does per write on this machine,
// with the ordering raft.md I12 requires and nothing else: the leader makes a
// batch of client commands durable (one O_DSYNC write) before it sends it, a
// follower makes it durable before it acks, and the leader replies once one
// follower has acked (a majority of three). There is no store, no apply, no
// terms, no elections and no recovery; every reply is canned. The redis suite
// runs it as a reference: what sealkv spends above it is sealkv's own cost,
// and what it spends itself is the price of two sequential fsyncs and three
// processes on this machine's cores.
//
// Usage (each prints "ready" once it listens):
//   node --import tsx bench/replication-floor.ts follower <peerPort> <walFile>
//   node --import tsx bench/replication-floor.ts leader <redisPort> <walFile> <followerPort>...
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { cannedServer, joined } from './canned-replies.ts';

/** Frame header: u32 payload length, u32 batch sequence number. */
const HEADER_BYTES = 8;

/** The durability step of both roles: returns once `data` is on stable storage. */
function openWal(path: string): (data: Uint8Array) => void {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC);
  let offset = 0;
  process.on('exit', () => closeSync(fd));
  return (data) => {
    for (let done = 0; done < data.length; )
      done += writeSync(fd, data, done, data.length - done, offset + done);
    offset += data.length;
  };
}

function frame(seq: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(seq, 4);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** Follower: every chunk's whole frames are written in one durable write, then the last sequence is acked. */
function follower(port: number, walPath: string): void {
  const durable = openWal(walPath);
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let at = 0;
      let last = -1;
      while (buf.length - at >= HEADER_BYTES) {
        const len = buf.readUInt32BE(at);
        if (buf.length - at < HEADER_BYTES + len) break;
        last = buf.readUInt32BE(at + 4);
        at += HEADER_BYTES + len;
      }
      if (last < 0) return;
      durable(buf.subarray(0, at));
      buf = buf.subarray(at);
      const ack = Buffer.allocUnsafe(4);
      ack.writeUInt32BE(last, 0);
      socket.write(ack);
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(port, '127.0.0.1', () => console.log('ready'));
  process.on('SIGTERM', () => process.exit(0));
}

interface Batch {
  seq: number;
  replies: { socket: Socket; out: Buffer[] }[];
}

/** Leader: one batch per event-loop turn, durable here, then sent; replied to at the first follower ack. */
async function leader(redisPort: number, walPath: string, followerPorts: number[]): Promise<void> {
  const durable = openWal(walPath);
  const peers = await Promise.all(followerPorts.map(dial));
  const inFlight: Batch[] = [];
  let nextSeq = 0;
  let pending: Batch['replies'] = [];
  let pendingBytes: Buffer[] = [];
  let scheduled = false;
  /** Batches of a connection not yet replied to: its reads must wait behind them. */
  const waiting = new Map<Socket, number>();

  const onAck = (seq: number) => {
    while (inFlight.length > 0 && inFlight[0]!.seq <= seq) {
      for (const r of inFlight.shift()!.replies) {
        const left = (waiting.get(r.socket) ?? 1) - 1;
        if (left === 0) waiting.delete(r.socket);
        else waiting.set(r.socket, left);
        if (!r.socket.destroyed) r.socket.write(joined(r.out));
      }
    }
  };
  for (const peer of peers) {
    let buf: Buffer = Buffer.alloc(0);
    peer.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let last = -1;
      let at = 0;
      for (; buf.length - at >= 4; at += 4) last = buf.readUInt32BE(at);
      buf = buf.subarray(at);
      if (last >= 0) onAck(last);
    });
  }

  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const batch: Batch = { seq: nextSeq++, replies: pending };
    const payload = frame(batch.seq, Buffer.concat(pendingBytes));
    pending = [];
    pendingBytes = [];
    durable(payload); // before the send: I12
    inFlight.push(batch);
    for (const peer of peers) peer.write(payload);
  };

  // Reads are answered at once (a leader lease would allow it) unless a write
  // of the same connection is still waiting; a chunk with a write waits for
  // its batch's commit, in order with the others.
  const server = cannedServer(
    (socket, out, writes, chunk) => {
      if (!writes && !waiting.has(socket)) {
        socket.write(joined(out));
        return;
      }
      pending.push({ socket, out });
      waiting.set(socket, (waiting.get(socket) ?? 0) + 1);
      pendingBytes.push(chunk);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    (socket) => waiting.delete(socket),
  );
  server.listen(redisPort, '127.0.0.1', () => console.log('ready'));
  process.on('SIGTERM', () => process.exit(0));
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

const [role, port, wal, ...rest] = process.argv.slice(2);
if (role === 'follower' && port !== undefined && wal !== undefined) follower(Number(port), wal);
else if (role === 'leader' && port !== undefined && wal !== undefined && rest.length > 0) {
  await leader(Number(port), wal, rest.map(Number));
} else {
  console.error(
    'usage: replication-floor.ts follower <peerPort> <walFile> | leader <redisPort> <walFile> <followerPort>...',
  );
  process.exit(2);
}
