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
import { type SealError, sealError } from '../../util/errors.ts';

export const FRAME_MAGIC = 0xc1;
export const FRAME_HEADER_BYTES = 10;
/** Default upper bound of one frame's payload; a longer one is treated as garbage. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

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

export function frameError(reason: string, details: Record<string, unknown> = {}): SealError {
  return sealError(
    Err.TransportFrame,
    `${reason}; the connection is closed and the peer must reconnect`,
    details,
  );
}

function headerCrc(kind: number, length: number): number {
  const h = new Uint8Array(5);
  h[0] = kind;
  new DataView(h.buffer).setUint32(1, length);
  return crc32c(h);
}

/** The CRC stored in the header of a frame carrying `payload`. */
export function frameCrc(kind: FrameKind, payload: Uint8Array): number {
  return crc32c(payload, headerCrc(kind, payload.length));
}

/** Writes one frame at `off` of `target` (which must have room) and returns its CRC. */
export function writeFrame(target: Uint8Array, off: number, kind: FrameKind, payload: Uint8Array): number {
  const crc = frameCrc(kind, payload);
  const dv = new DataView(target.buffer, target.byteOffset + off, FRAME_HEADER_BYTES);
  dv.setUint8(0, FRAME_MAGIC);
  dv.setUint8(1, kind);
  dv.setUint32(2, payload.length);
  dv.setUint32(6, crc);
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

  constructor(private readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Decodes `chunk`, calling `sink` per complete frame. Throws ErrTransportFrame on a bad frame. */
  push(chunk: Uint8Array, sink: FrameSink): void {
    if (this.failure) throw this.failure;
    try {
      this.consume(chunk, sink);
    } catch (e) {
      // Only framing errors poison the decoder; a throwing sink is the caller's business.
      if (e instanceof Error && (e as SealError).code === Err.TransportFrame) this.failure = e as SealError;
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
        this.header.set(chunk.subarray(off, off + take), this.headerFill);
        this.headerFill += take;
        off += take;
        if (this.headerFill < FRAME_HEADER_BYTES) return;
        const length = this.startBody();
        if (length === 0) {
          this.finishFrame(sink);
          continue;
        }
        if (chunk.length - off >= length) {
          // Whole body in this chunk: one copy, so the payload never pins the socket's buffer.
          this.body = chunk.slice(off, off + length);
          this.bodyFill = length;
          off += length;
          this.finishFrame(sink);
          continue;
        }
      }
      const body = this.body!;
      const take = Math.min(body.length - this.bodyFill, chunk.length - off);
      body.set(chunk.subarray(off, off + take), this.bodyFill);
      this.bodyFill += take;
      off += take;
      if (this.bodyFill === body.length) this.finishFrame(sink);
    }
  }

  /** Validates a complete header and prepares for the body; returns the body length. */
  private startBody(): number {
    const dv = new DataView(this.header.buffer);
    const kind = dv.getUint8(1);
    const length = dv.getUint32(2);
    if (kind < 1 || kind > KIND_MAX) throw frameError('unknown frame kind', { kind });
    if (length > this.maxFrameBytes) {
      throw frameError('frame larger than the configured maximum', { length, max: this.maxFrameBytes });
    }
    this.body = length === 0 ? new Uint8Array(0) : new Uint8Array(length);
    this.bodyFill = 0;
    return length;
  }

  private finishFrame(sink: FrameSink): void {
    const dv = new DataView(this.header.buffer);
    const kind = dv.getUint8(1) as FrameKind;
    const want = dv.getUint32(6);
    const body = this.body!;
    this.body = null;
    this.bodyFill = 0;
    this.headerFill = 0;
    const got = frameCrc(kind, body);
    if (got !== want) throw frameError('frame checksum mismatch', { kind, length: body.length, got, want });
    sink(kind, body, got);
  }
}
