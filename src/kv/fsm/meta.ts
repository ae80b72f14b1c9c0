/**
 * The FSM's rows in the raw `meta` namespace. They travel in the storage
 * snapshot stream, so a restored store carries its applied index, lease
 * ceiling and dedup table.
 *
 *   _meta_applied_index                  BE64 index ‖ BE64 term
 *   _meta_hlc_ceiling                    BE64 ceiling ms (the maximum applied)
 *   _meta_last_commit_ts                 BE64 commit timestamp of the newest applied request
 *   _meta_dedup|BE64 requestId           BE64 appliedAt ‖ u8 status ‖ BE64 commitTs
 *   _meta_dedup_at|BE64 appliedAt        BE64 requestId… (the records that entry wrote; prune order)
 *
 * Stores written before the prune rows were per entry hold one empty
 * `_meta_dedup_at|BE64 appliedAt ‖ BE64 requestId` row per record; they are
 * still read (and pruned) alike.
 */
import { concatBytes, readU64be, u64be, utf8 } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';

export const APPLIED_KEY = utf8('_meta_applied_index');
export const HLC_CEILING_KEY = utf8('_meta_hlc_ceiling');
export const LAST_COMMIT_TS_KEY = utf8('_meta_last_commit_ts');
export const DEDUP_PREFIX = utf8('_meta_dedup|');
export const DEDUP_AT_PREFIX = utf8('_meta_dedup_at|');

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

export function dedupKey(requestId: bigint): Uint8Array {
  return concatBytes(DEDUP_PREFIX, u64be(requestId));
}

/** The prune row of the records an entry wrote. */
export function dedupAtKey(appliedAt: bigint): Uint8Array {
  return concatBytes(DEDUP_AT_PREFIX, u64be(appliedAt));
}

/** The exclusive end of the prune range: every record applied before `index`. */
export function dedupAtBound(index: bigint): Uint8Array {
  return dedupAtKey(index);
}

export function encodeDedupIds(ids: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(ids.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < ids.length; i++) dv.setBigUint64(i * 8, ids[i]!);
  return out;
}

/** Inverse of dedupAtKey + encodeDedupIds; also reads the older one-row-per-record layout. */
export function parseDedupAtRow(
  key: Uint8Array,
  value: Uint8Array,
): { appliedAt: bigint; requestIds: bigint[] } {
  const p = DEDUP_AT_PREFIX.length;
  if (key.length === p + 16 && value.length === 0) {
    return { appliedAt: readU64be(key, p), requestIds: [readU64be(key, p + 8)] };
  }
  if (key.length !== p + 8 || value.length % 8 !== 0) throw corrupt('_meta_dedup_at', key.length);
  const requestIds: bigint[] = [];
  for (let o = 0; o < value.length; o += 8) requestIds.push(readU64be(value, o));
  return { appliedAt: readU64be(key, p), requestIds };
}

export function encodeDedup(r: DedupRecord): Uint8Array {
  return concatBytes(u64be(r.appliedAt), Uint8Array.of(r.status === 'ok' ? 0 : 1), u64be(r.commitTs));
}

export function decodeDedup(v: Uint8Array): DedupRecord {
  if (v.length !== 17 || v[8]! > 1) throw corrupt('_meta_dedup', v.length);
  return { appliedAt: readU64be(v, 0), status: v[8] === 0 ? 'ok' : 'conflict', commitTs: readU64be(v, 9) };
}
