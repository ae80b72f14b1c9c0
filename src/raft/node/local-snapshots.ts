/**
 * Local snapshots and log compaction. The state machine is streamed into its file off the
 * Ready loop; only the WAL marker is written by the loop, between two Readies, so
 * it never interleaves with a Ready's save. Once the marker is durable the in-memory log
 * is trimmed to `snapshotRetain` entries before the snapshot, which is what bounds it.
 */
import type { SnapshotMeta } from '../core/types.ts';
import type { LogStore } from '../log-store.ts';
import type { Wal } from '../wal/wal.ts';
import type { NodeHost } from './host.ts';
import type { MembershipHistory } from './membership.ts';
import type { ResolvedOptions } from './options.ts';
import { abandon } from './snapshot-io.ts';
import type { StateMachine } from './types.ts';

export class LocalSnapshots {
  /** At most one snapshot is being made or waiting for its marker at a time. */
  private job = false;
  private jobDone: Promise<void> = Promise.resolve();
  /** Its file is durable; the loop writes its WAL marker next. */
  private ready: SnapshotMeta | undefined;

  constructor(
    private readonly host: NodeHost,
    private readonly fsm: StateMachine,
    private readonly store: LogStore,
    private readonly wal: Wal,
    private readonly membership: MembershipHistory,
    private readonly r: ResolvedOptions,
    private readonly applied: () => number,
  ) {}

  /** Settles once no snapshot job touches the WAL any more (stop, abort). */
  get settled(): Promise<void> {
    return this.jobDone;
  }

  get hasReady(): boolean {
    return this.ready !== undefined;
  }

  /** After each Ready: starts a snapshot once enough entries or bytes piled up. */
  maybeStart(): void {
    if (this.fsm.snapshot === undefined || this.job || !this.host.running()) return;
    const since = this.applied() - this.store.snapshot().meta.index;
    const { bytes } = this.store.size;
    if (since < this.r.snapshotEvery && !(bytes >= this.r.snapshotBytes && since > 0)) return;
    this.job = true;
    this.jobDone = this.create().catch((e: unknown) => this.host.fail(e));
  }

  /**
   * Pins the state and streams it into its file: memory holds one write buffer, not the
   * image. The term and membership are taken before the stream starts, while the log still
   * holds the index.
   */
  private async create(): Promise<void> {
    const provider = this.fsm.snapshot;
    if (provider === undefined) return;
    const { index, chunks } = await provider.call(this.fsm);
    const term = this.store.term(index);
    if (!this.host.running() || index <= this.store.snapshot().meta.index || term === undefined) {
      this.job = false;
      await abandon(chunks);
      return;
    }
    const meta: SnapshotMeta = { index, term, conf: this.membership.at(index) };
    if ((await this.wal.writeSnapshotStream(meta, chunks)) === undefined) {
      // A snapshot from the leader covering this one was installed while it was written.
      this.job = false;
      return;
    }
    this.ready = meta;
    this.host.wake();
  }

  /** Run by the loop: writes the marker, then compacts the in-memory log. */
  async commitReady(): Promise<void> {
    const snap = this.ready;
    this.ready = undefined;
    try {
      // A snapshot installed from the leader meanwhile may already cover this one.
      if (snap === undefined || snap.index <= this.store.snapshot().meta.index) return;
      await this.wal.save(undefined, [], { sync: true, snapshot: { meta: snap, mode: 'compact' } });
      if (!this.host.running()) return;
      this.store.setSnapshot({ meta: snap, data: new Uint8Array(0) });
      // Keep a tail for slow followers, bounded in entries and in bytes: a
      // thousand batched entries can hold hundreds of MB.
      const byCount = snap.index - this.r.snapshotRetain;
      this.store.compact(
        Math.max(byCount, this.store.indexKeepingBytes(snap.index, this.r.snapshotRetainBytes)),
      );
      this.membership.trimTo(this.store.snapshot().meta.index);
      this.host.log('info', 'snapshot taken', {
        index: snap.index,
        firstIndex: this.store.firstIndex(),
      });
    } finally {
      this.job = false;
    }
  }
}
