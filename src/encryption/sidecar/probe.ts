import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { fsErrorCode, nodeSidecarFs, type SidecarFs } from './fs.ts';

export interface ProbeOptions {
  fs?: SidecarFs;
  /** Suffix of the probe file name; random by default so concurrent probes never clash. */
  randomSuffix?: () => string;
}

/**
 * Start-up filesystem probe (encryption.md §4.3): exercises exactly the steps
 * the sidecar write relies on, in the sidecar's own directory, so a filesystem
 * that cannot make a rename durable is refused before any key is written.
 */
export function probeSidecarFilesystem(sidecarPath: string, opts: ProbeOptions = {}): void {
  const fs = opts.fs ?? nodeSidecarFs;
  const dir = dirname(sidecarPath);
  const suffix = (opts.randomSuffix ?? (() => randomBytes(8).toString('hex')))();
  const tmp = join(dir, `.encryption-probe-${suffix}.tmp`);
  const final = join(dir, `.encryption-probe-${suffix}.final`);
  let fd: number | undefined;
  try {
    try {
      fd = fs.createExclusive(tmp, 0o600);
      fs.write(fd, new Uint8Array([0x70, 0x72, 0x6f, 0x62, 0x65]));
    } catch (e) {
      throw sealError(
        Err.SidecarPathInvalid,
        `sidecar directory ${dir} is missing or not writable (${fsErrorCode(e) ?? String(e)})`,
        { dir, errno: fsErrorCode(e) },
        e,
      );
    }
    step('fsync of the probe file', () => fs.fsync(fd!));
    const closing = fd;
    fd = undefined;
    fs.close(closing);
    fs.rename(tmp, final);
    step('fsync of the sidecar directory', () => fs.fsyncDir(dir));
    fs.removeIfExists(final);
  } finally {
    try {
      if (fd !== undefined) fs.close(fd);
      fs.removeIfExists(tmp);
      fs.removeIfExists(final);
    } catch {
      // The probe's own failure is the one to report; leftovers are harmless dot-files.
    }
  }
}

function step(what: string, run: () => void): void {
  try {
    run();
  } catch (e) {
    throw sealError(
      Err.UnsupportedFilesystem,
      `${what} failed (${fsErrorCode(e) ?? String(e)}); put the sidecar on a filesystem with working fsync`,
      { step: what, errno: fsErrorCode(e) },
      e,
    );
  }
}
