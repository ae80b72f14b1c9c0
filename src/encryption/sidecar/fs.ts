import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';

/**
 * The filesystem operations the sidecar write and the filesystem probe depend
 * on, one method per durability step, so tests can fail or observe each step.
 */
export interface SidecarFs {
  /** The file's bytes, or undefined iff it does not exist. */
  readFile(path: string): Uint8Array | undefined;
  /** Unlinks the file; a missing file is not an error. */
  removeIfExists(path: string): void;
  /** O_CREAT|O_EXCL|O_WRONLY with the given mode; returns a handle. */
  createExclusive(path: string, mode: number): number;
  write(fd: number, data: Uint8Array): void;
  fsync(fd: number): void;
  close(fd: number): void;
  rename(from: string, to: string): void;
  /** Makes the directory entry changes (create/rename/unlink) durable. */
  fsyncDir(dir: string): void;
}

function errno(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

export const nodeSidecarFs: SidecarFs = {
  readFile(path) {
    try {
      return readFileSync(path);
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    }
  },
  removeIfExists(path) {
    try {
      unlinkSync(path);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
  },
  createExclusive(path, mode) {
    const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, mode);
    try {
      // The umask may only narrow the mode; pin it exactly so the file is never wider or narrower.
      fchmodSync(fd, mode);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return fd;
  },
  write(fd, data) {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  },
  fsync(fd) {
    fsyncSync(fd);
  },
  close(fd) {
    closeSync(fd);
  },
  rename(from, to) {
    renameSync(from, to);
  },
  fsyncDir(dir) {
    const fd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
};

/** The errno code of a Node fs error, for error details and classification. */
export function fsErrorCode(e: unknown): string | undefined {
  return errno(e);
}
