/**
 * The replicated state machine: every replica applies committed Raft entries
 * to its store through this class, in index order (architecture.md §2 step 5).
 *
 * Per entry: index <= the durable applied index → skipped (replay); conf
 * change → only the applied index moves; empty data (term start) → no-op;
 * otherwise the proposal header is stripped (encryption.md §3.5), the body is
 * unwrapped when `index > raftCutoverIndex()` (strict; 0 = inactive), and the
 * fsm_payload is dispatched on its first byte (§6.1):
 *
 *   0x00/0x01  user requests: dedup, OCC, writes at each request's commitTs
 *   0x02       HLC lease ceiling: kept as a meta row, passed to the HLC
 *   0x03–0x07  the encryption applier (none configured → halt)
 *   0x08+, empty payload  halt ErrFSMOpcodeUnknown
 *
 * Atomicity (raft.md P45): an entry's effects and the applied index are in
 * one storage batch. Consecutive user entries of one apply() call share a
 * batch; the batch is committed before an applier entry (the applier writes
 * registry rows and the sidecar itself and must find the preceding state
 * durable), before an entry with a flush (its key set must not depend on how
 * entries were grouped), and before a halt is reported. A halted entry writes
 * nothing and the Fsm refuses every later call (I19): the node exits and a new
 * Fsm over the same store replays the entry.
 *
 * Determinism: no wall clock. Apply never decides on TTL (a request carries
 * its own commitTs and expireAt; reads decide expiry), so replicas applying
 * the same log at different times write identical MVCC rows.
 */
import { innerCode } from '../encryption/applier/types.ts';
import type { Engine, WriteObserver } from '../storage/engine.ts';
import type { Mvcc } from '../storage/mvcc/mvcc.ts';
import { Err } from '../util/codes.ts';
import { isSealError, sealError } from '../util/errors.ts';
import { ApplyGroup } from './fsm/group.ts';
import {
  APPLIED_KEY,
  decodeApplied,
  decodeCeiling,
  decodeLastCommitTs,
  HLC_CEILING_KEY,
  LAST_COMMIT_TS_KEY,
} from './fsm/meta.ts';
import { applyRequests } from './fsm/requests.ts';
import { Staging } from './fsm/staging.ts';
import type {
  ApplyReport,
  EntryApplier,
  EntryResult,
  FsmEntry,
  FsmFaultPoint,
  FsmSyncPolicy,
  Halt,
  HlcObserver,
  RaftUnwrapper,
} from './fsm/types.ts';
import { decodeHlcLease, OP_HLC_LEASE } from './hlc-lease.ts';
import { decodeProposal } from './proposal.ts';
import { decodeRequests, OP_BATCH, OP_SINGLE, type Request } from './request.ts';

export type * from './fsm/types.ts';

const ENTRY_NORMAL = 0;
const ENTRY_CONF_CHANGE = 1;
const OP_FIRST_ENCRYPTION = 0x03;
const OP_LAST_ENCRYPTION = 0x07;
const DEFAULT_DEDUP_WINDOW = 100_000n;
const DEFAULT_MAX_BATCH_ENTRIES = 256;

export interface FsmOptions {
  mvcc: Mvcc;
  /** The engine under `mvcc` (raw reads for OCC, dedup and meta rows). */
  engine: Engine;
  /** Encryption entries 0x03–0x07; absent = every such entry halts. */
  applier?: EntryApplier | undefined;
  /** Raft-envelope unwrap; absent = no cipher (any entry above an active cutover halts). */
  raftEnvelope?: RaftUnwrapper | undefined;
  /** The installed raft-envelope cutover index (0 = inactive); read per entry. */
  raftCutoverIndex?: (() => bigint) | undefined;
  hlc?: HlcObserver | undefined;
  sync?: FsmSyncPolicy | undefined;
  /** Most entries sharing one storage batch (default 256), bounding a batch's memory. */
  maxBatchEntries?: number | undefined;
  /** How many indexes a requestId stays deduplicated (default 100 000). */
  dedupWindow?: bigint | undefined;
  faults?: ((point: FsmFaultPoint, index: bigint) => void) | undefined;
  /** Told of every user key given a new version, with its commit ts (GC's dirty keys). */
  written?: ((key: Uint8Array, commitTs: bigint) => void) | undefined;
}

export interface FsmSnapshot {
  readonly index: bigint;
  readonly term: bigint;
  /** The storage snapshot stream (every namespace, rows verbatim; sealed values stay sealed). */
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** The batch being built by one apply() call; `commit` persists it and starts a new one. */
interface Run {
  group: ApplyGroup;
  commit(): Promise<void>;
}

/**
 * One value derived from engine reads, kept until the engine reports a write.
 * Without observe() on the engine it is never registered and always re-reads.
 */
class MemoizedRead<T> implements WriteObserver {
  #value: T | undefined;
  #observed = false;
  #replacing = 0;

  attach(engine: Engine): void {
    if (engine.observe === undefined) return;
    engine.observe(this);
    this.#observed = true;
  }

  get(read: () => T): T {
    if (this.#value !== undefined) return this.#value;
    const v = read();
    if (this.#observed && this.#replacing === 0) this.#value = v;
    return v;
  }

  written(): void {
    this.#value = undefined;
  }

  replacing(active: boolean): void {
    this.#replacing += active ? 1 : -1;
    this.#value = undefined;
  }
}

/** Thrown inside one entry's processing; becomes a Halt value. */
class HaltSignal {
  constructor(readonly halt: Halt) {}
}

export class Fsm {
  readonly #o: FsmOptions;
  readonly #dedupWindow: bigint;
  readonly #sync: boolean;
  readonly #maxGroup: number;
  #halt: Halt | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  readonly #lastCommitTs = new MemoizedRead<bigint>();

  constructor(opts: FsmOptions) {
    this.#o = opts;
    this.#dedupWindow = opts.dedupWindow ?? DEFAULT_DEDUP_WINDOW;
    this.#sync = opts.sync?.syncEveryBatch ?? true;
    this.#maxGroup = opts.maxBatchEntries ?? DEFAULT_MAX_BATCH_ENTRIES;
    if (!Number.isSafeInteger(this.#maxGroup) || this.#maxGroup < 1) {
      throw sealError(Err.InvalidArgument, 'maxBatchEntries must be a positive integer');
    }
    if (this.#dedupWindow < 1n) {
      throw sealError(Err.InvalidArgument, 'the dedup window must be at least one index');
    }
    // Every read-only transaction asks for lastCommitTs: keep it off the engine
    // unless a write may have changed it (only where writes are observable).
    this.#lastCommitTs.attach(opts.engine);
    // Entries at or below the applied index are skipped on replay, so their
    // lease never reaches the clock again: hand it the stored maximum now.
    const ceiling = this.hlcCeilingMs();
    if (ceiling > 0) opts.hlc?.applyLease(ceiling);
  }

  /** The applied index stored in the `meta` namespace (0 for an empty store). */
  appliedIndex(): bigint {
    return decodeApplied(this.#o.engine.get('meta', APPLIED_KEY)).index;
  }

  /** The term of the entry at the applied index (for snapshot metadata). */
  appliedTerm(): bigint {
    return decodeApplied(this.#o.engine.get('meta', APPLIED_KEY)).term;
  }

  /**
   * Commit timestamp of the newest applied user request. Timestamps grow in log
   * order, so a snapshot read at this timestamp sees exactly the applied writes:
   * the coordinator reads there so that OCC validation (newest version <= readTs)
   * cannot miss a write that was stamped earlier but applied after the read.
   */
  lastCommitTs(): bigint {
    return this.#lastCommitTs.get(() => decodeLastCommitTs(this.#o.engine.get('meta', LAST_COMMIT_TS_KEY)));
  }

  /** The highest applied HLC lease ceiling (ms); seed the clock with it at start. */
  hlcCeilingMs(): number {
    return decodeCeiling(this.#o.engine.get('meta', HLC_CEILING_KEY));
  }

  /** The halt this Fsm stopped at, if any. */
  get halted(): Halt | undefined {
    return this.#halt;
  }

  /** Applies committed entries in index order. Calls are serialized. */
  apply(entries: readonly FsmEntry[]): Promise<ApplyReport> {
    return this.#queue(() => this.#applyAll(entries));
  }

  /** Pins the store now (between applies) and streams it; index/term describe its contents. */
  snapshot(): Promise<FsmSnapshot> {
    return this.#queue(async () => {
      this.#refuseIfHalted('snapshot');
      const applied = decodeApplied(this.#o.engine.get('meta', APPLIED_KEY));
      return { index: applied.index, term: applied.term, chunks: this.#o.mvcc.snapshotStream() };
    });
  }

  /** Replaces the whole store with a snapshot stream (atomic); returns the restored applied index. */
  restore(chunks: AsyncIterable<Uint8Array>): Promise<bigint> {
    return this.#queue(async () => {
      this.#refuseIfHalted('restore');
      await this.#o.mvcc.restore(chunks);
      const ceiling = this.hlcCeilingMs();
      if (ceiling > 0) this.#o.hlc?.applyLease(ceiling);
      return this.appliedIndex();
    });
  }

  #queue<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(run, run);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  #refuseIfHalted(what: string): void {
    if (this.#halt !== undefined) {
      const { index, code } = this.#halt;
      throw sealError(code, `the FSM halted at index ${index} (${code}); ${what} needs a restart`, { index });
    }
  }

  async #applyAll(entries: readonly FsmEntry[]): Promise<ApplyReport> {
    const results: EntryResult[] = [];
    if (this.#halt !== undefined) return { results, halt: this.#halt, appliedIndex: this.#halt.index - 1n };
    let applied = this.appliedIndex();
    const run: Run = {
      group: new ApplyGroup(),
      commit: async () => {
        if (run.group.isEmpty) return;
        const done = run.group;
        await this.#commit(done);
        results.push(...done.results);
        run.group = new ApplyGroup();
        // After the reset: a failure from here on halts above the committed batch.
        this.#afterCommit(done);
      },
    };
    try {
      for (const e of entries) {
        const index = BigInt(e.index);
        if (index <= applied) {
          results.push({ kind: 'skipped', index });
          continue;
        }
        if (index !== applied + 1n) {
          // Halt at the missing entry, so `halt.index - 1` is always the applied index.
          throw stop(applied + 1n, Err.InvalidArgument, `got entry ${index} where ${applied + 1n} was due`);
        }
        await this.#applyEntry(e, index, run);
        applied = index;
        if (run.group.results.length >= this.#maxGroup) await run.commit();
      }
      await run.commit();
    } catch (err) {
      if (!(err instanceof HaltSignal))
        return this.#halted(results, haltFrom(run.group.firstIndex ?? applied + 1n, err));
      // Entries before the halted one succeeded: persist them so the applied
      // index lands exactly below the halt (a failure here halts earlier).
      try {
        await run.commit();
      } catch (e) {
        return this.#halted(results, haltFrom(run.group.firstIndex ?? err.halt.index, e));
      }
      return this.#halted(results, err.halt);
    }
    return { results, halt: undefined, appliedIndex: applied };
  }

  #halted(results: EntryResult[], halt: Halt): ApplyReport {
    this.#halt = halt;
    return { results, halt, appliedIndex: halt.index - 1n };
  }

  async #applyEntry(e: FsmEntry, index: bigint, run: Run): Promise<void> {
    const term = BigInt(e.term);
    if (e.type === ENTRY_CONF_CHANGE) return run.group.advance(index, term, { kind: 'conf-change', index });
    if (e.type !== ENTRY_NORMAL) throw stop(index, Err.InvalidArgument, `unknown entry type ${e.type}`);
    const proposal = guard(index, () => decodeProposal(e.data));
    if (proposal === undefined) return run.group.advance(index, term, { kind: 'noop', index });
    const { proposalId } = proposal;
    const body = this.#unwrap(index, proposal.body);
    const op = body[0];
    if (op === OP_SINGLE || op === OP_BATCH) {
      const requests = guard(index, () => decodeRequests(body));
      // A flush reads the committed store: start it from a committed group.
      if (requests.some((r) => r.ops.some((o) => o.kind === 'flush'))) await run.commit();
      return this.#applyUser(index, term, proposalId, requests, run.group);
    }
    if (op === OP_HLC_LEASE) {
      const ceilingMs = guard(index, () => decodeHlcLease(body));
      run.group.lease(ceilingMs);
      return run.group.advance(index, term, { kind: 'lease', index, proposalId, ceilingMs });
    }
    if (op !== undefined && op >= OP_FIRST_ENCRYPTION && op <= OP_LAST_ENCRYPTION) {
      await run.commit();
      return this.#applyEncryption(index, term, proposalId, body, run.group);
    }
    const what = op === undefined ? 'an empty fsm_payload' : `opcode 0x${op.toString(16).padStart(2, '0')}`;
    throw stop(index, Err.FSMOpcodeUnknown, `${what} is not assigned in this version`);
  }

  #unwrap(index: bigint, body: Uint8Array): Uint8Array {
    const cutover = this.#o.raftCutoverIndex?.() ?? 0n;
    if (cutover === 0n || index <= cutover) return body;
    const env = this.#o.raftEnvelope;
    if (env === undefined) {
      throw stop(
        index,
        Err.RaftUnwrapFailed,
        `entry is above the raft cutover ${cutover} but no cipher is configured`,
      );
    }
    return guard(index, () => env.unwrapRaftPayload(body));
  }

  #applyUser(index: bigint, term: bigint, proposalId: bigint, requests: Request[], group: ApplyGroup): void {
    const batch = this.#o.mvcc.batch();
    const staging = new Staging(group.staging);
    const ctx = {
      engine: this.#o.engine,
      mvcc: this.#o.mvcc,
      dedupWindow: this.#dedupWindow,
      written: this.#o.written,
    };
    const results = guard(index, () => applyRequests(ctx, staging, batch, index, requests));
    guard(index, () => group.absorb(batch));
    staging.mergeUp();
    for (const r of requests) group.observeCommitTs(r.commitTs);
    group.advance(index, term, { kind: 'requests', index, proposalId, results });
  }

  async #applyEncryption(
    index: bigint,
    term: bigint,
    proposalId: bigint,
    body: Uint8Array,
    group: ApplyGroup,
  ): Promise<void> {
    const applier = this.#o.applier;
    if (applier === undefined) {
      throw stop(
        index,
        Err.EncryptionApply,
        'encryption entry but no encryption applier is configured on this node',
      );
    }
    this.#o.faults?.('fsm.beforeApplier', index);
    let outcome: Awaited<ReturnType<EntryApplier['applyEntry']>>;
    try {
      outcome = await applier.applyEntry(index, body);
    } catch (err) {
      throw new HaltSignal(haltFrom(index, err));
    }
    if (outcome.sidecarIndex !== undefined) group.sidecarIndex(outcome.sidecarIndex);
    group.advance(index, term, { kind: 'encryption', index, proposalId, outcome });
  }

  /** Durability step: the group's batch, applied index included, synced per the policy. */
  async #commit(group: ApplyGroup): Promise<void> {
    const last = group.lastIndex ?? 0n;
    const batch = group.finish(this.#o.engine, this.#dedupWindow);
    this.#o.faults?.('fsm.beforeCommit', last);
    await this.#o.engine.write(batch, { sync: this.#sync });
  }

  /** Tells the clock what the committed batch carried (only once it is committed). */
  #afterCommit(group: ApplyGroup): void {
    this.#o.faults?.('fsm.afterCommit', group.lastIndex ?? 0n);
    const hlc = this.#o.hlc;
    if (hlc === undefined) return;
    if (group.maxCommitTs !== undefined) hlc.observe(group.maxCommitTs);
    if (group.ceilingMs > 0) hlc.applyLease(group.ceilingMs);
  }
}

function stop(index: bigint, code: string, detail: string, cause?: unknown): HaltSignal {
  return new HaltSignal(
    cause === undefined
      ? { kind: 'halt', index, code, detail }
      : { kind: 'halt', index, code, detail, cause },
  );
}

/** Runs a decode/apply step of entry `index`; any throw halts at that entry with the error's code. */
function guard<T>(index: bigint, run: () => T): T {
  try {
    return run();
  } catch (err) {
    throw new HaltSignal(haltFrom(index, err));
  }
}

function haltFrom(index: bigint, err: unknown): Halt {
  if (err instanceof HaltSignal) return err.halt;
  const detail = err instanceof Error ? err.message : String(err);
  // A storage or IO fault keeps its own code (errno or 'unknown'): it halts like any other.
  if (!isSealError(err)) return { kind: 'halt', index, code: innerCode(err), detail, cause: err };
  const inner = typeof err.details.inner === 'string' ? err.details.inner : undefined;
  return inner === undefined
    ? { kind: 'halt', index, code: err.code, detail, cause: err }
    : { kind: 'halt', index, code: err.code, inner, detail, cause: err };
}
