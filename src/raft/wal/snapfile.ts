import { crc32c } from '../../util/crc32c.ts';
import type { Snapshot, SnapshotMeta } from '../core/types.ts';
import { ByteReader, readConf } from './codec.ts';

/**
 * Snapshot file `snap-<index 16 hex>-<term 16 hex>.snap`:
 *   magic "SKSNAP01" | headerLen u32 | header | headerCrc u32 | data
 *   header = index u64 | term u64 | conf | dataLen u64 | dataCrc u32
 * headerCrc covers magic, headerLen and header. The meta can be checked
 * without trusting the data, and the data without trusting the name.
 */

const MAGIC = new TextEncoder().encode('SKSNAP01');
const TWO32 = 0x1_0000_0000;

export function snapFileName(index: number, term: number): string {
  return `snap-${hex16(index)}-${hex16(term)}.snap`;
}

export function parseSnapFileName(name: string): { index: number; term: number } | undefined {
  const m = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/.exec(name);
  if (m === null) return undefined;
  return { index: Number.parseInt(m[1]!, 16), term: Number.parseInt(m[2]!, 16) };
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function encodeSnapshotFile(snap: Snapshot): Uint8Array {
  const enc = new TextEncoder();
  const parts: number[] = [];
  const u16 = (n: number) => parts.push((n >>> 8) & 0xff, n & 0xff);
  const u32 = (n: number) => parts.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  const u64 = (n: number) => {
    u32(Math.floor(n / TWO32));
    u32(n % TWO32);
  };
  const str16 = (s: string) => {
    const b = enc.encode(s);
    if (b.length > 0xffff) throw new RangeError(`node id of ${b.length} bytes in a snapshot conf`);
    u16(b.length);
    parts.push(...b);
  };
  const { meta, data } = snap;
  u64(meta.index);
  u64(meta.term);
  u16(meta.conf.voters.length);
  for (const v of meta.conf.voters) str16(v);
  u16(meta.conf.learners.length);
  for (const l of meta.conf.learners) str16(l);
  u64(data.length);
  u32(crc32c(data));
  const header = Uint8Array.from(parts);
  const out = new Uint8Array(MAGIC.length + 4 + header.length + 4 + data.length);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint32(8, header.length);
  out.set(header, 12);
  const hEnd = 12 + header.length;
  dv.setUint32(hEnd, crc32c(out.subarray(0, hEnd)));
  out.set(data, hEnd + 4);
  return out;
}

export class SnapFileError extends Error {
  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** Verifies every checksum and the length; throws SnapFileError with the offset of the damage. */
export function decodeSnapshotFile(b: Uint8Array): Snapshot {
  if (b.length < 16) throw new SnapFileError(0, 'snapshot file shorter than its header');
  for (let i = 0; i < MAGIC.length; i++) {
    if (b[i] !== MAGIC[i]) throw new SnapFileError(0, 'bad snapshot magic');
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hLen = dv.getUint32(8);
  const hEnd = 12 + hLen;
  if (hEnd + 4 > b.length) throw new SnapFileError(8, 'snapshot header length overruns the file');
  if (crc32c(b.subarray(0, hEnd)) !== dv.getUint32(hEnd)) {
    throw new SnapFileError(12, 'snapshot header checksum mismatch');
  }
  let meta: SnapshotMeta;
  let dataLen: number;
  let dataCrc: number;
  try {
    const r = new ByteReader(b.subarray(12, hEnd));
    const index = r.u64();
    const term = r.u64();
    meta = { index, term, conf: readConf(r) };
    dataLen = r.u64();
    dataCrc = r.u32();
    r.done();
  } catch (e) {
    throw new SnapFileError(12, `snapshot header malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const dataStart = hEnd + 4;
  if (b.length !== dataStart + dataLen) {
    throw new SnapFileError(
      dataStart,
      `snapshot data is ${b.length - dataStart} bytes, header says ${dataLen}`,
    );
  }
  const data = b.slice(dataStart);
  if (crc32c(data) !== dataCrc) throw new SnapFileError(dataStart, 'snapshot data checksum mismatch');
  return { meta, data };
}
