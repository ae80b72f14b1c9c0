import { DelegatingDisk, wrapFile } from './delegating.ts';
import type { Disk, DiskFile } from './disk.ts';

/**
 * Reports how long each durability barrier took: fsync of a file, O_DSYNC batch
 * write (its flush is the fsync) and fsync of a directory. Everything else is
 * forwarded untouched, and a file that offers writeDurable() keeps offering it.
 */
export class TimedDisk extends DelegatingDisk {
  constructor(
    inner: Disk,
    private readonly observe: (seconds: number) => void,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    super(inner);
  }

  override async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    const inner = await this.inner.open(path, mode);
    const durable = inner.writeDurable;
    return wrapFile(inner, {
      sync: () => this.timed(() => inner.sync()),
      ...(durable === undefined
        ? {}
        : { writeDurable: (o: number, d: Uint8Array) => this.timed(() => durable.call(inner, o, d)) }),
    });
  }

  override syncDir(dir: string): Promise<void> {
    return this.timed(() => this.inner.syncDir(dir));
  }

  private async timed(fn: () => Promise<void>): Promise<void> {
    const start = this.nowMs();
    try {
      await fn();
    } finally {
      this.observe((this.nowMs() - start) / 1000);
    }
  }
}
