import { randomBytes } from 'node:crypto';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { type Entry, EntryType, type HardState, type Snapshot, type SnapshotMeta } from '../core/types.ts';
import { type Disk, type DiskFile, dirOf, errnoOf, joinPath } from '../disk/disk.ts';
import { BATCH_HEADER, encodeBatch, RecordWriter, type SnapshotMode } from './codec.ts';
import { DEFAULT_PAD_BYTES, withPadding } from './padding.ts';
import { type RepairReport, recover, type SegmentInfo, segmentName } from './recover.ts';
import { parseSnapFileName, readSnapshotFileInfo, snapFileName, writeSnapshotStream } from './snapfile.ts';

/**
 * The durable Raft log (raft.md D1, I20, P19–P25, P43, P46).
 *
 * - save() appends one group of records; with `sync` it resolves only after
 *   the fsync, so the caller may then send the Ready's messages.
 * - Group commit: saves arriving while a write+fsync is in flight are written
 *   together as the next batch. A batch is the unit of atomicity on replay,
 *   and since the next batch starts only after the previous fsync returned, at
 *   most the last batch of the last segment is ever unsynced.
 * - Saves with `sync: false` (only the commit index moved) are held in memory
 *   and written with the next synced batch: writing them alone would leave a
 *   second unsynced batch on disk.
 * - Any write or fsync error is fatal: the WAL refuses every later call and
 *   the process must exit and recover from disk. fsync is never retried (P43).
 * - Grow-ahead zero padding: an fdatasync after a write that grew the file
 *   must also commit the new size through the file system's journal; after a
 *   write into bytes the file already had, it only flushes data. (Measured on
 *   ext4: 0.35 ms vs 0.21 ms alone, 1.2 ms vs 0.6–0.8 ms with 6 writers on the
 *   disk.) So the open segment keeps a run of zeros ahead of its last batch:
 *   a batch that would end past it is written in the same write call followed
 *   by zeros up to the first `padBytes` boundary at least half a chunk further,
 *   and about one fsync per chunk pays for a size change. Still one write and
 *   one fsync per batch. Recovery reads zeros after the last whole batch of the
 *   last segment as a clean end; a closed segment ends exactly at its end
 *   marker, so rotation cuts the padding off before the marker's fsync.
 */

export type WalCrashPoint =
  | 'wal.beforeWrite'
  | 'wal.beforeSync'
  | 'wal.afterSync'
  | 'segment.rotate'
  | 'snap.afterFile'
  | 'snap.beforeMarker';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export interface WalOptions {
  dir: string;
  /** A segment is closed and a new one started once it reaches this size. */
  segmentBytes?: number;
  /**
   * Zeros kept ahead of the write offset in the open segment, so most fsyncs change no file size
   * (see the class comment). 0 disables padding. Default DEFAULT_PAD_BYTES.
   */
  padBytes?: number;
  /** Called at each named crash point; throwing there simulates kill -9 at that point. */
  hook?: (point: WalCrashPoint) => void;
  /** Source of each segment's random 32-bit salt; the simulator injects its PRNG. Default: node:crypto. */
  salt?: () => number;
  /**
   * `load` (default): the recovered snapshot carries its image. `verify`: the image is checked
   * in one streaming pass and left in its file (the recovered snapshot's data is empty; read it
   * with snapshotFileChunks), so startup memory does not grow with the image.
   */
  snapshotData?: 'load' | 'verify';
}

export interface SnapshotMarker {
  meta: SnapshotMeta;
  mode: SnapshotMode;
}

export interface SaveOptions {
  sync: boolean;
  /** A snapshot whose file writeSnapshotFile() has already made durable. */
  snapshot?: SnapshotMarker;
}

export interface RecoveredState {
  /** The zero hard state if none was ever saved. */
  hardState: HardState;
  /** The log after the snapshot, contiguous from snapshot.index + 1. */
  entries: Entry[];
  snapshot: Snapshot | undefined;
  /** Set when a torn last batch was dropped at startup. */
  repaired: RepairReport | undefined;
}

export interface WalStats {
  saves: number;
  syncSaves: number;
  batches: number;
  fsyncs: number;
  bytes: number;
  rotations: number;
  purgedSegments: number;
  /** Batch writes that grew the file (their fsync also commits a size change). */
  growingWrites: number;
  /** Zero bytes written ahead of batches. */
  paddedBytes: number;
}

/** The saves that will go out in one batch; records are appended straight into its frame. */
interface Group {
  writer: RecordWriter;
  hardState: HardState | undefined;
  snapshot: SnapshotMarker | undefined;
  lastIndexAfter: number;
  /** Created when the first synced save joins; every synced save of the group shares it. */
  done: Deferred | undefined;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const RESOLVED = Promise.resolve();

export class Wal {
  private file!: DiskFile;
  private seq = 0;
  private salt = 0;
  /** End of the last batch written to the open segment: where the next one goes. */
  private size = 0;
  /** Length of the open segment's file; every byte in [size, padEnd) is zero. */
  private padEnd = 0;
  private readonly padBytes: number;
  private segments: SegmentInfo[];
  private readonly segmentBytes: number;
  private readonly dir: string;
  private group: Group;
  private spareWriter: RecordWriter | undefined;
  private flushing = false;
  private failure: unknown;
  private closed = false;
  // What the written batches say, for the header of the next segment.
  private writtenHardState: HardState | undefined;
  private writtenSnapshot: SnapshotMeta | undefined;
  private writtenLastIndex: number;
  // What the accepted saves say, to validate the next one.
  private queuedLastIndex: number;
  private queuedSnapIndex: number;
  private queuedCommit: number;
  private readonly durableSnapFiles = new Set<string>();
  readonly stats: WalStats = {
    saves: 0,
    syncSaves: 0,
    batches: 0,
    fsyncs: 0,
    bytes: 0,
    rotations: 0,
    purgedSegments: 0,
    growingWrites: 0,
    paddedBytes: 0,
  };

  private constructor(
    private readonly disk: Disk,
    private readonly opts: WalOptions,
    segments: SegmentInfo[],
    hardState: HardState | undefined,
    snapshot: SnapshotMeta | undefined,
    lastIndex: number,
  ) {
    this.dir = opts.dir;
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.padBytes = opts.padBytes ?? DEFAULT_PAD_BYTES;
    this.segments = segments;
    this.writtenHardState = hardState;
    this.writtenSnapshot = snapshot;
    this.writtenLastIndex = lastIndex;
    this.queuedLastIndex = lastIndex;
    this.queuedSnapIndex = snapshot?.index ?? 0;
    this.queuedCommit = hardState?.commit ?? 0;
    if (snapshot !== undefined) this.durableSnapFiles.add(snapFileName(snapshot.index, snapshot.term));
    this.group = this.newGroup();
  }

  private newGroup(): Group {
    const writer = this.spareWriter ?? new RecordWriter(BATCH_HEADER, 64 * 1024);
    this.spareWriter = undefined;
    writer.reset();
    return {
      writer,
      hardState: undefined,
      snapshot: undefined,
      lastIndexAfter: this.queuedLastIndex,
      done: undefined,
    };
  }

  /** Recovers the directory (see recover.ts) and opens it for appending. */
  static async open(disk: Disk, opts: WalOptions): Promise<{ wal: Wal; state: RecoveredState }> {
    const pad = opts.padBytes ?? DEFAULT_PAD_BYTES;
    if (!Number.isSafeInteger(pad) || pad < 0) {
      throw sealError(Err.InvalidArgument, 'WAL padBytes must be a non-negative integer', { padBytes: pad });
    }
    await disk.mkdirp(opts.dir);
    const rec = await recover(disk, opts.dir, opts.snapshotData ?? 'load');
    const snapIndex = rec.snapshot?.meta.index ?? 0;
    const lastIndex = rec.entries.at(-1)?.index ?? snapIndex;
    const wal = new Wal(disk, opts, rec.segments, rec.hardState, rec.snapshot?.meta, lastIndex);
    const tail = rec.segments.at(-1);
    if (tail === undefined || tail.closed) {
      await wal.createSegment(tail === undefined ? 0 : tail.seq + 1, lastIndex + 1);
    } else {
      wal.seq = tail.seq;
      wal.salt = tail.salt;
      wal.size = tail.size;
      wal.file = await disk.open(joinPath(opts.dir, tail.name), 'existing');
      // Recovery left only zeros after the last whole batch: the writer's padding.
      wal.padEnd = await wal.file.size();
    }
    const state: RecoveredState = {
      hardState: rec.hardState ?? { term: 0, vote: '', commit: 0 },
      entries: rec.entries,
      snapshot: rec.snapshot,
      repaired: rec.repaired,
    };
    return { wal, state };
  }

  get lastIndex(): number {
    return this.queuedLastIndex;
  }

  /** Where the snapshot file of `meta` lives (durable once its marker is). */
  snapshotPath(meta: SnapshotMeta): string {
    return joinPath(this.dir, snapFileName(meta.index, meta.term));
  }

  /**
   * Appends hard state, entries and an optional snapshot marker as one unit.
   * Entries whose first index is ≤ the last index replace the log from there.
   * With `sync`, resolves once the batch holding them is fsynced.
   */
  save(hardState: HardState | undefined, entries: readonly Entry[], opts: SaveOptions): Promise<void> {
    try {
      return this.enqueue(hardState, entries, opts);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private enqueue(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    opts: SaveOptions,
  ): Promise<void> {
    this.ensureUsable();
    const lastIndexAfter = this.validate(hardState, entries, opts.snapshot);
    const g = this.group;
    const w = g.writer;
    if (opts.snapshot !== undefined) this.callHook('snap.beforeMarker');
    // A record that fails to encode must not leave half its bytes in the shared batch.
    const mark = w.mark();
    try {
      if (opts.snapshot !== undefined) w.snapshot(opts.snapshot.meta, opts.snapshot.mode);
      for (const e of entries) w.entry(e);
      if (hardState !== undefined) w.hardState(hardState);
    } catch (e) {
      w.rollback(mark);
      throw sealError(Err.InvalidArgument, 'WAL save refused: a record does not encode', {}, e);
    }
    if (opts.snapshot !== undefined) {
      g.snapshot = opts.snapshot;
      const m = opts.snapshot.meta;
      this.queuedSnapIndex =
        opts.snapshot.mode === 'install' ? m.index : Math.max(this.queuedSnapIndex, m.index);
    }
    if (hardState !== undefined) {
      g.hardState = hardState;
      this.queuedCommit = hardState.commit;
    }
    g.lastIndexAfter = lastIndexAfter;
    this.queuedLastIndex = lastIndexAfter;
    this.stats.saves++;
    if (!opts.sync) return RESOLVED;
    this.stats.syncSaves++;
    if (w.length === 0 && !this.flushing) return RESOLVED;
    g.done ??= deferred();
    if (!this.flushing) void this.flushLoop();
    return g.done.promise;
  }

  /** Makes everything saved so far durable. */
  sync(): Promise<void> {
    return this.save(undefined, [], { sync: true });
  }

  /**
   * Writes the snapshot file: tmp → fsync → rename → fsync dir. The snapshot
   * counts only once a marker naming it is in the WAL (save with `snapshot`).
   */
  async writeSnapshotFile(snap: Snapshot): Promise<void> {
    await this.writeSnapshot(snap.meta, once(snap.data), {}, false);
  }

  /**
   * writeSnapshotFile from a stream, with one bounded write buffer whatever the image's size;
   * resolves with the image's length. A failing source leaves the WAL usable (its temporary
   * file is dropped at the next purge or startup); a failing disk makes it unusable, as every
   * WAL I/O error does. Resolves with undefined, publishing nothing, if a newer snapshot's
   * marker was saved meanwhile: its purge may already have removed the temporary file.
   */
  writeSnapshotStream(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
    opts: { maxBytes?: number } = {},
  ): Promise<number | undefined> {
    return this.writeSnapshot(meta, chunks, opts, true);
  }

  private async writeSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
    opts: { maxBytes?: number },
    dropIfSuperseded: boolean,
  ): Promise<number | undefined> {
    this.ensureUsable();
    const name = snapFileName(meta.index, meta.term);
    const tmp = joinPath(this.dir, `${name}.tmp`);
    const io = <T>(op: string, path: string, fn: () => Promise<T>) => this.io(op, path, fn);
    const bytes = await writeSnapshotStream(this.disk, tmp, meta, chunks, { io, ...opts });
    // Checked right before the rename is issued: a marker queued later purges only the renamed file.
    if (dropIfSuperseded && meta.index < this.queuedSnapIndex) {
      await this.disk.unlink(tmp).catch(() => {});
      return undefined;
    }
    await this.publishSnapshotFile(tmp, meta);
    return bytes;
  }

  /**
   * Makes a complete, fsynced snapshot file written elsewhere in the WAL directory (a
   * snapshot received from the leader) the snapshot file of `meta`: its header must name
   * `meta`; then rename → fsync dir, the same steps and crash points as writeSnapshotFile.
   */
  async adoptSnapshotFile(path: string, meta: SnapshotMeta): Promise<void> {
    this.ensureUsable();
    if (dirOf(path) !== dirOf(joinPath(this.dir, 'x'))) {
      throw bad('a snapshot file to adopt must be in the WAL directory', { path });
    }
    try {
      await readSnapshotFileInfo(this.disk, path, meta);
    } catch (e) {
      this.fail(e);
      throw e;
    }
    await this.publishSnapshotFile(path, meta);
  }

  /** The tmp file is durable; it becomes the snapshot file once renamed and the directory synced. */
  private async publishSnapshotFile(tmp: string, meta: SnapshotMeta): Promise<void> {
    const name = snapFileName(meta.index, meta.term);
    this.callHook('snap.afterFile');
    const path = joinPath(this.dir, name);
    await this.io('rename', tmp, () => this.disk.rename(tmp, path));
    await this.io('fsync dir', this.dir, () => this.disk.syncDir(this.dir));
    this.durableSnapFiles.add(name);
  }

  /** writeSnapshotFile, then a synced marker (with an optional hard state); then old segments are purged. */
  async saveSnapshot(snap: Snapshot, mode: SnapshotMode, hardState?: HardState): Promise<void> {
    await this.writeSnapshotFile(snap);
    await this.save(hardState, [], { sync: true, snapshot: { meta: snap.meta, mode } });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.failure === undefined) await this.sync();
    this.closed = true;
    await this.file.close();
  }

  private ensureUsable(): void {
    if (this.failure !== undefined) {
      throw sealError(
        Err.WalFailed,
        'the WAL failed earlier and is unusable: exit and recover from disk',
        {},
        this.failure,
      );
    }
    if (this.closed) throw sealError(Err.WalFailed, 'the WAL is closed');
  }

  /** Returns the last index after this save; rejects saves that would break the log's shape. */
  private validate(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    snap: SnapshotMarker | undefined,
  ): number {
    let last = this.queuedLastIndex;
    let snapIndex = this.queuedSnapIndex;
    if (snap !== undefined) {
      if (!this.durableSnapFiles.has(snapFileName(snap.meta.index, snap.meta.term))) {
        throw bad('the snapshot file must be written with writeSnapshotFile before its marker', snap.meta);
      }
      if (snap.meta.index < snapIndex)
        throw bad('snapshot older than the current one', { ...snap.meta, snapIndex });
      if (snap.mode === 'install') {
        last = snap.meta.index;
        snapIndex = snap.meta.index;
      } else {
        last = Math.max(last, snap.meta.index);
        snapIndex = Math.max(snapIndex, snap.meta.index);
      }
    }
    if (entries.length > 0) {
      const first = entries[0]!.index;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (e.index !== first + i) throw bad('entries are not contiguous', { first, at: i });
        if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) {
          throw bad('unknown entry type', { index: e.index, type: e.type });
        }
      }
      if (first <= snapIndex) throw bad('entries overwrite the snapshot', { first, snapIndex });
      if (first > last + 1) throw bad('entries leave a gap after the last index', { first, last });
      last = entries.at(-1)!.index;
    }
    const commit = hardState?.commit ?? this.queuedCommit;
    if (commit > last) throw bad('the log would end before the commit index', { commit, last });
    return last;
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.group.done !== undefined && this.failure === undefined) {
        const g = this.group;
        const done = this.group.done;
        this.group = this.newGroup();
        try {
          if (g.writer.length > 0) await this.writeBatch(g);
        } catch (e) {
          this.fail(e);
          done.reject(e);
          return;
        }
        this.spareWriter = g.writer;
        done.resolve();
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(g: Group): Promise<void> {
    if (this.size >= this.segmentBytes) await this.rotate();
    const batch = g.writer.sealBatch(this.salt);
    const path = this.file.path;
    const at = this.size;
    const end = at + batch.length;
    const grows = end > this.padEnd;
    const out = grows ? withPadding(batch, end, this.padBytes, this.segmentBytes) : batch;
    const wrote = () => {
      this.size = end;
      this.padEnd = Math.max(this.padEnd, at + out.length);
      this.stats.batches++;
      this.stats.bytes += batch.length;
      if (grows) {
        this.stats.growingWrites++;
        this.stats.paddedBytes += out.length - batch.length;
      }
    };
    this.callHook('wal.beforeWrite');
    const durable = this.file.writeDurable;
    if (durable === undefined) {
      await this.io('write', path, () => this.file.write(at, out));
      wrote();
      this.callHook('wal.beforeSync');
      await this.io('fsync', path, () => this.file.sync());
    } else {
      // Durability step in one call (O_DSYNC): the batch is on disk when it returns.
      this.callHook('wal.beforeSync');
      await this.io('write+fsync', path, () => durable.call(this.file, at, out));
      wrote();
    }
    this.stats.fsyncs++;
    this.callHook('wal.afterSync');
    if (g.hardState !== undefined) this.writtenHardState = g.hardState;
    if (g.snapshot !== undefined) this.writtenSnapshot = g.snapshot.meta;
    this.writtenLastIndex = g.lastIndexAfter;
    if (g.snapshot !== undefined) await this.purge(g.snapshot);
  }

  /**
   * Seals the current segment with a synced end marker, then starts the next one. A closed
   * segment must end exactly at its marker, so the padding is cut off first and the marker's
   * fsync makes the new length durable with it. A crash before that fsync leaves the padding
   * (an open segment with a zero tail), or the marker followed by zeros: recovery trims those.
   */
  private async rotate(): Promise<void> {
    const w = new RecordWriter();
    w.segmentEnd(this.seq, this.size, this.writtenLastIndex);
    const end = encodeBatch([w.finish()], this.salt);
    const path = this.file.path;
    if (this.padEnd > this.size) {
      await this.io('truncate', path, () => this.file.truncate(this.size));
      this.padEnd = this.size;
    }
    await this.io('write', path, () => this.file.write(this.size, end));
    await this.io('fsync', path, () => this.file.sync());
    this.stats.fsyncs++;
    const tail = this.segments.at(-1)!;
    tail.size = this.size + end.length;
    tail.closed = true;
    this.callHook('segment.rotate');
    await this.io('close', path, () => this.file.close());
    await this.createSegment(this.seq + 1, this.writtenLastIndex + 1);
    this.stats.rotations++;
  }

  /** A segment starts with its header, the current snapshot marker and hard state, so older ones can go. */
  private async createSegment(seq: number, firstIndex: number): Promise<void> {
    const name = segmentName(seq, firstIndex);
    const path = joinPath(this.dir, name);
    const salt = (this.opts.salt ?? defaultSalt)() >>> 0;
    const w = new RecordWriter();
    w.segmentHeader(seq, firstIndex, salt);
    if (this.writtenSnapshot !== undefined) w.snapshot(this.writtenSnapshot, 'compact');
    if (this.writtenHardState !== undefined) w.hardState(this.writtenHardState);
    const head = encodeBatch([w.finish()], seq);
    // Padded from the start, so the segment's first batches overwrite zeros too.
    const out = withPadding(head, head.length, this.padBytes, this.segmentBytes);
    const file = await this.io('open', path, () => this.disk.open(path, 'create'));
    await this.io('truncate', path, () => file.truncate(0));
    await this.io('write', path, () => file.write(0, out));
    await this.io('fsync', path, () => file.sync());
    await this.io('fsync dir', this.dir, () => this.disk.syncDir(this.dir));
    this.stats.fsyncs++;
    this.file = file;
    this.seq = seq;
    this.salt = salt;
    this.size = head.length;
    this.padEnd = out.length;
    this.segments.push({ name, seq, firstIndex, salt, size: head.length, closed: false });
  }

  /**
   * Drops segments whose every needed record is covered by the snapshot and
   * the segments after it, oldest first with a dir fsync each, so a crash
   * midway only ever leaves a suffix of segments.
   */
  private async purge(snap: SnapshotMarker): Promise<void> {
    const i = snap.meta.index;
    let keepFrom = this.segments.length - 1;
    if (snap.mode === 'compact') {
      // Every entry > i lives in a segment created when lastIndex ≥ its index - 1.
      while (keepFrom > 0 && this.segments[keepFrom]!.firstIndex > i + 1) keepFrom--;
    }
    for (const seg of this.segments.slice(0, keepFrom)) {
      const path = joinPath(this.dir, seg.name);
      await this.io('unlink', path, () => this.disk.unlink(path));
      await this.io('fsync dir', this.dir, () => this.disk.syncDir(this.dir));
      this.stats.purgedSegments++;
    }
    this.segments = this.segments.slice(keepFrom);
    const names = await this.io('list', this.dir, () => this.disk.list(this.dir));
    let removed = false;
    for (const name of names) {
      const tmp = name.endsWith('.snap.tmp');
      const parsed = parseSnapFileName(tmp ? name.slice(0, -4) : name);
      // Newer files may belong to a snapshot being written right now.
      if (parsed === undefined || parsed.index >= i) continue;
      const path = joinPath(this.dir, name);
      // A superseded snapshot job may delete its own temporary file concurrently.
      await this.io('unlink', path, () => this.disk.unlink(path).catch(ignoreEnoent));
      this.durableSnapFiles.delete(name);
      removed = true;
    }
    if (removed) await this.io('fsync dir', this.dir, () => this.disk.syncDir(this.dir));
  }

  private callHook(point: WalCrashPoint): void {
    if (this.opts.hook === undefined) return;
    try {
      this.opts.hook(point);
    } catch (e) {
      this.fail(e);
      throw e;
    }
  }

  private async io<T>(op: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const err = sealError(
        Err.WalFailed,
        `${op} of ${path} failed (${errnoOf(e) ?? 'error'}); the WAL is unusable: exit and recover from disk`,
        { op, path, errno: errnoOf(e) },
        e,
      );
      this.fail(err);
      throw err;
    }
  }

  private fail(e: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = e;
    this.group.done?.reject(e);
    this.group.done = undefined;
  }
}

function ignoreEnoent(e: unknown): void {
  if (errnoOf(e) !== 'ENOENT') throw e;
}

async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

function defaultSalt(): number {
  return randomBytes(4).readUInt32BE(0);
}

function bad(message: string, details: object): Error {
  return sealError(Err.InvalidArgument, `WAL save refused: ${message}`, { ...details });
}
