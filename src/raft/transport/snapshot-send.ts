/**
 * Sender side of a snapshot transfer. Each transfer dials its own connection so
 * heartbeats on the message connection never wait behind snapshot bytes (a
 * stalled heartbeat would trigger a false election). The returned promise
 * settles only on the receiver's verdict, so the core can report the outcome.
 */
import { connect, type Socket } from 'node:net';
import { Err } from '../../util/codes.ts';
import { isSealError, type SealError, sealError } from '../../util/errors.ts';
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameKind, writeFrame } from './frame.ts';
import type { PeerAddr, ResolvedOptions } from './options.ts';
import { encodeHello, encodeSummary, StreamDigest } from './wire.ts';

export function snapshotError(to: string, reason: string, cause?: unknown): SealError {
  return sealError(
    Err.TransportSnapshot,
    `snapshot to ${to} failed: ${reason}; the leader should report the failure and retry later`,
    { peer: to },
    cause,
  );
}

/** Resolves or rejects once per transfer; everything the sender awaits races against it. */
class Outcome {
  settled = false;
  failure: SealError | null = null;
  readonly done: Promise<void>;
  private resolveFn!: () => void;
  private rejectFn!: (e: SealError) => void;

  constructor() {
    this.done = new Promise<void>((res, rej) => {
      this.resolveFn = res;
      this.rejectFn = rej;
    });
    // The sender may be busy awaiting its chunk source; avoid an unhandled rejection meanwhile.
    this.done.catch(() => {});
  }

  ok(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFn();
  }

  fail(e: SealError): void {
    if (this.settled) return;
    this.settled = true;
    this.failure = e;
    this.rejectFn(e);
  }
}

/** Waits for `p` unless the transfer fails first. */
function race(p: Promise<void>, outcome: Outcome): Promise<void> {
  return Promise.race([p, outcome.done]);
}

export async function sendSnapshotStream(
  o: ResolvedOptions,
  to: string,
  addr: PeerAddr,
  meta: Uint8Array,
  chunks: AsyncIterable<Uint8Array>,
  track: (socket: Socket) => void,
): Promise<void> {
  const outcome = new Outcome();
  const socket = connect({ host: addr.host, port: addr.port, noDelay: true });
  track(socket);
  wireSocket(o, to, socket, outcome);
  try {
    await race(new Promise<void>((res) => socket.once('connect', () => res())), outcome);
    const hello = encodeHello({ from: o.id, to, clusterId: o.clusterId }, meta);
    if (hello.length > o.maxFrameBytes) throw snapshotError(to, 'snapshot meta exceeds the frame limit');
    socket.write(encodeFrame(FrameKind.SnapshotHello, hello));
    const digest = new StreamDigest();
    for await (const chunk of chunks) {
      if (outcome.failure) throw outcome.failure;
      for (let off = 0; off < chunk.length; off += o.snapshotChunkBytes) {
        const piece = chunk.subarray(off, Math.min(chunk.length, off + o.snapshotChunkBytes));
        const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + piece.length);
        digest.add(piece.length, writeFrame(frame, 0, FrameKind.SnapshotChunk, piece));
        if (!socket.write(frame)) await race(waitDrain(socket), outcome);
        if (outcome.failure) throw outcome.failure;
      }
    }
    if (outcome.failure) throw outcome.failure;
    socket.write(encodeFrame(FrameKind.SnapshotEnd, encodeSummary(digest.summary())));
    await outcome.done;
  } catch (e) {
    const err = isSealError(e) ? e : snapshotError(to, 'the chunk source failed', e);
    outcome.fail(err);
    throw outcome.failure ?? err;
  } finally {
    socket.destroy();
  }
}

function waitDrain(socket: Socket): Promise<void> {
  return new Promise((res) => socket.once('drain', () => res()));
}

/** Maps every way the connection can end to the transfer's outcome. */
function wireSocket(o: ResolvedOptions, to: string, socket: Socket, outcome: Outcome): void {
  socket.setTimeout(o.snapshotIdleTimeoutMs, () =>
    outcome.fail(snapshotError(to, `no progress for ${o.snapshotIdleTimeoutMs} ms`)),
  );
  const decoder = new FrameDecoder(o.maxFrameBytes);
  socket.on('data', (data: Buffer) => {
    try {
      decoder.push(data, (kind, payload) => {
        if (kind === FrameKind.SnapshotAck) outcome.ok();
        else if (kind === FrameKind.SnapshotError)
          outcome.fail(snapshotError(to, `receiver refused: ${new TextDecoder().decode(payload)}`));
        else outcome.fail(snapshotError(to, `unexpected frame kind ${kind} from the receiver`));
      });
    } catch (e) {
      outcome.fail(snapshotError(to, 'bad frame from the receiver', e));
    }
  });
  socket.on('error', (err) => outcome.fail(snapshotError(to, `connection error: ${err.message}`, err)));
  socket.once('close', () => outcome.fail(snapshotError(to, 'connection closed before the acknowledgement')));
}
