import { dirname } from 'node:path';
import { Err } from '../../util/codes.ts';
import { isSealError, sealError } from '../../util/errors.ts';
import { fsErrorCode, nodeSidecarFs, type SidecarFs } from './fs.ts';
import { parseSidecar, type Sidecar, serializeSidecar } from './schema.ts';

/**
 * Named points between the steps of the crash-durable write (§4.2). A hook
 * that throws at one of them simulates a crash right there.
 */
export type SidecarFaultPoint =
  | 'sidecar.tmpCreated'
  | 'sidecar.tmpWritten'
  | 'sidecar.beforeRename'
  | 'sidecar.afterRename'
  | 'sidecar.beforeDirSync'
  | 'sidecar.afterDirSync';

export interface SidecarIo {
  fs?: SidecarFs;
  faults?: (point: SidecarFaultPoint) => void;
}

export const SIDECAR_FILE_MODE = 0o600;

export function tmpPathFor(path: string): string {
  return `${path}.tmp`;
}

/** Reads and validates the sidecar; undefined iff the file does not exist. */
export function readSidecarFile(path: string, io: SidecarIo = {}): Sidecar | undefined {
  const bytes = (io.fs ?? nodeSidecarFs).readFile(path);
  return bytes === undefined ? undefined : parseSidecar(bytes);
}

function unsupported(step: string, e: unknown): Error {
  if (isSealError(e)) return e;
  return sealError(
    Err.UnsupportedFilesystem,
    `${step} failed (${fsErrorCode(e) ?? String(e)}); the sidecar needs a filesystem with working fsync`,
    { step, errno: fsErrorCode(e) },
    e,
  );
}

/**
 * Crash-durable replacement of the sidecar (encryption.md §4.2). The content
 * is validated and fully built before the first byte hits the disk; after a
 * crash at any step the sidecar path holds either the old or the new file,
 * never a torn one. The caller's apply may succeed only once this returns.
 */
export function writeSidecarFile(path: string, sidecar: Sidecar, io: SidecarIo = {}): void {
  const fs = io.fs ?? nodeSidecarFs;
  const fault = io.faults ?? (() => {});
  const bytes = new TextEncoder().encode(serializeSidecar(sidecar));
  const tmp = tmpPathFor(path);
  let fd: number | undefined;
  try {
    // A stale tmp from an earlier crash may carry a wider mode; never reuse it.
    fs.removeIfExists(tmp);
    fd = fs.createExclusive(tmp, SIDECAR_FILE_MODE);
    fault('sidecar.tmpCreated');
    fs.write(fd, bytes);
    fault('sidecar.tmpWritten');
    try {
      fs.fsync(fd);
    } catch (e) {
      throw unsupported('fsync of the sidecar tmp file', e);
    }
    const closing = fd;
    fd = undefined;
    fs.close(closing);
    fault('sidecar.beforeRename');
    fs.rename(tmp, path);
    fault('sidecar.afterRename');
    fault('sidecar.beforeDirSync');
    try {
      fs.fsyncDir(dirname(path));
    } catch (e) {
      throw unsupported('fsync of the sidecar directory', e);
    }
    fault('sidecar.afterDirSync');
  } catch (e) {
    cleanup(fs, fd, tmp);
    throw e;
  }
}

function cleanup(fs: SidecarFs, fd: number | undefined, tmp: string): void {
  try {
    if (fd !== undefined) fs.close(fd);
  } catch {
    // Best effort: the original failure is the one worth reporting.
  }
  try {
    fs.removeIfExists(tmp);
  } catch {
    // Same: a leftover tmp is removed by the next write.
  }
}
