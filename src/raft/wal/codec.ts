import { crc32c } from '../../util/crc32c.ts';
import type { ConfState, Entry, HardState, SnapshotMeta } from '../core/types.ts';

/**
 * WAL byte layout.
 *
 * Batch frame (one per write+fsync; at most one batch is ever unsynced):
 *   magic u32 | payloadLen u32 | payloadCrc u32 | headerCrc u32 | payload
 * headerCrc covers the first 12 bytes and is seeded: the segment's first batch
 * with its sequence number, every later batch with the random salt in the
 * segment header. A frame copied from another segment does not validate, and
 * neither does a frame a client embedded in entry data (it cannot know the
 * salt), so scanning a torn tail for later valid batches cannot be fooled.
 *
 * Record (inside a batch payload):
 *   type u8 | len u32 | body | crc u32 (over type, len and body)
 *
 * Integers are big-endian; 64-bit values are written as two u32 halves and
 * must stay below 2^53.
 */

export const BATCH_MAGIC = 0x534b5742; // "SKWB"
export const BATCH_HEADER = 16;
const RECORD_OVERHEAD = 9;

export const RecType = {
  SegmentHeader: 1,
  HardState: 2,
  Entry: 3,
  Snapshot: 4,
  SegmentEnd: 5,
} as const;

export const SEGMENT_VERSION = 1;

/** compact: the log keeps entries after the snapshot; install: the log restarts empty at it. */
export type SnapshotMode = 'compact' | 'install';

export type WalRecord =
  | { type: 'header'; version: number; seq: number; firstIndex: number; salt: number }
  | { type: 'hardState'; hardState: HardState }
  | { type: 'entry'; entry: Entry }
  | { type: 'snapshot'; meta: SnapshotMeta; mode: SnapshotMode }
  | { type: 'end'; seq: number; contentLength: number; lastIndex: number };

const TWO32 = 0x1_0000_0000;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Appends framed records into one growable buffer. A batch writer (see
 * BatchWriter) reserves the frame header up front, so the records of many
 * saves land directly in the bytes that get written, with no copy.
 */
export class RecordWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private len: number;

  constructor(
    private readonly reserved = 0,
    capacity = 256,
  ) {
    this.buf = new Uint8Array(Math.max(capacity, reserved));
    this.dv = new DataView(this.buf.buffer);
    this.len = reserved;
  }

  /** Empties the writer, keeping its buffer for reuse. */
  reset(): void {
    this.len = this.reserved;
  }

  /** Position to roll back to if encoding a group of records fails halfway. */
  mark(): number {
    return this.len;
  }

  rollback(mark: number): void {
    this.len = mark;
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    const next = new Uint8Array(Math.max(need, this.buf.length * 2));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  private u8(n: number): void {
    this.ensure(1);
    this.buf[this.len++] = n;
  }

  private u16(n: number): void {
    this.ensure(2);
    this.dv.setUint16(this.len, n);
    this.len += 2;
  }

  private u32(n: number): void {
    this.ensure(4);
    this.dv.setUint32(this.len, n >>> 0);
    this.len += 4;
  }

  private u64(n: number): void {
    this.u32(Math.floor(n / TWO32));
    this.u32(n % TWO32);
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  private str16(s: string): void {
    const b = encoder.encode(s);
    if (b.length > 0xffff) throw new RangeError(`string of ${b.length} bytes does not fit a u16 length`);
    this.u16(b.length);
    this.bytes(b);
  }

  private record(type: number, body: () => void): void {
    const start = this.len;
    this.u8(type);
    this.u32(0);
    body();
    this.dv.setUint32(start + 1, this.len - start - 5);
    const crc = crc32c(this.buf.subarray(start, this.len));
    this.u32(crc);
  }

  segmentHeader(seq: number, firstIndex: number, salt: number): void {
    this.record(RecType.SegmentHeader, () => {
      this.u8(SEGMENT_VERSION);
      this.u64(seq);
      this.u64(firstIndex);
      this.u32(salt);
    });
  }

  hardState(hs: HardState): void {
    this.record(RecType.HardState, () => {
      this.u64(hs.term);
      this.u64(hs.commit);
      this.str16(hs.vote);
    });
  }

  entry(e: Entry): void {
    this.record(RecType.Entry, () => {
      this.u64(e.term);
      this.u64(e.index);
      this.u8(e.type);
      this.bytes(e.data);
    });
  }

  snapshot(meta: SnapshotMeta, mode: SnapshotMode): void {
    this.record(RecType.Snapshot, () => {
      this.u8(mode === 'install' ? 1 : 0);
      this.u64(meta.index);
      this.u64(meta.term);
      this.conf(meta.conf);
    });
  }

  segmentEnd(seq: number, contentLength: number, lastIndex: number): void {
    this.record(RecType.SegmentEnd, () => {
      this.u64(seq);
      this.u64(contentLength);
      this.u64(lastIndex);
    });
  }

  private conf(c: ConfState): void {
    this.u16(c.voters.length);
    for (const v of c.voters) this.str16(v);
    this.u16(c.learners.length);
    for (const l of c.learners) this.str16(l);
  }

  /** Bytes of records written (the reserved header excluded). */
  get length(): number {
    return this.len - this.reserved;
  }

  finish(): Uint8Array {
    return this.buf.subarray(this.reserved, this.len);
  }

  /** For a writer made with `reserved = BATCH_HEADER`: fills the frame header in place. */
  sealBatch(seed: number): Uint8Array {
    if (this.reserved !== BATCH_HEADER)
      throw new Error('sealBatch needs a writer with a reserved batch header');
    const out = this.buf.subarray(0, this.len);
    writeBatchHeader(out, seed);
    return out;
  }
}

function writeBatchHeader(out: Uint8Array, seed: number): void {
  const dv = new DataView(out.buffer, out.byteOffset, BATCH_HEADER);
  dv.setUint32(0, BATCH_MAGIC);
  dv.setUint32(4, out.length - BATCH_HEADER);
  dv.setUint32(8, crc32c(out.subarray(BATCH_HEADER)));
  dv.setUint32(12, crc32c(out.subarray(0, 12), seed >>> 0));
}

/** Frames record chunks (in order) as one batch. */
export function encodeBatch(chunks: readonly Uint8Array[], seed: number): Uint8Array {
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(BATCH_HEADER + total);
  let off = BATCH_HEADER;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  writeBatchHeader(out, seed);
  return out;
}

export type FrameResult = { ok: true; payload: Uint8Array; next: number } | { ok: false; reason: string };

/** `seed` undefined skips the header checksum (used only when the seed itself is unknown). */
export function readFrame(b: Uint8Array, off: number, seed: number | undefined): FrameResult {
  if (b.length - off < BATCH_HEADER) return { ok: false, reason: 'short batch header' };
  const dv = new DataView(b.buffer, b.byteOffset + off, BATCH_HEADER);
  if (dv.getUint32(0) !== BATCH_MAGIC) return { ok: false, reason: 'bad batch magic' };
  if (seed !== undefined && crc32c(b.subarray(off, off + 12), seed >>> 0) !== dv.getUint32(12)) {
    return { ok: false, reason: 'batch header checksum mismatch' };
  }
  const len = dv.getUint32(4);
  const start = off + BATCH_HEADER;
  if (len > b.length - start) return { ok: false, reason: 'batch shorter than its length' };
  const payload = b.subarray(start, start + len);
  if (crc32c(payload) !== dv.getUint32(8)) return { ok: false, reason: 'batch checksum mismatch' };
  return { ok: true, payload, next: start + len };
}

/** Offset of the first whole, valid batch at or after `from`, or -1. */
export function findValidFrame(b: Uint8Array, from: number, seed: number | undefined): number {
  const m0 = (BATCH_MAGIC >>> 24) & 0xff;
  for (let p = from; p + BATCH_HEADER <= b.length; p++) {
    if (b[p] !== m0) continue;
    if (readFrame(b, p, seed).ok) return p;
  }
  return -1;
}

class Reader {
  private readonly dv: DataView;
  off = 0;
  constructor(private readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(n: number): void {
    if (this.off + n > this.b.length) throw new Error('record body too short');
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.off);
    this.off += 4;
    return v;
  }
  u64(): number {
    const hi = this.u32();
    const lo = this.u32();
    if (hi >= 0x200000) throw new Error('64-bit value beyond 2^53');
    return hi * TWO32 + lo;
  }
  str16(): string {
    const n = this.u16();
    this.need(n);
    const s = decoder.decode(this.b.subarray(this.off, this.off + n));
    this.off += n;
    return s;
  }
  rest(): Uint8Array {
    const r = this.b.slice(this.off);
    this.off = this.b.length;
    return r;
  }
  done(): void {
    if (this.off !== this.b.length) throw new Error('trailing bytes in record body');
  }
}

/** Decodes every record of a batch payload; throws an Error naming the bad record's offset. */
export function decodeRecords(payload: Uint8Array): WalRecord[] {
  const out: WalRecord[] = [];
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let off = 0;
  while (off < payload.length) {
    if (payload.length - off < RECORD_OVERHEAD) throw new Error(`record header short at +${off}`);
    const type = payload[off]!;
    const len = dv.getUint32(off + 1);
    const end = off + 5 + len;
    if (end + 4 > payload.length) throw new Error(`record length overruns batch at +${off}`);
    if (crc32c(payload.subarray(off, end)) !== dv.getUint32(end)) {
      throw new Error(`record checksum mismatch at +${off}`);
    }
    try {
      out.push(decodeBody(type, new Reader(payload.subarray(off + 5, end))));
    } catch (e) {
      throw new Error(`record at +${off}: ${e instanceof Error ? e.message : String(e)}`);
    }
    off = end + 4;
  }
  return out;
}

function decodeBody(type: number, r: Reader): WalRecord {
  let rec: WalRecord;
  switch (type) {
    case RecType.SegmentHeader:
      rec = { type: 'header', version: r.u8(), seq: r.u64(), firstIndex: r.u64(), salt: r.u32() };
      break;
    case RecType.HardState: {
      const term = r.u64();
      const commit = r.u64();
      rec = { type: 'hardState', hardState: { term, vote: r.str16(), commit } };
      break;
    }
    case RecType.Entry: {
      const term = r.u64();
      const index = r.u64();
      const etype = r.u8();
      if (etype !== 0 && etype !== 1) throw new Error(`unknown entry type ${etype}`);
      return { type: 'entry', entry: { term, index, type: etype, data: r.rest() } };
    }
    case RecType.Snapshot: {
      const mode = r.u8();
      if (mode > 1) throw new Error(`unknown snapshot mode ${mode}`);
      const index = r.u64();
      const term = r.u64();
      rec = {
        type: 'snapshot',
        mode: mode === 1 ? 'install' : 'compact',
        meta: { index, term, conf: readConf(r) },
      };
      break;
    }
    case RecType.SegmentEnd:
      rec = { type: 'end', seq: r.u64(), contentLength: r.u64(), lastIndex: r.u64() };
      break;
    default:
      throw new Error(`unknown record type ${type}`);
  }
  r.done();
  return rec;
}

export function readConf(r: { u16(): number; str16(): string }): ConfState {
  const voters: string[] = [];
  for (let n = r.u16(); n > 0; n--) voters.push(r.str16());
  const learners: string[] = [];
  for (let n = r.u16(); n > 0; n--) learners.push(r.str16());
  return { voters, learners };
}

export { Reader as ByteReader };
