/**
 * The FSM's rows in the raw `meta` namespace. They travel in the storage
 * snapshot stream, so a restored store carries its applied index, lease
 * ceiling and dedup table.
 *
 *   _meta_applied_index                  BE64 index ‖ BE64 term
 *   _meta_hlc_ceiling                    BE64 ceiling ms (the maximum applied)
 *   _meta_last_commit_ts                 BE64 commit timestamp of the newest applied request
 *   _meta_dedup_log|BE64 appliedAt      (BE64 requestId ‖ u8 status ‖ BE64 commitTs)…
 *                                        the requests with an id that entry applied
 *
 * One dedup row per entry, not one per request: a retried request names the
 * entries its earlier attempts went into (Request.priorAt), so a lookup reads
 * those rows only, and pruning deletes one row per entry. Rows of the earlier
 * per-request layout (`_meta_dedup|`, `_meta_dedup_at|`) are not read; no
 * release wrote them.
 */
import { concatBytes, readU64be, u64be, utf8 } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';

export const APPLIED_KEY = utf8('_meta_applied_index');
export const HLC_CEILING_KEY = utf8('_meta_hlc_ceiling');
export const LAST_COMMIT_TS_KEY = utf8('_meta_last_commit_ts');
export const DEDUP_LOG_PREFIX = utf8('_meta_dedup_log|');

export interface Applied {
  readonly index: bigint;
  readonly term: bigint;
}

export type DedupStatus = 'ok' | 'conflict';

export interface DedupRecord {
  readonly appliedAt: bigint;
  readonly status: DedupStatus;
  readonly commitTs: bigint;
}

function corrupt(what: string, length: number): Error {
  return sealError(
    Err.MvccRowMalformed,
    `FSM meta row ${what} is malformed (${length} bytes); the store is corrupt`,
    {
      row: what,
      length,
    },
  );
}

export function encodeApplied(a: Applied): Uint8Array {
  return concatBytes(u64be(a.index), u64be(a.term));
}

export function decodeApplied(v: Uint8Array | undefined): Applied {
  if (v === undefined) return { index: 0n, term: 0n };
  if (v.length !== 16) throw corrupt('_meta_applied_index', v.length);
  return { index: readU64be(v, 0), term: readU64be(v, 8) };
}

export function decodeLastCommitTs(v: Uint8Array | undefined): bigint {
  if (v === undefined) return 0n;
  if (v.length !== 8) throw corrupt('_meta_last_commit_ts', v.length);
  return readU64be(v, 0);
}

export function decodeCeiling(v: Uint8Array | undefined): number {
  if (v === undefined) return 0;
  if (v.length !== 8) throw corrupt('_meta_hlc_ceiling', v.length);
  return Number(readU64be(v, 0));
}

/** The dedup row of the entry at `appliedAt`. */
export function dedupLogKey(appliedAt: bigint): Uint8Array {
  return concatBytes(DEDUP_LOG_PREFIX, u64be(appliedAt));
}

const RECORD_BYTES = 17;

/** One entry's dedup row: every request with an id it applied, in apply order. */
export function encodeDedupRow(records: readonly { requestId: bigint; rec: DedupRecord }[]): Uint8Array {
  const out = new Uint8Array(records.length * RECORD_BYTES);
  const dv = new DataView(out.buffer);
  records.forEach(({ requestId, rec }, i) => {
    const o = i * RECORD_BYTES;
    dv.setBigUint64(o, requestId);
    out[o + 8] = rec.status === 'ok' ? 0 : 1;
    dv.setBigUint64(o + 9, rec.commitTs);
  });
  return out;
}

/** The record of `requestId` in the dedup row of the entry at `appliedAt`, if that entry applied it. */
export function findInDedupRow(
  appliedAt: bigint,
  row: Uint8Array,
  requestId: bigint,
): DedupRecord | undefined {
  if (row.length % RECORD_BYTES !== 0) throw corrupt('_meta_dedup_log', row.length);
  const dv = new DataView(row.buffer, row.byteOffset, row.byteLength);
  for (let o = 0; o < row.length; o += RECORD_BYTES) {
    if (dv.getBigUint64(o) !== requestId) continue;
    const status = row[o + 8] ?? 0xff;
    if (status > 1) throw corrupt('_meta_dedup_log', row.length);
    return { appliedAt, status: status === 0 ? 'ok' : 'conflict', commitTs: dv.getBigUint64(o + 9) };
  }
  return undefined;
}
