/**
 * Startup: everything the node needs before its first Ready is rebuilt from disk. The WAL
 * is the source of truth; the state machine is only brought forward to the WAL's
 * snapshot here, and committed entries above it are replayed by the first Readies.
 */
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { RaftCore } from '../core/core.ts';
import { LogStore } from '../log-store.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../transport/frame.ts';
import { Wal } from '../wal/wal.ts';
import type { ResolvedOptions } from './options.ts';
import { imageChunks, metaOnly } from './snapshot-io.ts';
import type { TrackingDisk } from './tracking-disk.ts';
import type { NodeLogger, RaftNodeOptions } from './types.ts';

export interface Recovered {
  wal: Wal;
  store: LogStore;
  core: RaftCore;
  /** The state machine's applied index once it caught up with the WAL's snapshot. */
  applied: number;
}

export async function recover(
  o: RaftNodeOptions,
  r: ResolvedOptions,
  disk: TrackingDisk,
  log: NodeLogger,
): Promise<Recovered> {
  const { wal, state } = await Wal.open(disk, {
    dir: o.dir,
    segmentBytes: o.segmentBytes,
    hook: o.walHook,
    // The image stays in its file: checked by one streaming pass, restored by another.
    snapshotData: 'verify',
  });
  if (state.repaired !== undefined) log('warn', 'dropped a torn WAL tail at startup', { ...state.repaired });
  const store = new LogStore({
    hardState: state.hardState,
    bootstrap: { voters: [...o.voters], learners: [] },
    snapshot: state.snapshot === undefined ? undefined : metaOnly(state.snapshot),
    entries: state.entries,
  });
  let applied = await o.fsm.appliedIndex();
  const snap = state.snapshot;
  if (snap !== undefined && applied < snap.meta.index) {
    // The WAL marker of an installed snapshot is written before the state machine
    // restores it; a crash in between lands here.
    if (o.fsm.restore === undefined) {
      throw sealError(
        Err.InvalidArgument,
        'the WAL holds a snapshot but the state machine cannot restore one',
        {},
      );
    }
    await o.fsm.restore(snap.meta, imageChunks(disk, wal, snap, r.snapshotChunkBytes));
    applied = snap.meta.index;
  }
  const core = new RaftCore({
    ...o.raft,
    id: o.id,
    storage: store,
    rand: o.rand ?? Math.random,
    now: o.clock ?? (() => performance.now()),
    applied,
    tickMs: r.tickMs,
    // P18: a proposal must fit in one transport frame with its message around it.
    maxProposalBytes: o.raft?.maxProposalBytes ?? DEFAULT_MAX_FRAME_BYTES - 64 * 1024,
    logger: (line) => log('info', line),
  });
  return { wal, store, core, applied };
}
