/**
 * User requests (opcodes 0x00/0x01) at apply: dedup, one-phase OCC, then the
 * write set at the request's commit timestamp. Deterministic: every decision
 * depends only on the store, the staged writes before it and the entry; no
 * wall clock (TTL is not consulted at apply: a flush tombstones expired keys
 * too, which reads the same as leaving them).
 */
import type { Engine } from '../../storage/engine.ts';
import type { Mvcc, MvccBatch } from '../../storage/mvcc/mvcc.ts';
import { toHex } from '../../util/bytes.ts';
import type { Request, WriteOp } from '../request.ts';
import type { DedupRecord } from './meta.ts';
import { committedTs, type Staging, storedDedup } from './staging.ts';
import type { RequestResult } from './types.ts';

export interface RequestContext {
  readonly engine: Engine;
  readonly mvcc: Mvcc;
  /** A dedup record counts while `appliedAt + window >= index`; older ones are ignored, then pruned. */
  readonly dedupWindow: bigint;
  /** Told of every key given a new version (GC visits those keys). */
  readonly written?: ((key: Uint8Array, commitTs: bigint) => void) | undefined;
}

/** requestId 0 opts out of dedup (requests that are never retried ambiguously). */
const NO_DEDUP = 0n;

export function applyRequests(
  ctx: RequestContext,
  staging: Staging,
  batch: MvccBatch,
  index: bigint,
  requests: readonly Request[],
): RequestResult[] {
  return requests.map((r) => applyOne(ctx, staging, batch, index, r));
}

function applyOne(
  ctx: RequestContext,
  staging: Staging,
  batch: MvccBatch,
  index: bigint,
  r: Request,
): RequestResult {
  const { requestId, commitTs } = r;
  if (requestId !== NO_DEDUP && r.priorAt !== undefined) {
    const prior = earlierAttempt(ctx, staging, index, requestId, r.priorAt);
    if (prior !== undefined) {
      return { requestId, status: 'duplicate', original: prior.status, appliedAt: prior.appliedAt, commitTs };
    }
  }
  const conflict = firstConflict(ctx.engine, staging, r);
  if (conflict !== undefined) {
    if (requestId !== NO_DEDUP)
      staging.recordDedup(requestId, { appliedAt: index, status: 'conflict', commitTs });
    return { requestId, status: 'conflict', commitTs, key: conflict };
  }
  for (const op of r.ops) applyOp(ctx, staging, batch, commitTs, op);
  if (requestId !== NO_DEDUP) staging.recordDedup(requestId, { appliedAt: index, status: 'ok', commitTs });
  return { requestId, status: 'ok', commitTs };
}

/**
 * An earlier attempt of a re-submitted request that was applied inside the
 * dedup window (`appliedAt + window >= index`), looked up only in the entries
 * the attempts were appended at. Those entries are either in this apply
 * group's staging or committed.
 */
function earlierAttempt(
  ctx: RequestContext,
  staging: Staging,
  index: bigint,
  requestId: bigint,
  priorAt: readonly bigint[],
): DedupRecord | undefined {
  for (const at of priorAt) {
    if (at >= index || at + ctx.dedupWindow < index) continue;
    // An entry of this group is staged, an earlier one committed; never both.
    const rec = staging.pendingDedup(at, requestId) ?? storedDedup(ctx.engine, at, requestId);
    if (rec !== undefined) return rec;
  }
  return undefined;
}

/** The first read key with a committed (or staged) version newer than readTs. */
function firstConflict(engine: Engine, staging: Staging, r: Request): Uint8Array | undefined {
  for (const key of r.reads) {
    const pending = staging.pendingTs(toHex(key));
    if (pending !== undefined && pending > r.readTs) return key;
    const committed = committedTs(engine, key);
    if (committed !== undefined && committed > r.readTs) return key;
  }
  return undefined;
}

function applyOp(ctx: RequestContext, staging: Staging, batch: MvccBatch, ts: bigint, op: WriteOp): void {
  if (op.kind === 'put') {
    batch.put(op.key, op.value, ts, { expireAt: op.expireAtMs });
    staging.noteWrite(op.key, ts);
    ctx.written?.(op.key, ts);
  } else if (op.kind === 'delete') {
    batch.delete(op.key, ts);
    staging.noteWrite(op.key, ts);
    ctx.written?.(op.key, ts);
  } else {
    for (const key of flushTargets(ctx, staging, ts)) {
      batch.delete(key, ts);
      staging.noteWrite(key, ts);
      ctx.written?.(key, ts);
    }
  }
}

/**
 * Every key a flush at `ts` must hide: each key with a live committed version
 * at `ts` (an MVCC scan that opens every value: O(store) per flush) plus every
 * key staged in this group. Extra tombstones over absent keys read the same
 * as none. nowMs 0 treats nothing as expired, so the set does not depend on
 * when the entry is applied.
 */
function flushTargets(ctx: RequestContext, staging: Staging, ts: bigint): Uint8Array[] {
  const keys = staging.writtenKeys();
  for (const v of ctx.mvcc.scan({ ts, nowMs: 0n })) keys.set(toHex(v.key), v.key);
  return [...keys.values()];
}
