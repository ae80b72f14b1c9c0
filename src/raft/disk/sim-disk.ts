import { type Disk, type DiskFile, dirOf, diskError, type RandFn } from './disk.ts';

/**
 * In-memory disk with the crash model of raft.md §4: a crash keeps the synced
 * bytes of every file plus an arbitrary subset of its unsynced 512-byte
 * sectors (not only a prefix), and any directory change (create, rename,
 * unlink) not yet covered by syncDir may be reverted. Deterministic: the only
 * randomness is the RandFn passed to crash().
 *
 * Renames must stay within one directory (all the WAL needs).
 */

export const SECTOR = 512;

export type SimDiskOp = 'write' | 'fsync' | 'syncDir' | 'truncate' | 'rename' | 'unlink' | 'open';

/** Returns an errno name to make `op` fail before it has any effect, or undefined. */
export type SimFaultFn = (op: SimDiskOp, path: string) => string | undefined;

/** Returns a promise that resolves when the operation may complete. */
export type SimGateFn = (op: SimDiskOp, path: string) => Promise<void>;

export interface CrashOptions {
  /** Cut the last unsynced write at a random byte and fill to its sector end with zeros or garbage. */
  tear?: 'zeros' | 'garbage';
}

/** Growable byte buffer; bytes past `len` are always zero. */
class Buf {
  bytes = new Uint8Array(0);
  len = 0;

  ensure(n: number): void {
    if (n <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(n, this.bytes.length * 2, 4096));
    next.set(this.bytes.subarray(0, this.len));
    this.bytes = next;
  }

  write(off: number, data: Uint8Array): void {
    this.ensure(off + data.length);
    this.bytes.set(data, off);
    this.len = Math.max(this.len, off + data.length);
  }

  setLength(n: number): void {
    if (n < this.len) this.bytes.fill(0, n, this.len);
    else this.ensure(n);
    this.len = n;
  }

  slice(a: number, b: number): Uint8Array {
    return this.bytes.slice(a, Math.min(b, this.len));
  }
}

class Inode {
  cur = new Buf();
  durable = new Buf();
  /** Sectors written since the last sync. */
  dirty = new Set<number>();
  /** Smallest length the file had since the last sync (an unsynced truncate may or may not survive). */
  minLenSinceSync = Number.POSITIVE_INFINITY;
}

type DirOp =
  | { kind: 'link'; path: string; inode: Inode }
  | { kind: 'unlink'; path: string }
  | { kind: 'rename'; from: string; to: string; inode: Inode };

export class SimDisk implements Disk {
  private names = new Map<string, Inode>();
  private durableNames = new Map<string, Inode>();
  private pendingDirOps = new Map<string, DirOp[]>();
  private lastWrite: { inode: Inode; offset: number; length: number } | undefined;
  private generation = 0;
  /** Fault injection; see SimFaultFn. */
  fault: SimFaultFn | undefined;
  /**
   * Lets the simulator decide when a write, fsync or directory change completes
   * (e.g. as a queue event): the operation takes effect only once the returned
   * promise resolves, so a crash before then loses it.
   */
  gate: SimGateFn | undefined;

  /** Awaits the gate, if any; a crash while waiting makes the operation fail. */
  async pass(op: SimDiskOp, path: string, generation = this.generation): Promise<void> {
    if (this.gate === undefined) return;
    await this.gate(op, path);
    if (generation !== this.generation) throw diskError('EBADF', `${op} interrupted by a crash`, path);
  }
  readonly stats = { fsyncs: 0, dirSyncs: 0, writes: 0, bytesWritten: 0 };

  private check(op: SimDiskOp, path: string): void {
    const code = this.fault?.(op, path);
    if (code !== undefined) throw diskError(code, op, path);
  }

  private recordDirOp(op: DirOp): void {
    const dir = dirOf(op.kind === 'rename' ? op.to : op.path);
    let ops = this.pendingDirOps.get(dir);
    if (ops === undefined) {
      ops = [];
      this.pendingDirOps.set(dir, ops);
    }
    ops.push(op);
  }

  async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    this.check('open', path);
    let inode = this.names.get(path);
    if (inode === undefined) {
      if (mode === 'existing') throw diskError('ENOENT', 'open', path);
      inode = new Inode();
      this.names.set(path, inode);
      this.recordDirOp({ kind: 'link', path, inode });
    }
    return new SimFile(this, path, inode, this.generation);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const inode = this.names.get(path);
    if (inode === undefined) throw diskError('ENOENT', 'readFile', path);
    return inode.cur.slice(0, inode.cur.len);
  }

  async list(dir: string): Promise<string[]> {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    const out: string[] = [];
    for (const p of this.names.keys()) {
      if (p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out.push(p.slice(prefix.length));
    }
    return out.sort();
  }

  async rename(from: string, to: string): Promise<void> {
    await this.pass('rename', from);
    this.check('rename', from);
    if (dirOf(from) !== dirOf(to)) throw diskError('EXDEV', 'rename', `${from} -> ${to}`);
    const inode = this.names.get(from);
    if (inode === undefined) throw diskError('ENOENT', 'rename', from);
    this.names.delete(from);
    this.names.set(to, inode);
    this.recordDirOp({ kind: 'rename', from, to, inode });
  }

  async unlink(path: string): Promise<void> {
    await this.pass('unlink', path);
    this.check('unlink', path);
    if (!this.names.delete(path)) throw diskError('ENOENT', 'unlink', path);
    this.recordDirOp({ kind: 'unlink', path });
  }

  async syncDir(dir: string): Promise<void> {
    await this.pass('syncDir', dir);
    this.check('syncDir', dir);
    this.stats.dirSyncs++;
    for (const p of [...this.durableNames.keys()]) if (dirOf(p) === dir) this.durableNames.delete(p);
    for (const [p, inode] of this.names) if (dirOf(p) === dir) this.durableNames.set(p, inode);
    this.pendingDirOps.delete(dir);
  }

  async mkdirp(_dir: string): Promise<void> {
    // Directories are implicit: a path prefix.
  }

  /** Whether the handle's generation is current; a crash invalidates every open handle. */
  isLive(generation: number): boolean {
    return generation === this.generation;
  }

  noteWrite(inode: Inode, offset: number, length: number): void {
    this.stats.writes++;
    this.stats.bytesWritten += length;
    this.lastWrite = { inode, offset, length };
  }

  noteSync(inode: Inode): void {
    this.stats.fsyncs++;
    if (this.lastWrite?.inode === inode) this.lastWrite = undefined;
  }

  /** The bytes every file would hold after a crash that lost nothing unsynced. */
  durableImage(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [p, inode] of this.durableNames) out.set(p, inode.durable.slice(0, inode.durable.len));
    return out;
  }

  /** Simulates power loss / kill -9 of the whole machine; open handles become unusable. */
  crash(rand: RandFn, opts: CrashOptions = {}): void {
    this.generation++;
    const names = new Map(this.durableNames);
    for (const ops of this.pendingDirOps.values()) {
      for (const op of ops) if (rand() < 0.5) applyDirOp(names, op);
    }
    const torn = opts.tear === undefined ? undefined : this.lastWrite;
    const inodes = new Set([...this.names.values(), ...this.durableNames.values()]);
    for (const inode of inodes) crashInode(inode, rand, torn?.inode === inode ? torn : undefined, opts.tear);
    this.names = names;
    this.durableNames = new Map(names);
    this.pendingDirOps.clear();
    this.lastWrite = undefined;
  }

  /** Flips one bit of a file at rest (content and durable image alike). */
  flipBit(path: string, offset: number, bit = 0): void {
    const inode = this.names.get(path);
    if (inode === undefined || offset >= inode.cur.len) throw diskError('ENOENT', 'flipBit', path);
    inode.cur.bytes[offset]! ^= 1 << bit;
    if (offset < inode.durable.len) inode.durable.bytes[offset]! ^= 1 << bit;
  }
}

function applyDirOp(names: Map<string, Inode>, op: DirOp): void {
  if (op.kind === 'link') names.set(op.path, op.inode);
  else if (op.kind === 'unlink') names.delete(op.path);
  else if (names.get(op.from) === op.inode) {
    names.delete(op.from);
    names.set(op.to, op.inode);
  }
}

function crashInode(
  inode: Inode,
  rand: RandFn,
  torn: { offset: number; length: number } | undefined,
  tear: CrashOptions['tear'],
): void {
  const out = new Buf();
  let len = inode.durable.len;
  if (inode.minLenSinceSync < len && rand() < 0.5) len = inode.minLenSinceSync;
  out.write(0, inode.durable.slice(0, len));
  const tornSectors = new Set<number>();
  if (torn !== undefined) {
    for (let s = Math.floor(torn.offset / SECTOR); s * SECTOR < torn.offset + torn.length; s++)
      tornSectors.add(s);
  }
  for (const s of [...inode.dirty].sort((a, b) => a - b)) {
    if (tornSectors.has(s) || rand() >= 0.5) continue;
    const start = s * SECTOR;
    if (start >= inode.cur.len) continue;
    out.write(start, inode.cur.slice(start, start + SECTOR));
  }
  if (torn !== undefined) {
    // Keep the write up to a random cut, then zeros or garbage to the end of that sector.
    const cut = torn.offset + Math.floor(rand() * torn.length);
    const end = Math.min(Math.ceil((cut + 1) / SECTOR) * SECTOR, torn.offset + torn.length + SECTOR);
    out.write(torn.offset, inode.cur.slice(torn.offset, cut));
    const fill = new Uint8Array(end - cut);
    if (tear === 'garbage') for (let i = 0; i < fill.length; i++) fill[i] = Math.floor(rand() * 256);
    out.write(cut, fill);
    // Anything the torn write had put past the cut sector is gone.
    if (out.len > end && end >= inode.durable.len) out.setLength(end);
  }
  inode.cur = out;
  const durable = new Buf();
  durable.write(0, out.slice(0, out.len));
  inode.durable = durable;
  inode.dirty.clear();
  inode.minLenSinceSync = Number.POSITIVE_INFINITY;
}

class SimFile implements DiskFile {
  constructor(
    private readonly disk: SimDisk,
    readonly path: string,
    private readonly inode: Inode,
    private readonly generation: number,
  ) {}

  private live(op: string): void {
    if (!this.disk.isLive(this.generation)) throw diskError('EBADF', `${op} after crash`, this.path);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    await this.disk.pass('write', this.path, this.generation);
    this.live('write');
    this.throwIfFault('write');
    const inode = this.inode;
    if (offset > inode.cur.len) {
      for (let s = Math.floor(inode.cur.len / SECTOR); s * SECTOR < offset; s++) inode.dirty.add(s);
    }
    inode.cur.write(offset, data);
    for (let s = Math.floor(offset / SECTOR); s * SECTOR < offset + data.length; s++) inode.dirty.add(s);
    this.disk.noteWrite(inode, offset, data.length);
  }

  private throwIfFault(op: SimDiskOp): void {
    const code = this.disk.fault?.(op, this.path);
    if (code !== undefined) throw diskError(code, op, this.path);
  }

  async append(data: Uint8Array): Promise<void> {
    await this.write(this.inode.cur.len, data);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.live('read');
    return this.inode.cur.slice(offset, offset + length);
  }

  async size(): Promise<number> {
    this.live('size');
    return this.inode.cur.len;
  }

  async truncate(length: number): Promise<void> {
    await this.disk.pass('truncate', this.path, this.generation);
    this.live('truncate');
    this.throwIfFault('truncate');
    const inode = this.inode;
    inode.minLenSinceSync = Math.min(inode.minLenSinceSync, length, inode.cur.len);
    if (length > inode.cur.len) {
      for (let s = Math.floor(inode.cur.len / SECTOR); s * SECTOR < length; s++) inode.dirty.add(s);
    }
    inode.cur.setLength(length);
  }

  async sync(): Promise<void> {
    await this.disk.pass('fsync', this.path, this.generation);
    this.live('fsync');
    this.throwIfFault('fsync');
    const inode = this.inode;
    for (const s of inode.dirty) {
      const start = s * SECTOR;
      if (start < inode.cur.len) inode.durable.write(start, inode.cur.slice(start, start + SECTOR));
    }
    inode.durable.setLength(inode.cur.len);
    inode.dirty.clear();
    inode.minLenSinceSync = Number.POSITIVE_INFINITY;
    this.disk.noteSync(inode);
  }

  async close(): Promise<void> {
    // Closing never syncs (as on a real file system).
  }
}
