import type { Disk, DiskFile } from './disk.ts';

/**
 * A Disk that forwards every call to another one. Wrappers that change one
 * behaviour (track open files, record fsyncs, lie about them) extend it and
 * override only that, so the forwarding is written once.
 */
export class DelegatingDisk implements Disk {
  constructor(protected readonly inner: Disk) {}

  open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    return this.inner.open(path, mode);
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

/**
 * A file whose calls go to `inner` except those given in `overrides`. A
 * wrapper that overrides write or sync wants to see both, so the combined
 * writeDurable() is passed through only when it overrides neither.
 */
export function wrapFile(inner: DiskFile, overrides: Partial<Omit<DiskFile, 'path'>>): DiskFile {
  const durable = inner.writeDurable;
  const watchesWrites = overrides.write !== undefined || overrides.sync !== undefined;
  return {
    path: inner.path,
    write: (o, d) => inner.write(o, d),
    append: (d) => inner.append(d),
    read: (o, n) => inner.read(o, n),
    size: () => inner.size(),
    truncate: (n) => inner.truncate(n),
    sync: () => inner.sync(),
    close: () => inner.close(),
    ...(durable === undefined || watchesWrites ? {} : { writeDurable: (o, d) => durable.call(inner, o, d) }),
    ...overrides,
  };
}
