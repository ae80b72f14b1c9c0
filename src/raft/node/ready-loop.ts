/**
 * The D1 loop, one Ready at a time: persist (one WAL save, one fsync when the Ready must
 * sync) → send (only once that fsync resolved: I12) → apply the snapshot and the committed
 * entries → advance. Inputs arriving while the loop waits step straight into the core and
 * come out together in the next Ready, which is what batches concurrent proposals into one
 * fsync (P24).
 */
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { encodeMessage } from '../codec.ts';
import type { RaftCore } from '../core/core.ts';
import type { Message } from '../core/messages.ts';
import type { Ready } from '../core/ready.ts';
import type { LogStore } from '../log-store.ts';
import type { Wal } from '../wal/wal.ts';
import type { Applier } from './applier.ts';
import { coalesceAppends } from './coalesce.ts';
import type { NodeHost } from './host.ts';
import type { LeaderWatch } from './leader.ts';
import type { LocalSnapshots } from './local-snapshots.ts';
import type { MembershipHistory } from './membership.ts';
import type { PendingReads } from './reads.ts';
import { metaOnly } from './snapshot-io.ts';
import type { SnapshotTransfer } from './snapshot-transfer.ts';
import type { NodeTransport } from './types.ts';

export interface LoopParts {
  core: RaftCore;
  wal: Wal;
  store: LogStore;
  membership: MembershipHistory;
  transport: NodeTransport;
  transfer: SnapshotTransfer;
  leader: LeaderWatch;
  reads: PendingReads;
  applier: Applier;
  snapshots: LocalSnapshots;
  maxMsgBytes: number;
}

export class ReadyLoop {
  private wakeLoop: (() => void) | undefined;

  constructor(
    private readonly host: NodeHost,
    private readonly p: LoopParts,
  ) {}

  wake(): void {
    const w = this.wakeLoop;
    if (w === undefined) return;
    this.wakeLoop = undefined;
    w();
  }

  /** Runs until the node stops; a throw (WAL error, broken invariant) is the caller's to report. */
  async run(): Promise<void> {
    const { core, reads, applier, snapshots } = this.p;
    while (this.host.running()) {
      if (snapshots.hasReady) {
        await snapshots.commitReady();
        continue;
      }
      if (!core.hasReady()) {
        await new Promise<void>((resolve) => {
          this.wakeLoop = resolve;
        });
        continue;
      }
      const rd = core.ready();
      await this.persist(rd);
      if (!this.host.running()) return;
      this.send(rd.messages);
      this.p.leader.note(rd.lead, core.raft.term);
      for (const rs of rd.readStates) reads.resolve(rs.context, rs.index);
      if (!(await applier.applyReady(rd))) return;
      core.advance(rd);
      snapshots.maybeStart();
    }
  }

  /** Step 1: one WAL save; with `mustSync` it resolves after the fsync. */
  private async persist(rd: Ready): Promise<void> {
    const { wal, store } = this.p;
    const s = rd.snapshot;
    if (s !== undefined) {
      // D1: the image file is durable under its final name before the marker names it.
      const staged = await this.p.transfer.takeStaged(s);
      if (staged !== undefined) await wal.adoptSnapshotFile(staged, s.meta);
      else if (s.data.length > 0) await wal.writeSnapshotFile(s);
      else
        throw sealError(Err.Internal, 'a snapshot to install has neither an image nor a staged file', {
          ...s.meta,
        });
      await wal.save(rd.hardState, rd.entries, {
        sync: true,
        snapshot: { meta: s.meta, mode: 'install' },
      });
      store.installSnapshot(metaOnly(s));
      this.p.membership.reset(s.meta.index, s.meta.conf);
    } else if (rd.entries.length > 0 || rd.hardState !== undefined) {
      await wal.save(rd.hardState, rd.entries, { sync: rd.mustSync });
    }
    store.append(rd.entries);
    if (rd.hardState !== undefined) store.setHardState(rd.hardState);
  }

  /** Step 2. Snapshot messages go out as streams on their own connection (P47). */
  private send(msgs: readonly Message[]): void {
    if (msgs.length === 0) return;
    for (const m of coalesceAppends(msgs, this.p.maxMsgBytes)) {
      if (m.to === this.host.id) continue;
      if (m.type === 'Snap') this.p.transfer.send(m);
      else this.p.transport.send(m.to, encodeMessage(m));
    }
  }
}
