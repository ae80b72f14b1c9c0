import { Err } from '../../util/codes.ts';
import { type SealError, sealError } from '../../util/errors.ts';
import type { Entry, HardState, Snapshot, SnapshotMeta } from '../core/types.ts';
import { type Disk, joinPath } from '../disk/disk.ts';
import { decodeRecords, findValidFrame, readFrame, SEGMENT_VERSION, type WalRecord } from './codec.ts';
import {
  decodeSnapshotFile,
  hex16,
  parseSnapFileName,
  SnapFileError,
  sameSnapshotMeta,
  snapFileName,
  verifySnapshotFile,
} from './snapfile.ts';

/**
 * Startup recovery (raft.md I20, P21, P46). Only the last batch of the last
 * segment may be unsynced, so damage there is a torn write: dropped,
 * reported, truncated away. Damage anywhere else, in a closed segment or in
 * the snapshot file is corruption: refuse to start, naming file and offset.
 *
 * The writer keeps zeros ahead of its last batch (see the Wal class comment),
 * so in the last segment an all-zero remainder after the last whole batch is a
 * clean end: left in place as padding, not reported. An unsynced last batch
 * of which only zero bytes survived looks the same; it was never acked, so
 * dropping it unreported loses nothing. A closed segment ends exactly at its
 * end marker, except the last one when a rotation died before its fsync: its
 * zero tail is cut off here, quietly.
 */

export interface SegmentInfo {
  name: string;
  seq: number;
  firstIndex: number;
  /** Seeds the header checksum of every batch after the first. */
  salt: number;
  size: number;
  closed: boolean;
}

export interface RepairReport {
  file: string;
  offset: number;
  droppedBytes: number;
  reason: string;
}

export interface Recovery {
  segments: SegmentInfo[];
  hardState: HardState | undefined;
  entries: Entry[];
  snapshot: Snapshot | undefined;
  repaired: RepairReport | undefined;
}

export function segmentName(seq: number, firstIndex: number): string {
  return `wal-${hex16(seq)}-${hex16(firstIndex)}.log`;
}

function parseSegmentName(name: string): { seq: number; firstIndex: number } | undefined {
  const m = /^wal-([0-9a-f]{16})-([0-9a-f]{16})\.log$/.exec(name);
  if (m === null) return undefined;
  return { seq: Number.parseInt(m[1]!, 16), firstIndex: Number.parseInt(m[2]!, 16) };
}

export function walCorrupt(file: string, offset: number, reason: string): SealError {
  return sealError(
    Err.WalCorrupt,
    `${file} at offset ${offset}: ${reason}. Synced Raft state is damaged, so the node refuses to start; ` +
      'wipe its data and re-add it as a learner',
    { file, offset, reason },
  );
}

interface Batch {
  offset: number;
  records: WalRecord[];
}

interface ParsedSegment {
  info: SegmentInfo;
  batches: Batch[];
  fileSize: number;
  /** Set when the last segment ends in a torn batch. */
  torn?: { offset: number; reason: string };
}

/** Entries replayed in order; a later entry at an index ≤ last supersedes the tail. */
class ReplayLog {
  first = 0;
  ents: Entry[] = [];

  append(e: Entry): void {
    const last = this.first + this.ents.length - 1;
    if (this.ents.length > 0 && e.index >= this.first && e.index <= last + 1) {
      this.ents.length = e.index - this.first;
      this.ents.push(e);
      return;
    }
    // Empty, below the first, or a gap: a gap is legal only if a later snapshot covers it (checked at the end).
    this.first = e.index;
    this.ents = [e];
  }

  compact(index: number): void {
    if (this.ents.length === 0 || index < this.first) return;
    this.ents = this.ents.slice(Math.min(index - this.first + 1, this.ents.length));
    this.first = index + 1;
  }

  reset(): void {
    this.ents = [];
  }
}

export async function recover(
  disk: Disk,
  dir: string,
  snapshotData: 'load' | 'verify' = 'load',
): Promise<Recovery> {
  const names = await disk.list(dir);
  const segs: SegmentInfo[] = [];
  for (const name of names) {
    const p = parseSegmentName(name);
    if (p !== undefined)
      segs.push({ name, seq: p.seq, firstIndex: p.firstIndex, salt: 0, size: 0, closed: false });
  }
  segs.sort((a, b) => a.seq - b.seq);
  for (let k = 1; k < segs.length; k++) {
    if (segs[k]!.seq !== segs[0]!.seq + k) {
      throw walCorrupt(segs[k]!.name, 0, `segment sequence gap: expected ${segs[0]!.seq + k}`);
    }
  }

  const parsed: ParsedSegment[] = [];
  for (let k = 0; k < segs.length; k++) {
    const isLast = k === segs.length - 1;
    const seg = await parseSegment(disk, dir, segs[k]!, isLast);
    if (isLast && seg.batches.length === 0) {
      // A crash during segment creation: nothing in it was ever acknowledged.
      parsed.push(seg);
      break;
    }
    checkStructure(seg, isLast);
    parsed.push(seg);
  }

  const log = new ReplayLog();
  let hardState: HardState | undefined;
  let snapMeta: SnapshotMeta | undefined;
  for (const seg of parsed) {
    for (const b of seg.batches) {
      for (const r of b.records) {
        if (r.type === 'hardState') hardState = r.hardState;
        else if (r.type === 'entry') log.append(r.entry);
        else if (r.type === 'snapshot') {
          snapMeta = r.meta;
          if (r.mode === 'install') log.reset();
          else log.compact(r.meta.index);
        }
      }
    }
  }

  const firstSeg = parsed[0]?.info.name ?? dir;
  const snapIndex = snapMeta?.index ?? 0;
  if (log.ents.length > 0 && log.first !== snapIndex + 1) {
    throw walCorrupt(firstSeg, 0, `log starts at ${log.first} but the snapshot ends at ${snapIndex}`);
  }
  const lastIndex = log.ents.length > 0 ? log.first + log.ents.length - 1 : snapIndex;
  if (hardState !== undefined && hardState.commit > lastIndex) {
    throw walCorrupt(
      parsed.at(-1)?.info.name ?? dir,
      0,
      `hard state commit ${hardState.commit} is beyond the recovered last index ${lastIndex}`,
    );
  }
  const snapshot = snapMeta === undefined ? undefined : await loadSnapshot(disk, dir, snapMeta, snapshotData);

  // Only now, with everything else verified, touch the disk.
  const repaired = await repairTail(disk, dir, parsed);
  await removeStaleSnapshots(disk, dir, names, snapMeta);
  return {
    segments: parsed.filter((s) => s.batches.length > 0).map((s) => s.info),
    hardState,
    entries: log.ents,
    snapshot,
    repaired,
  };
}

async function parseSegment(
  disk: Disk,
  dir: string,
  info: SegmentInfo,
  isLast: boolean,
): Promise<ParsedSegment> {
  const bytes = await disk.readFile(joinPath(dir, info.name));
  const batches: Batch[] = [];
  let off = 0;
  // The first batch is sealed with the sequence number, later ones with the header's salt.
  let seed = info.seq;
  while (off < bytes.length) {
    const fr = readFrame(bytes, off, seed);
    let reason: string | undefined;
    if (fr.ok) {
      try {
        const records = decodeRecords(fr.payload);
        batches.push({ offset: off, records });
        const head = records[0];
        if (off === 0 && head?.type === 'header') {
          seed = head.salt;
          info.salt = head.salt;
        }
        off = fr.next;
        continue;
      } catch (e) {
        reason = e instanceof Error ? e.message : String(e);
      }
    } else reason = fr.reason;
    if (isLast && allZero(bytes, off)) break;
    if (!isLast) throw walCorrupt(info.name, off, `${reason} in a segment that is not the last`);
    // Pages flush out of order, so a torn write can hold good bytes after bad ones; but a whole
    // valid batch after the damage proves the damaged one had been synced.
    // With the header batch itself damaged the salt is unknown; the payload checksum must do
    // (no client data can precede a synced header batch, so none can fool this scan).
    const later = findValidFrame(bytes, off + 1, batches.length === 0 ? undefined : seed);
    if (later >= 0) throw walCorrupt(info.name, off, `${reason}, followed by a valid batch at ${later}`);
    info.size = off;
    return { info, batches, fileSize: bytes.length, torn: { offset: off, reason } };
  }
  info.size = off;
  return { info, batches, fileSize: bytes.length };
}

function allZero(b: Uint8Array, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function checkStructure(seg: ParsedSegment, isLast: boolean): void {
  const { info, batches } = seg;
  if (batches.length === 0) throw walCorrupt(info.name, 0, 'empty segment that is not the last');
  const head = batches[0]!.records[0];
  if (
    head === undefined ||
    head.type !== 'header' ||
    head.version !== SEGMENT_VERSION ||
    head.seq !== info.seq ||
    head.firstIndex !== info.firstIndex
  ) {
    throw walCorrupt(info.name, 0, 'segment header missing or not matching the file name');
  }
  for (let bi = 0; bi < batches.length; bi++) {
    const b = batches[bi]!;
    for (let ri = 0; ri < b.records.length; ri++) {
      const r = b.records[ri]!;
      if (r.type === 'header' && (bi !== 0 || ri !== 0)) {
        throw walCorrupt(info.name, b.offset, 'segment header record in the middle of a segment');
      }
      if (r.type === 'end') {
        if (bi !== batches.length - 1 || b.records.length !== 1) {
          throw walCorrupt(info.name, b.offset, 'data after the segment end marker');
        }
        if (r.seq !== info.seq || r.contentLength !== b.offset) {
          throw walCorrupt(info.name, b.offset, 'segment end marker does not match the segment');
        }
        if (seg.torn !== undefined)
          throw walCorrupt(info.name, seg.torn.offset, 'bytes after the end marker');
        info.closed = true;
      }
    }
  }
  if (!isLast && !info.closed)
    throw walCorrupt(info.name, info.size, 'segment not closed but a later one exists');
}

/** Scratch size of the streaming check; the image is never held whole. */
const VERIFY_CHUNK_BYTES = 1024 * 1024;

async function loadSnapshot(
  disk: Disk,
  dir: string,
  meta: SnapshotMeta,
  mode: 'load' | 'verify',
): Promise<Snapshot> {
  const name = snapFileName(meta.index, meta.term);
  const path = joinPath(dir, name);
  if (mode === 'verify') {
    try {
      await disk.open(path, 'existing').then((f) => f.close());
    } catch {
      throw walCorrupt(name, 0, 'snapshot file named by the WAL is missing');
    }
    await verifySnapshotFile(disk, path, VERIFY_CHUNK_BYTES, meta);
    return { meta, data: new Uint8Array(0) };
  }
  let bytes: Uint8Array;
  try {
    bytes = await disk.readFile(path);
  } catch {
    throw walCorrupt(name, 0, 'snapshot file named by the WAL is missing');
  }
  let snap: Snapshot;
  try {
    snap = decodeSnapshotFile(bytes);
  } catch (e) {
    if (e instanceof SnapFileError) throw walCorrupt(name, e.offset, e.message);
    throw e;
  }
  if (!sameSnapshotMeta(snap.meta, meta))
    throw walCorrupt(name, 12, 'snapshot file meta differs from the WAL marker');
  return snap;
}

async function repairTail(
  disk: Disk,
  dir: string,
  parsed: ParsedSegment[],
): Promise<RepairReport | undefined> {
  const last = parsed.at(-1);
  if (last === undefined) return undefined;
  const path = joinPath(dir, last.info.name);
  if (last.batches.length === 0) {
    await disk.unlink(path);
    await disk.syncDir(dir);
    return {
      file: last.info.name,
      offset: 0,
      droppedBytes: last.fileSize,
      reason: last.torn?.reason ?? 'empty segment',
    };
  }
  if (last.torn !== undefined) {
    await truncateSynced(disk, path, last.torn.offset);
    return {
      file: last.info.name,
      offset: last.torn.offset,
      droppedBytes: last.fileSize - last.torn.offset,
      reason: last.torn.reason,
    };
  }
  // Padding after an end marker: finish the rotation that died before its fsync, so the
  // segment is byte-exact before a later one makes it a closed, non-last segment.
  if (last.info.closed && last.fileSize > last.info.size) await truncateSynced(disk, path, last.info.size);
  return undefined;
}

async function truncateSynced(disk: Disk, path: string, length: number): Promise<void> {
  const f = await disk.open(path, 'existing');
  try {
    await f.truncate(length);
    await f.sync();
  } finally {
    await f.close();
  }
}

/** Snapshot files without a durable WAL marker (or superseded ones) are never used again. */
async function removeStaleSnapshots(
  disk: Disk,
  dir: string,
  names: string[],
  current: SnapshotMeta | undefined,
): Promise<void> {
  const keep = current === undefined ? '' : snapFileName(current.index, current.term);
  let removed = false;
  for (const name of names) {
    const stale =
      (parseSnapFileName(name) !== undefined && name !== keep) || /^snap-.*\.snap\.tmp$/.test(name);
    if (!stale) continue;
    await disk.unlink(joinPath(dir, name));
    removed = true;
  }
  if (removed) await disk.syncDir(dir);
}
