// A deliberately broken disk for the `lying-fsync` self-test: every file fsync reports success
// without making anything durable, as a drive with a volatile write cache that ignores flushes
// would. A crash then loses acknowledged batches, which I9 (and I20 on restart) must catch.

import type { Disk, DiskFile } from '../../src/raft/disk/disk.ts';

class LyingFile implements DiskFile {
  constructor(private readonly inner: DiskFile) {}

  get path(): string {
    return this.inner.path;
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.inner.write(offset, data);
  }

  append(data: Uint8Array): Promise<void> {
    return this.inner.append(data);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.inner.read(offset, length);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  truncate(length: number): Promise<void> {
    return this.inner.truncate(length);
  }

  async sync(): Promise<void> {
    // The lie.
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export class LyingDisk implements Disk {
  constructor(private readonly inner: Disk) {}

  async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    return new LyingFile(await this.inner.open(path, mode));
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
}
