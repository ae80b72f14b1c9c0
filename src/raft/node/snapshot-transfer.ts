/**
 * Snapshots between peers. They travel as chunked streams on their own connection (P47),
 * so heartbeats never queue behind an image; one outgoing stream per peer at a time, and
 * the core learns each outcome so it retries or resumes appends.
 */
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { decodeMessage, encodeMessage } from '../codec.ts';
import type { RaftCore } from '../core/core.ts';
import type { Message } from '../core/messages.ts';
import type { NodeId, Snapshot } from '../core/types.ts';
import { joinPath } from '../disk/disk.ts';
import { decodeSnapshotFile, snapFileName } from '../wal/snapfile.ts';
import { guarded, type NodeHost } from './host.ts';
import type { ResolvedOptions } from './options.ts';
import { chunksOf, collect, metaOnly } from './snapshot-io.ts';
import type { TrackingDisk } from './tracking-disk.ts';
import type { NodeTransport } from './types.ts';

export class SnapshotTransfer {
  private readonly sending = new Set<NodeId>();

  constructor(
    private readonly host: NodeHost,
    private readonly core: RaftCore,
    private readonly transport: NodeTransport,
    private readonly disk: TrackingDisk,
    private readonly dir: string,
    private readonly r: ResolvedOptions,
  ) {}

  send(m: Message): void {
    const snap = m.snapshot;
    if (snap === undefined || this.sending.has(m.to)) return;
    this.sending.add(m.to);
    const to = m.to;
    const meta = encodeMessage({ ...m, snapshot: metaOnly(snap) });
    this.readData(snap)
      .then((data) => {
        this.host.log('info', 'sending snapshot', { to, index: snap.meta.index, bytes: data.length });
        return this.transport.sendSnapshot(to, meta, chunksOf(data, this.r.snapshotChunkBytes));
      })
      .then(
        () => this.sent(to, true),
        (e: unknown) => {
          this.host.log('warn', 'snapshot transfer failed', { to, error: String(e) });
          this.sent(to, false);
        },
      );
  }

  /** Collects a leader's stream (bounded by maxSnapshotBytes) and steps it into the core. */
  async receive(from: string, meta: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (!this.host.running()) throw this.host.stoppedError();
    const m = decodeMessage(meta);
    if (m.type !== 'Snap' || m.snapshot === undefined || m.from !== from || m.to !== this.host.id) {
      throw sealError(Err.RaftMessageMalformed, 'snapshot stream does not start with a snapshot message', {
        from,
      });
    }
    const data = await collect(chunks, this.r.maxSnapshotBytes);
    if (!this.host.running()) throw this.host.stoppedError();
    this.host.log('info', 'received snapshot', { from, index: m.snapshot.meta.index, bytes: data.length });
    const msg: Message = { ...m, snapshot: { meta: m.snapshot.meta, data } };
    guarded(this.host, () => this.core.step(msg));
    this.host.wake();
  }

  /** The log store holds snapshot metadata only; the image is read from its durable file. */
  private async readData(snap: Snapshot): Promise<Uint8Array> {
    if (snap.data.length > 0 || snap.meta.index === 0) return snap.data;
    const path = joinPath(this.dir, snapFileName(snap.meta.index, snap.meta.term));
    // A newer snapshot may have purged this file: the transfer fails and the core retries.
    return decodeSnapshotFile(await this.disk.readFile(path)).data;
  }

  private sent(to: NodeId, ok: boolean): void {
    this.sending.delete(to);
    if (!this.host.running()) return;
    guarded(this.host, () => this.core.reportSnapshot(to, ok));
    this.host.wake();
  }
}
