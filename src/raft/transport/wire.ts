/** Payload codecs of the transport's control frames (hello, snapshot hello, snapshot end). */
import { crc32c } from '../../util/crc32c.ts';
import { frameError } from './frame.ts';

/** Who is dialing whom, in which cluster: the first frame of every connection. */
export interface Hello {
  from: string;
  /** The node the dialer believes it reached; a mismatch means a misconfigured address. */
  to: string;
  clusterId: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const MAX_ID_BYTES = 0xffff;

function encodeStrings(parts: string[], tail: Uint8Array): Uint8Array {
  const encoded = parts.map((p) => enc.encode(p));
  let size = tail.length;
  for (const e of encoded) {
    if (e.length > MAX_ID_BYTES)
      throw frameError('identifier too long for a hello frame', { bytes: e.length });
    size += 2 + e.length;
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let off = 0;
  for (const e of encoded) {
    dv.setUint16(off, e.length);
    out.set(e, off + 2);
    off += 2 + e.length;
  }
  out.set(tail, off);
  return out;
}

function decodeStrings(b: Uint8Array, count: number): { parts: string[]; rest: Uint8Array } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const parts: string[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 2 > b.length) throw frameError('hello frame truncated', { length: b.length });
    const n = dv.getUint16(off);
    if (off + 2 + n > b.length) throw frameError('hello frame truncated', { length: b.length });
    try {
      parts.push(dec.decode(b.subarray(off + 2, off + 2 + n)));
    } catch {
      throw frameError('hello frame identifier is not UTF-8');
    }
    off += 2 + n;
  }
  return { parts, rest: b.subarray(off) };
}

export function encodeHello(h: Hello, tail: Uint8Array = new Uint8Array(0)): Uint8Array {
  return encodeStrings([h.from, h.to, h.clusterId], tail);
}

/** Decodes a hello; `rest` is what follows the identity (the snapshot meta, for a snapshot hello). */
export function decodeHello(b: Uint8Array): { hello: Hello; rest: Uint8Array } {
  const { parts, rest } = decodeStrings(b, 3);
  return { hello: { from: parts[0]!, to: parts[1]!, clusterId: parts[2]! }, rest };
}

/**
 * The end-of-stream summary. Each chunk frame is already CRC-checked; the digest
 * chains the chunk CRCs in order, so a lost, duplicated or reordered chunk is caught
 * without a second pass over the (possibly huge) data.
 */
export interface StreamSummary {
  bytes: number;
  chunks: number;
  digest: number;
}

export class StreamDigest {
  bytes = 0;
  chunks = 0;
  digest = 0;
  private readonly scratch = new Uint8Array(4);

  add(length: number, frameCrc: number): void {
    this.bytes += length;
    this.chunks += 1;
    new DataView(this.scratch.buffer).setUint32(0, frameCrc);
    this.digest = crc32c(this.scratch, this.digest);
  }

  summary(): StreamSummary {
    return { bytes: this.bytes, chunks: this.chunks, digest: this.digest };
  }
}

export function encodeSummary(s: StreamSummary): Uint8Array {
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(s.bytes));
  dv.setUint32(8, s.chunks);
  dv.setUint32(12, s.digest);
  return out;
}

export function decodeSummary(b: Uint8Array): StreamSummary {
  if (b.length !== 16) throw frameError('snapshot end frame has the wrong length', { length: b.length });
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { bytes: Number(dv.getBigUint64(0)), chunks: dv.getUint32(8), digest: dv.getUint32(12) };
}

export function summariesEqual(a: StreamSummary, b: StreamSummary): boolean {
  return a.bytes === b.bytes && a.chunks === b.chunks && a.digest === b.digest;
}
