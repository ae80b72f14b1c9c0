/**
 * Snapshots between peers. They travel as chunked streams on their own connection (P47),
 * so heartbeats never queue behind an image; one outgoing stream per peer at a time, and
 * the core learns each outcome so it retries or resumes appends.
 *
 * Neither side holds an image: the sender streams it from its durable file, checksum
 * verified as it goes; the receiver streams it into a staged file next to the WAL, fsyncs
 * it, and steps the snapshot into the core meta-only. The Ready that carries it then makes
 * the staged file the durable snapshot file (takeStaged) before writing its WAL marker.
 */
import { Err } from '../../util/codes.ts';
import { isSealError, sealError } from '../../util/errors.ts';
import { decodeMessage, encodeMessage } from '../codec.ts';
import type { RaftCore } from '../core/core.ts';
import type { Message } from '../core/messages.ts';
import type { NodeId, Snapshot, SnapshotMeta } from '../core/types.ts';
import { errnoOf, joinPath } from '../disk/disk.ts';
import { type SnapIo, sameSnapshotMeta, stagedSnapFileName, writeSnapshotStream } from '../wal/snapfile.ts';
import type { Wal } from '../wal/wal.ts';
import { guarded, type NodeHost } from './host.ts';
import type { ResolvedOptions } from './options.ts';
import { drain, imageChunks, metaOnly } from './snapshot-io.ts';
import type { TrackingDisk } from './tracking-disk.ts';
import type { NodeTransport } from './types.ts';

function keyOf(m: SnapshotMeta): string {
  return `${m.index}/${m.term}`;
}

export class SnapshotTransfer {
  private readonly sending = new Set<NodeId>();
  /** Fsynced received images the core accepted, waiting for their Ready. */
  private readonly staged = new Map<string, { meta: SnapshotMeta; path: string }>();
  private readonly receiving = new Set<Promise<unknown>>();
  private seq = 0;

  constructor(
    private readonly host: NodeHost,
    private readonly core: RaftCore,
    private readonly transport: NodeTransport,
    private readonly disk: TrackingDisk,
    private readonly wal: Wal,
    private readonly dir: string,
    private readonly r: ResolvedOptions,
  ) {}

  /** Settles once no receive touches the disk any more (stop, abort). */
  get settled(): Promise<void> {
    return Promise.allSettled([...this.receiving]).then(() => {});
  }

  send(m: Message): void {
    const snap = m.snapshot;
    if (snap === undefined || this.sending.has(m.to)) return;
    this.sending.add(m.to);
    const to = m.to;
    const meta = encodeMessage({ ...m, snapshot: metaOnly(snap) });
    // A newer snapshot may have purged this file: the transfer fails and the core retries.
    let sourceError: unknown;
    const chunks = this.watch(imageChunks(this.disk, this.wal, snap, this.r.snapshotChunkBytes), (e) => {
      sourceError = e;
    });
    this.host.log('info', 'sending snapshot', { to, index: snap.meta.index });
    this.transport.sendSnapshot(to, meta, chunks).then(
      () => this.sent(to, true),
      (e: unknown) => {
        if (isSealError(sourceError) && sourceError.code === Err.WalCorrupt) {
          this.host.log('error', 'snapshot file is damaged; transfer aborted', {
            to,
            error: String(sourceError),
          });
        } else this.host.log('warn', 'snapshot transfer failed', { to, error: String(e) });
        this.sent(to, false);
      },
    );
  }

  /**
   * Streams a leader's snapshot into a staged file, then steps it into the core without its
   * image. A stream that fails (connection, limit) only fails this transfer; a disk error is
   * fatal, like every write error under the WAL (P43).
   */
  receive(from: string, meta: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const p = this.receiveInner(from, meta, chunks);
    const tracked = p.catch(() => {});
    this.receiving.add(tracked);
    void tracked.then(() => this.receiving.delete(tracked));
    return p;
  }

  private async receiveInner(
    from: string,
    meta: Uint8Array,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (!this.host.running()) throw this.host.stoppedError();
    const m = decodeMessage(meta);
    if (m.type !== 'Snap' || m.snapshot === undefined || m.from !== from || m.to !== this.host.id) {
      throw sealError(Err.RaftMessageMalformed, 'snapshot stream does not start with a snapshot message', {
        from,
      });
    }
    const sm = m.snapshot.meta;
    const msg: Message = { ...m, snapshot: metaOnly(m.snapshot) };
    if (this.ignored(sm)) {
      // The core answers these from its log alone (P26); the image is not needed.
      await drain(chunks);
      if (!this.host.running()) throw this.host.stoppedError();
      // A new leader may have rewritten the log meanwhile: the core would then install it.
      if (!this.ignored(sm))
        throw sealError(Err.TransportSnapshot, 'snapshot became needed while skipped; resend', {});
      this.step(msg);
      return;
    }
    const path = joinPath(this.dir, stagedSnapFileName(sm.index, sm.term, ++this.seq));
    let bytes: number;
    try {
      bytes = await writeSnapshotStream(this.disk, path, sm, chunks, {
        io: this.io,
        maxBytes: this.r.maxSnapshotBytes,
      });
    } catch (e) {
      await this.discard(path);
      throw e;
    }
    if (!this.host.running()) {
      await this.discard(path);
      throw this.host.stoppedError();
    }
    this.host.log('info', 'received snapshot', { from, index: sm.index, bytes });
    this.step(msg);
    const accepted = this.core.raft.log.unstableSnapshot;
    if (accepted !== undefined && sameSnapshotMeta(accepted.meta, sm) && !this.staged.has(keyOf(sm))) {
      this.staged.set(keyOf(sm), { meta: sm, path });
    } else await this.discard(path);
  }

  /**
   * The staged file of the snapshot a Ready carries, handed over to be made durable; staged
   * files of older snapshots the core replaced are deleted.
   */
  async takeStaged(s: Snapshot): Promise<string | undefined> {
    const key = keyOf(s.meta);
    const hit = this.staged.get(key);
    this.staged.delete(key);
    for (const [k, v] of this.staged) {
      if (v.meta.index > s.meta.index) continue;
      this.staged.delete(k);
      await this.discard(v.path);
    }
    return hit?.path;
  }

  /** Stale (≤ commit) and matching snapshots change nothing but the commit index. */
  private ignored(meta: SnapshotMeta): boolean {
    const log = this.core.raft.log;
    return meta.index <= log.committed || log.matchTerm(meta.index, meta.term);
  }

  private step(msg: Message): void {
    guarded(this.host, () => this.core.step(msg));
    this.host.wake();
  }

  private readonly io: SnapIo = async (op, path, fn) => {
    try {
      return await fn();
    } catch (e) {
      const err = sealError(
        Err.WalFailed,
        `${op} of ${path} failed (${errnoOf(e) ?? 'error'}) while receiving a snapshot: exit and recover from disk`,
        { op, path, errno: errnoOf(e) },
        e,
      );
      this.host.fail(err);
      throw err;
    }
  };

  /** Best effort: a leftover staged file is deleted at the next startup. */
  private async discard(path: string): Promise<void> {
    try {
      await this.disk.unlink(path);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') this.host.log('warn', 'could not delete a staged snapshot', { path });
    }
  }

  /** Passes a stream through, remembering the error it ended with. */
  private async *watch(
    src: AsyncIterable<Uint8Array>,
    onError: (e: unknown) => void,
  ): AsyncGenerator<Uint8Array> {
    try {
      yield* src;
    } catch (e) {
      onError(e);
      throw e;
    }
  }

  private sent(to: NodeId, ok: boolean): void {
    this.sending.delete(to);
    if (!this.host.running()) return;
    guarded(this.host, () => this.core.reportSnapshot(to, ok));
    this.host.wake();
  }
}
