import { Err } from '../../util/codes.ts';
import { crc32c } from '../../util/crc32c.ts';
import { type SealError, sealError } from '../../util/errors.ts';
import type { Snapshot, SnapshotMeta } from '../core/types.ts';
import type { Disk, DiskFile } from '../disk/disk.ts';
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

/**
 * A snapshot being received from the leader: durable only once renamed to snapFileName. The
 * `.snap.tmp` suffix makes startup delete it like any unfinished snapshot file, and its
 * middle keeps it apart from the node's own temporary file of the same snapshot.
 */
export function stagedSnapFileName(index: number, term: number, seq: number): string {
  return `snap-${hex16(index)}-${hex16(term)}-recv${seq}.snap.tmp`;
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** The bytes before the data: magic, header length, header (meta, data length and checksum), header checksum. */
export function encodeSnapshotHeader(meta: SnapshotMeta, dataLen: number, dataCrc: number): Uint8Array {
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
  u64(meta.index);
  u64(meta.term);
  u16(meta.conf.voters.length);
  for (const v of meta.conf.voters) str16(v);
  u16(meta.conf.learners.length);
  for (const l of meta.conf.learners) str16(l);
  u64(dataLen);
  u32(dataCrc >>> 0);
  const header = Uint8Array.from(parts);
  const out = new Uint8Array(MAGIC.length + 4 + header.length + 4);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint32(8, header.length);
  out.set(header, 12);
  const hEnd = 12 + header.length;
  dv.setUint32(hEnd, crc32c(out.subarray(0, hEnd)));
  return out;
}

export function encodeSnapshotFile(snap: Snapshot): Uint8Array {
  const head = encodeSnapshotHeader(snap.meta, snap.data.length, crc32c(snap.data));
  const out = new Uint8Array(head.length + snap.data.length);
  out.set(head, 0);
  out.set(snap.data, head.length);
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
  const info = parseSnapshotHeader(b, b.length);
  const data = b.slice(info.dataStart);
  if (crc32c(data) !== info.dataCrc)
    throw new SnapFileError(info.dataStart, 'snapshot data checksum mismatch');
  return { meta: info.meta, data };
}

/** What a snapshot file's header says, checked against its checksum and the file's size. */
export interface SnapFileInfo {
  meta: SnapshotMeta;
  dataStart: number;
  dataLen: number;
  dataCrc: number;
}

/** A header past this is taken for damage, so a flipped length never makes a reader allocate the file. */
const MAX_HEADER_BYTES = 1024 * 1024;

/** `b` holds at least the header (magic through header checksum); `fileSize` is the whole file's. */
function parseSnapshotHeader(b: Uint8Array, fileSize: number): SnapFileInfo {
  if (b.length < 16) throw new SnapFileError(0, 'snapshot file shorter than its header');
  for (let i = 0; i < MAGIC.length; i++) {
    if (b[i] !== MAGIC[i]) throw new SnapFileError(0, 'bad snapshot magic');
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hLen = dv.getUint32(8);
  const hEnd = 12 + hLen;
  if (hLen > MAX_HEADER_BYTES || hEnd + 4 > b.length) {
    throw new SnapFileError(8, 'snapshot header length overruns the file');
  }
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
  if (fileSize !== dataStart + dataLen) {
    throw new SnapFileError(
      dataStart,
      `snapshot data is ${fileSize - dataStart} bytes, header says ${dataLen}`,
    );
  }
  return { meta, dataStart, dataLen, dataCrc };
}

export function sameSnapshotMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  const eq = (x: string[], y: string[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.index === b.index &&
    a.term === b.term &&
    eq(a.conf.voters, b.conf.voters) &&
    eq(a.conf.learners, b.conf.learners)
  );
}

// ---- streaming ------------------------------------------------------------------------
//
// Images can be far larger than memory should hold, so files are written and read through
// one bounded buffer; the data checksum is computed as the bytes pass.

/** Runs one disk operation; the owner decides what a failure means (the WAL makes it fatal, P43). */
export type SnapIo = <T>(op: string, path: string, fn: () => Promise<T>) => Promise<T>;

const plainIo: SnapIo = (_op, _path, fn) => fn();

export interface SnapWriteOptions {
  /** Disk operations go through this (default: as they are). Errors of the source do not. */
  io?: SnapIo;
  /** Refuse a stream longer than this many data bytes. */
  maxBytes?: number;
  /** Small chunks are gathered into writes of this size (default 1 MiB). */
  writeBytes?: number;
}

/**
 * Writes a whole snapshot file at `path` from a stream and fsyncs it; resolves with the data
 * length. The header region holds zeros (a reader refuses the file) until every data byte is
 * out; then it gets the data's length and checksum, and only then the fsync. The caller makes
 * the file visible (rename, fsync of the directory) only after this resolved.
 */
export async function writeSnapshotStream(
  disk: Disk,
  path: string,
  meta: SnapshotMeta,
  chunks: AsyncIterable<Uint8Array>,
  opts: SnapWriteOptions = {},
): Promise<number> {
  const io = opts.io ?? plainIo;
  const max = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  const headLen = encodeSnapshotHeader(meta, 0, 0).length;
  const f = await io('open', path, () => disk.open(path, 'create'));
  let open = true;
  try {
    await io('truncate', path, () => f.truncate(0));
    const bufBytes = opts.writeBytes ?? 1024 * 1024;
    // Room for the header in front: an image that fits is written header and all at once.
    let buf: Uint8Array | undefined;
    let used = 0;
    let off = headLen;
    let wrote = false;
    let crc = 0;
    const flushBuf = async (b: Uint8Array) => {
      // Until the end the header region stays zeros, which no reader accepts.
      const from = wrote ? headLen : 0;
      await io('write', path, () => f.write(off - headLen + from, b.subarray(from, headLen + used)));
      off += used;
      used = 0;
      wrote = true;
    };
    for await (const c of chunks) {
      crc = crc32c(c, crc);
      if (off - headLen + used + c.length > max) {
        throw sealError(Err.InvalidArgument, `snapshot larger than the ${max}-byte limit`, { max });
      }
      if (buf !== undefined && used > 0 && used + c.length > bufBytes) await flushBuf(buf);
      if (used === 0 && c.length * 4 >= bufBytes) {
        // Large chunks skip the copy; a write past the end zero-fills the header region.
        await io('write', path, () => f.write(off, c));
        off += c.length;
        wrote = true;
      } else {
        buf ??= new Uint8Array(headLen + bufBytes);
        buf.set(c, headLen + used);
        used += c.length;
      }
    }
    const dataLen = off - headLen + used;
    const head = encodeSnapshotHeader(meta, dataLen, crc);
    if (buf !== undefined && used > 0 && !wrote) {
      buf.set(head, 0);
      await io('write', path, () => f.write(0, buf.subarray(0, headLen + used)));
    } else {
      if (buf !== undefined && used > 0) await flushBuf(buf);
      await io('write', path, () => f.write(0, head));
    }
    await io('fsync', path, () => f.sync());
    open = false;
    await io('close', path, () => f.close());
    return dataLen;
  } finally {
    // A failed write leaves a temporary file behind; recovery deletes those at startup.
    if (open) await f.close().catch(() => {});
  }
}

function corrupt(name: string, offset: number, reason: string): SealError {
  return sealError(
    Err.WalCorrupt,
    `${name} at offset ${offset}: ${reason}. A durable snapshot file is damaged; ` +
      'if the node refuses to start, wipe its data and re-add it as a learner',
    { file: name, offset, reason },
  );
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

async function readExactly(f: DiskFile, offset: number, length: number): Promise<Uint8Array> {
  const b = await f.read(offset, length);
  if (b.length !== length) throw new SnapFileError(offset, 'snapshot file ends early');
  return b;
}

async function readHeader(f: DiskFile): Promise<SnapFileInfo> {
  const size = await f.size();
  const fixed = await f.read(0, 12);
  if (fixed.length < 12) throw new SnapFileError(0, 'snapshot file shorter than its header');
  const hLen = new DataView(fixed.buffer, fixed.byteOffset, 12).getUint32(8);
  const want = Math.min(size, 12 + Math.min(hLen, MAX_HEADER_BYTES) + 4);
  return parseSnapshotHeader(await f.read(0, want), size);
}

/**
 * Reads a snapshot file's header and checks it against `expect` (its WAL marker or the message
 * naming it). Damage throws ErrWalCorrupt naming the file and offset.
 */
export async function readSnapshotFileInfo(
  disk: Disk,
  path: string,
  expect?: SnapshotMeta,
): Promise<SnapFileInfo> {
  const f = await disk.open(path, 'existing');
  try {
    return checked(path, await header(f, path), expect);
  } finally {
    await f.close();
  }
}

async function header(f: DiskFile, path: string): Promise<SnapFileInfo> {
  try {
    return await readHeader(f);
  } catch (e) {
    if (e instanceof SnapFileError) throw corrupt(baseName(path), e.offset, e.message);
    throw e;
  }
}

function checked(path: string, info: SnapFileInfo, expect: SnapshotMeta | undefined): SnapFileInfo {
  if (expect !== undefined && !sameSnapshotMeta(info.meta, expect)) {
    throw corrupt(baseName(path), 12, 'snapshot file meta differs from the snapshot naming it');
  }
  return info;
}

/**
 * Streams the data of the snapshot file at `path` in chunks of at most `chunkBytes`, each a
 * fresh buffer the consumer may keep. The checksum is verified as the bytes pass and the last
 * chunk is held back until it matched: a consumer that sees the stream end saw every byte
 * intact, and one reading a damaged file gets ErrWalCorrupt instead of its end.
 */
export async function* snapshotFileChunks(
  disk: Disk,
  path: string,
  chunkBytes: number,
  expect?: SnapshotMeta,
): AsyncGenerator<Uint8Array> {
  const f = await disk.open(path, 'existing');
  try {
    const info = checked(path, await header(f, path), expect);
    const end = info.dataStart + info.dataLen;
    let crc = 0;
    for (let off = info.dataStart; off < end; ) {
      const n = Math.min(chunkBytes, end - off);
      let b: Uint8Array;
      try {
        b = await readExactly(f, off, n);
      } catch (e) {
        if (e instanceof SnapFileError) throw corrupt(baseName(path), e.offset, e.message);
        throw e;
      }
      crc = crc32c(b, crc);
      off += n;
      if (off === end && crc !== info.dataCrc) {
        throw corrupt(baseName(path), info.dataStart, 'snapshot data checksum mismatch');
      }
      yield b;
    }
    if (info.dataLen === 0 && info.dataCrc !== 0) {
      throw corrupt(baseName(path), info.dataStart, 'snapshot data checksum mismatch');
    }
  } finally {
    await f.close();
  }
}

/** One streaming pass over the whole file: resolves with its header once every checksum matched. */
export async function verifySnapshotFile(
  disk: Disk,
  path: string,
  chunkBytes: number,
  expect?: SnapshotMeta,
): Promise<SnapFileInfo> {
  for await (const _ of snapshotFileChunks(disk, path, chunkBytes, expect)) {
    // Reading is the check.
  }
  return readSnapshotFileInfo(disk, path, expect);
}
