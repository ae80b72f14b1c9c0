/**
 * The D1 loop, one Ready at a time: persist (one WAL save, one fsync when the Ready must
 * sync) → send (only once that fsync resolved: I12) → apply the snapshot and the committed
 * entries → advance. When every committed entry was durable before the Ready, the apply
 * runs while the fsync is in flight (persistWhileApplying); the order of sends after the
 * fsync and of advance after both is kept. Inputs arriving while the loop waits step
 * straight into the core and come out together in the next Ready, which is what batches
 * concurrent proposals into one fsync (P24).
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

/**
 * True when applying `rd` cannot expose an entry that is not yet on disk here: no snapshot
 * to install, and every committed entry comes before the entries this Ready persists
 * (on a one-node group an entry commits in the Ready that writes it: P23).
 */
function appliesOnlyDurable(rd: Ready): boolean {
  if (rd.snapshot !== undefined || rd.committedEntries.length === 0) return false;
  if (rd.entries.length === 0) return true;
  return rd.committedEntries[rd.committedEntries.length - 1]!.index < rd.entries[0]!.index;
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
    const { core, applier, snapshots } = this.p;
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
      if (appliesOnlyDurable(rd)) {
        if (!(await this.persistWhileApplying(rd))) return;
      } else {
        await this.persist(rd);
        if (!this.host.running()) return;
        this.afterPersist(rd);
        if (!(await applier.applyReady(rd))) return;
      }
      core.advance(rd);
      snapshots.maybeStart();
    }
  }

  /**
   * Steps 1 and 3 at once when every committed entry was already durable before this
   * Ready: the fsync of the new entries and the state machine's work on the old ones
   * overlap, so a commit reaches clients without waiting for an unrelated fsync. Sends
   * still wait for the fsync (I12).
   */
  private async persistWhileApplying(rd: Ready): Promise<boolean> {
    // Messages leave the moment the fsync returns, not once the apply finishes
    // too: a follower's ack is on the commit path, its apply is not.
    const persisted = this.persist(rd).then(() => {
      if (this.host.running()) this.afterPersist(rd);
    });
    const applied = this.p.applier.applyReady(rd);
    // Both settle before the loop moves on, whichever fails first.
    const [p, a] = await Promise.allSettled([persisted, applied]);
    if (p.status === 'rejected') throw p.reason;
    if (a.status === 'rejected') throw a.reason;
    return a.value && this.host.running();
  }

  private afterPersist(rd: Ready): void {
    this.send(rd.messages);
    this.p.leader.note(rd.lead, this.p.core.raft.term);
    for (const rs of rd.readStates) this.p.reads.resolve(rs.context, rs.index);
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
