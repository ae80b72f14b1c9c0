/** Instrumentation for the I12 check: what was durable on a node's disk when it sent each message. */
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeMessage } from '../../../src/raft/codec.ts';
import type { Message } from '../../../src/raft/core/messages.ts';
import { DelegatingDisk } from '../../../src/raft/disk/delegating.ts';
import type { DiskFile } from '../../../src/raft/disk/disk.ts';
import { diskError } from '../../../src/raft/disk/disk.ts';
import type { NodeTransport } from '../../../src/raft/node.ts';

/** Per file: how many leading bytes an fsync has completed over. Immutable; replaced on each sync. */
export type DurableImage = ReadonlyMap<string, number>;

/**
 * A disk that records, per file, the length covered by the last completed fsync, delays
 * every fsync a little (so an early send would be visible), and can fail fsyncs on demand.
 */
export class RecordingDisk extends DelegatingDisk {
  durable: DurableImage = new Map();
  fsyncs = 0;
  failSyncs = false;

  override async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    const f = await this.inner.open(path, mode);
    let written = await f.size();
    return {
      path: f.path,
      write: async (off, data) => {
        await f.write(off, data);
        written = Math.max(written, off + data.length);
      },
      append: async (data) => {
        await f.append(data);
        written = await f.size();
      },
      read: (o, n) => f.read(o, n),
      size: () => f.size(),
      truncate: async (n) => {
        await f.truncate(n);
        written = n;
      },
      sync: async () => {
        if (this.failSyncs) throw diskError('EIO', 'fsync', path);
        const covered = written;
        await sleep(1);
        await f.sync();
        this.fsyncs++;
        const next = new Map(this.durable);
        next.set(path, covered);
        this.durable = next;
      },
      close: () => f.close(),
    };
  }
}

export interface SendRecord {
  from: string;
  msg: Message;
  durable: DurableImage;
  /** fsyncs completed on the sender when it sent. */
  fsyncs: number;
}

/** Wraps a transport so each send is logged with the sender's durable image at that moment. */
export function recordingTransport(
  id: string,
  inner: NodeTransport,
  disk: () => RecordingDisk,
  log: SendRecord[],
): NodeTransport {
  return {
    send: (to, payload) => {
      const d = disk();
      log.push({ from: id, msg: decodeMessage(payload), durable: d.durable, fsyncs: d.fsyncs });
      return inner.send(to, payload);
    },
    onMessage: (h) => inner.onMessage(h),
    onUnreachable: (h) => inner.onUnreachable(h),
    sendSnapshot: (to, meta, chunks) => inner.sendSnapshot(to, meta, chunks),
    onSnapshot: (h) => inner.onSnapshot(h),
    close: () => inner.close(),
  };
}
