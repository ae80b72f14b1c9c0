import { constants, writeSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type { Disk, DiskFile } from './disk.ts';

export interface NodeDiskOptions {
  /**
   * writeDurable() blocks the calling thread in one O_DSYNC pwrite instead of handing it to
   * the libuv thread pool. The WAL's batch write is on the path of every commit, and on a
   * loaded machine the pool's two thread handoffs (there and back, each waiting for the
   * event loop to be scheduled) cost more than the write itself: on two vCPUs a 3-node
   * cluster did about 20% more replicated SETs per second with it. The price is an event
   * loop held for the length of one device flush per batch, so on a disk whose flushes take
   * many milliseconds leave it off. Default false.
   */
  inlineDurableWrites?: boolean;
}

/** The real file system through node:fs. sync() is fdatasync; syncDir() fsyncs the directory fd. */
export class NodeDisk implements Disk {
  constructor(private readonly o: NodeDiskOptions = {}) {}

  async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    // 'a+' would force every write to the end; 'r+' after an O_CREAT touch keeps positional writes.
    if (mode === 'create') await (await open(path, 'a')).close();
    return new NodeFile(path, await open(path, 'r+'), this.o.inlineDurableWrites === true);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }

  async list(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  }

  rename(from: string, to: string): Promise<void> {
    return rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return unlink(path);
  }

  async syncDir(dir: string): Promise<void> {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async mkdirp(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
  }
}

class NodeFile implements DiskFile {
  /** A second descriptor of the same file opened with O_DSYNC, for writeDurable(). */
  private dsync: Promise<FileHandle> | undefined;

  constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly inlineDurable: boolean,
  ) {}

  write(offset: number, data: Uint8Array): Promise<void> {
    return writeAll(this.fh, offset, data);
  }

  async writeDurable(offset: number, data: Uint8Array): Promise<void> {
    this.dsync ??= open(this.path, constants.O_RDWR | constants.O_DSYNC);
    const fh = await this.dsync;
    if (this.inlineDurable) writeAllSync(fh.fd, offset, data);
    else await writeAll(fh, offset, data);
  }

  async append(data: Uint8Array): Promise<void> {
    await this.write(await this.size(), data);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const { bytesRead } = await this.fh.read(out, 0, length, offset);
    return out.subarray(0, bytesRead);
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }

  sync(): Promise<void> {
    return this.fh.datasync();
  }

  async close(): Promise<void> {
    const dsync = this.dsync;
    this.dsync = undefined;
    if (dsync !== undefined) await (await dsync).close();
    await this.fh.close();
  }
}

function writeAllSync(fd: number, offset: number, data: Uint8Array): void {
  for (let done = 0; done < data.length; ) {
    done += writeSync(fd, data, done, data.length - done, offset + done);
  }
}

async function writeAll(fh: FileHandle, offset: number, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
    done += bytesWritten;
  }
}
