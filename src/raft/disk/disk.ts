/**
 * The file-system surface the WAL and snapshot files use, and nothing more.
 * Two implementations: NodeDisk (real files) and SimDisk (in memory, with a
 * crash model for the simulator). Keeping every durability-relevant call
 * behind this interface is what lets tests kill the process between a write
 * and its fsync.
 *
 * Errors are Node-style: an Error whose `code` is an errno name (EIO, ENOSPC,
 * ENOENT, EBADF…).
 */

export interface DiskFile {
  readonly path: string;
  /** Positional write; extends the file (zero-filling any gap). Not durable until sync(). */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Writes at the current end of the file. */
  append(data: Uint8Array): Promise<void>;
  read(offset: number, length: number): Promise<Uint8Array>;
  size(): Promise<number>;
  truncate(length: number): Promise<void>;
  /** fdatasync: makes the file's data (not its directory entry) durable. */
  sync(): Promise<void>;
  /**
   * Optional: a positional write that is durable when it resolves (like write()
   * then sync(), as one I/O call). Real files do it with O_DSYNC, which saves
   * a thread-pool round trip per WAL batch; disks that model or watch the
   * write/sync boundary leave it out and get write() + sync().
   */
  writeDurable?(offset: number, data: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface Disk {
  /** `create` makes the file if missing (never truncates); `existing` fails with ENOENT. */
  open(path: string, mode: 'create' | 'existing'): Promise<DiskFile>;
  readFile(path: string): Promise<Uint8Array>;
  /** Names (not paths) of the files directly inside `dir`, sorted. */
  list(dir: string): Promise<string[]>;
  /** Atomic replace within one directory; durable only after syncDir. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync of the directory: makes creates, renames and unlinks inside it durable. */
  syncDir(dir: string): Promise<void>;
  mkdirp(dir: string): Promise<void>;
}

/** A uniform [0, 1) generator, e.g. a seeded PRNG stream of the simulator. */
export type RandFn = () => number;

export interface DiskError extends Error {
  code: string;
}

export function diskError(code: string, op: string, path: string): DiskError {
  const e = new Error(`${code}: ${op} ${path}`) as DiskError;
  e.code = code;
  return e;
}

export function errnoOf(e: unknown): string | undefined {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

export function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
