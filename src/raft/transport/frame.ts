/**
 * Wire framing of the peer transport:
 *
 *   magic/version (1) ‖ kind (1) ‖ BE32 length ‖ BE32 crc ‖ payload (length bytes)
 *
 * crc = CRC-32C over kind ‖ length ‖ payload, so a flipped bit in the kind or the
 * length is caught as well as one in the payload. The magic byte doubles as the
 * protocol version: a peer speaking another version fails on its first byte.
 */
import { Err } from '../../util/codes.ts';
import { crc32c } from '../../util/crc32c.ts';
import { isSealError, type SealError, sealError } from '../../util/errors.ts';

export const FRAME_MAGIC = 0xc1;
export const FRAME_HEADER_BYTES = 10;
/** Default upper bound of one frame's payload; a longer one is treated as garbage. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Limit before the hello: a stranger must not make the node allocate a large frame buffer. */
export const MAX_HELLO_FRAME_BYTES = 1024 * 1024;

export const FrameKind = {
  /** Dialer → listener, first frame of a message connection: who I am, which cluster. */
  Hello: 1,
  /** One opaque Raft message. */
  Message: 2,
  /** Dialer → listener, first frame of a snapshot connection: identity plus snapshot meta. */
  SnapshotHello: 3,
  SnapshotChunk: 4,
  /** Total byte count and stream checksum; nothing follows it. */
  SnapshotEnd: 5,
  /** Receiver → sender: the handler consumed and accepted the whole stream. */
  SnapshotAck: 6,
  /** Receiver → sender: the transfer failed; payload is a UTF-8 reason. */
  SnapshotError: 7,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const KIND_MAX = 7;
const copyOf = Uint8Array.prototype.slice;

export function frameError(reason: string, details: Record<string, unknown> = {}): SealError {
  return sealError(
    Err.TransportFrame,
    `${reason}; the connection is closed and the peer must reconnect`,
    details,
  );
}

// Scratch space for the header CRC: frames are encoded on hot paths, so no allocation per frame.
const crcScratch = new Uint8Array(5);

function headerCrc(kind: number, length: number): number {
  crcScratch[0] = kind;
  putU32(crcScratch, 1, length);
  return crc32c(crcScratch);
}

function putU32(b: Uint8Array, off: number, n: number): void {
  b[off] = n >>> 24;
  b[off + 1] = (n >>> 16) & 0xff;
  b[off + 2] = (n >>> 8) & 0xff;
  b[off + 3] = n & 0xff;
}

function getU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** The CRC stored in the header of a frame carrying `payload`. */
export function frameCrc(kind: FrameKind, payload: Uint8Array): number {
  return crc32c(payload, headerCrc(kind, payload.length));
}

/** Writes one frame at `off` of `target` (which must have room) and returns its CRC. */
export function writeFrame(target: Uint8Array, off: number, kind: FrameKind, payload: Uint8Array): number {
  const crc = frameCrc(kind, payload);
  target[off] = FRAME_MAGIC;
  target[off + 1] = kind;
  putU32(target, off + 2, payload.length);
  putU32(target, off + 6, crc);
  target.set(payload, off + FRAME_HEADER_BYTES);
  return crc;
}

export function encodeFrame(kind: FrameKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeFrame(out, 0, kind, payload);
  return out;
}

/** Receives each decoded frame; `crc` is the verified frame checksum. */
export type FrameSink = (kind: FrameKind, payload: Uint8Array, crc: number) => void;

/**
 * Incremental decoder: accepts a byte stream cut at arbitrary points, emits whole
 * frames. Memory is bounded by one frame (≤ maxFrameBytes). After the first bad
 * frame it stays failed: the stream position is unknown, so the only safe reaction
 * is to drop the connection.
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  private failure: SealError | null = null;

  /** May be raised later, e.g. once a connection has identified itself. */
  constructor(public maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Decodes `chunk`, calling `sink` per complete frame. Throws ErrTransportFrame on a bad frame. */
  push(chunk: Uint8Array, sink: FrameSink): void {
    if (this.failure) throw this.failure;
    try {
      this.consume(chunk, sink);
    } catch (e) {
      // Only framing errors poison the decoder; a throwing sink is the caller's business.
      if (isSealError(e, Err.TransportFrame)) this.failure = e;
      throw e;
    }
  }

  /** True when the bytes seen so far end on a frame boundary. */
  get idle(): boolean {
    return this.headerFill === 0 && this.body === null;
  }

  /** Declares end of stream: throws if a frame was cut short. */
  end(): void {
    if (this.failure) throw this.failure;
    if (!this.idle) {
      this.failure = frameError('stream ended inside a frame', {
        headerBytes: this.headerFill,
        bodyBytes: this.bodyFill,
      });
      throw this.failure;
    }
  }

  private consume(chunk: Uint8Array, sink: FrameSink): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.body === null) {
        if (this.headerFill === 0 && chunk[off] !== FRAME_MAGIC) {
          throw frameError('bad frame magic/version byte', { got: chunk[off], want: FRAME_MAGIC });
        }
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - off);
        for (let i = 0; i < take; i++) this.header[this.headerFill + i] = chunk[off + i]!;
        this.headerFill += take;
        off += take;
        if (this.headerFill < FRAME_HEADER_BYTES) return;
        const length = this.checkHeader();
        if (chunk.length - off >= length) {
          // Whole body in this chunk: copy it (Buffer#slice would alias), so the payload never
          // pins the socket's read buffer.
          this.body = copyOf.call(chunk, off, off + length);
          this.bodyFill = length;
          off += length;
          this.finishFrame(sink);
          continue;
        }
        this.body = new Uint8Array(length);
        this.bodyFill = 0;
      }
      const body = this.body!;
      const take = Math.min(body.length - this.bodyFill, chunk.length - off);
      body.set(chunk.subarray(off, off + take), this.bodyFill);
      this.bodyFill += take;
      off += take;
      if (this.bodyFill === body.length) this.finishFrame(sink);
    }
  }

  /** Validates a complete header; returns the body length. */
  private checkHeader(): number {
    const kind = this.header[1]!;
    const length = getU32(this.header, 2);
    if (kind < 1 || kind > KIND_MAX) throw frameError('unknown frame kind', { kind });
    if (length > this.maxFrameBytes) {
      throw frameError('frame larger than the configured maximum', { length, max: this.maxFrameBytes });
    }
    return length;
  }

  private finishFrame(sink: FrameSink): void {
    const kind = this.header[1] as FrameKind;
    const want = getU32(this.header, 6);
    const body = this.body!;
    this.body = null;
    this.bodyFill = 0;
    this.headerFill = 0;
    const got = frameCrc(kind, body);
    if (got !== want) throw frameError('frame checksum mismatch', { kind, length: body.length, got, want });
    sink(kind, body, got);
  }
}
