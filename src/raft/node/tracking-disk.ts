import { DelegatingDisk, wrapFile } from '../disk/delegating.ts';
import type { DiskFile } from '../disk/disk.ts';

/**
 * Remembers the files opened through it so a simulated crash can release their
 * descriptors without a sync, as the kernel does when a process dies.
 */
export class TrackingDisk extends DelegatingDisk {
  private readonly files = new Set<DiskFile>();

  override async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    const f = await this.inner.open(path, mode);
    this.files.add(f);
    return wrapFile(f, {
      close: () => {
        this.files.delete(f);
        return f.close();
      },
    });
  }

  /** Closes every open file, unsynced data left as it is. */
  async releaseAll(): Promise<void> {
    const all = [...this.files];
    this.files.clear();
    await Promise.allSettled(all.map((f) => f.close()));
  }
}
