import type { ApplyOutcome } from '../../encryption/applier/types.ts';

/** The result of one user request (opcodes 0x00/0x01) at apply. */
export type RequestResult =
  | { readonly requestId: bigint; readonly status: 'ok'; readonly commitTs: bigint }
  /** A read key had a committed version newer than the request's readTs; nothing was written. */
  | {
      readonly requestId: bigint;
      readonly status: 'conflict';
      readonly commitTs: bigint;
      readonly key: Uint8Array;
    }
  /** The requestId was applied before (at `appliedAt`) within the dedup window; nothing was written. */
  | {
      readonly requestId: bigint;
      readonly status: 'duplicate';
      readonly original: 'ok' | 'conflict';
      readonly appliedAt: bigint;
      readonly commitTs: bigint;
    };

/** What one applied entry produced; the coordinator answers proposers from it. */
export type EntryResult =
  /** index <= the durable applied index: already applied, nothing done (replay). */
  | { readonly kind: 'skipped'; readonly index: bigint }
  /** A term-start entry (empty data). */
  | { readonly kind: 'noop'; readonly index: bigint }
  /** A membership change: only the applied index moves; the Raft node interprets it. */
  | { readonly kind: 'conf-change'; readonly index: bigint }
  | {
      readonly kind: 'requests';
      readonly index: bigint;
      readonly proposalId: bigint;
      readonly results: readonly RequestResult[];
    }
  | {
      readonly kind: 'lease';
      readonly index: bigint;
      readonly proposalId: bigint;
      readonly ceilingMs: number;
    }
  | {
      readonly kind: 'encryption';
      readonly index: bigint;
      readonly proposalId: bigint;
      readonly outcome: ApplyOutcome;
    };

/**
 * A halt (encryption.md §6.3, raft.md P45, I19): nothing of entry `index` was
 * written, the applied index stays below it, its proposer gets no answer, and
 * this Fsm refuses every further apply. The node exits; a restart (a new Fsm)
 * replays the entry.
 */
export interface Halt {
  readonly kind: 'halt';
  readonly index: bigint;
  /** The Err… code: ErrProposalHeaderMalformed, ErrRaftUnwrapFailed, ErrEncryptionApply, ErrFSMOpcodeUnknown, … */
  readonly code: string;
  /** The underlying cause's code when `code` wraps one (ErrEncryptionApply halts). */
  readonly inner?: string;
  readonly detail: string;
  readonly cause?: unknown;
}

export interface ApplyReport {
  /** One result per entry applied (or skipped) by this call, in index order, up to any halt. */
  readonly results: readonly EntryResult[];
  readonly halt: Halt | undefined;
  /** The applied index after this call (durable per the sync policy). */
  readonly appliedIndex: bigint;
}

/** The entry shape the FSM consumes (raft/core's Entry is structurally compatible). */
export interface FsmEntry {
  readonly index: number | bigint;
  readonly term: number | bigint;
  /** 0 normal, 1 conf change. */
  readonly type: number;
  readonly data: Uint8Array;
}

/** The raft-envelope unwrap capability (RaftEnvelope satisfies it). */
export interface RaftUnwrapper {
  unwrapRaftPayload(envelope: Uint8Array): Uint8Array;
}

/** The applier surface the FSM calls (EncryptionApplier satisfies it). */
export interface EntryApplier {
  applyEntry(index: bigint, payload: Uint8Array): Promise<ApplyOutcome>;
}

/** What the FSM tells the node's hybrid logical clock (HybridLogicalClock satisfies it). */
export interface HlcObserver {
  /** Every applied commit timestamp, so later local stamps exceed it. */
  observe(ts: bigint): void;
  /** Every applied 0x02 ceiling (and the stored one after a restore). */
  applyLease(ceilingMs: number): void;
}

/** Named crash points of the FSM's own durability steps (tests throw from the hook). */
export type FsmFaultPoint = 'fsm.beforeCommit' | 'fsm.afterCommit' | 'fsm.beforeApplier';

export interface FsmSyncPolicy {
  /**
   * true (default): every batch that carries the applied index is committed
   * with a durable sync before results are returned, so nothing acknowledged
   * is re-applied after a crash. false: batches are committed without their
   * own fsync and become durable with the next synced write (lmdb's flush
   * covers every earlier commit); after a crash the applied index may move
   * back and the Raft log replays the gap, which every apply path tolerates.
   */
  syncEveryBatch?: boolean;
}
