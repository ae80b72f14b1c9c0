import type { Disk, DiskFile } from '../disk/disk.ts';

/**
 * Remembers the files opened through it so a simulated crash can release their
 * descriptors without a sync, as the kernel does when a process dies.
 */
export class TrackingDisk implements Disk {
  private readonly files = new Set<DiskFile>();

  constructor(private readonly inner: Disk) {}

  async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    const f = await this.inner.open(path, mode);
    const files = this.files;
    files.add(f);
    return {
      path: f.path,
      write: (o, d) => f.write(o, d),
      append: (d) => f.append(d),
      read: (o, n) => f.read(o, n),
      size: () => f.size(),
      truncate: (n) => f.truncate(n),
      sync: () => f.sync(),
      close: () => {
        files.delete(f);
        return f.close();
      },
    };
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.inner.readFile(path);
  }

  list(dir: string): Promise<string[]> {
    return this.inner.list(dir);
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }

  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }

  mkdirp(dir: string): Promise<void> {
    return this.inner.mkdirp(dir);
  }

  /** Closes every open file, unsynced data left as it is. */
  async releaseAll(): Promise<void> {
    const all = [...this.files];
    this.files.clear();
    await Promise.allSettled(all.map((f) => f.close()));
  }
}
