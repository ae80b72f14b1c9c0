import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

/**
 * FSM payloads for user writes (encryption.md §6.1 opcodes 0x00 and 0x01).
 * A request carries its write set and, for an optimistic transaction, its read
 * set: the FSM rejects it at apply when any read key has a version newer than
 * `readTs` (one-phase OCC). Integers are big-endian; every length is checked
 * against the bytes left before anything is allocated.
 */

export const OP_SINGLE = 0x00;
export const OP_BATCH = 0x01;
const WIRE_VERSION = 0x01;
export const MAX_BATCH_REQUESTS = 65536;
/** A request is re-submitted a few times at most; more earlier attempts than this is malformed. */
export const MAX_PRIOR_ATTEMPTS = 8;

export type WriteOp =
  | { kind: 'put'; key: Uint8Array; value: Uint8Array; expireAtMs: bigint }
  | { kind: 'delete'; key: Uint8Array }
  | { kind: 'flush' };

export interface Request {
  /** Client-visible id: the dedup key of a retried ambiguous write. */
  requestId: bigint;
  /**
   * Set on a re-submission only: the log indexes at which earlier attempts of
   * this request were appended. The FSM looks for the request in those
   * entries and nowhere else. A first attempt carries none and is never a
   * duplicate: any log that holds an attempt and a later one holds them in
   * that order (same term: one leader's append order; later term: terms
   * never decrease along a log).
   */
  priorAt?: readonly bigint[] | undefined;
  commitTs: bigint;
  /** Snapshot timestamp the reads were made at; 0 with an empty read set. */
  readTs: bigint;
  reads: Uint8Array[];
  ops: WriteOp[];
}

const KIND = { put: 0, delete: 1, flush: 2 } as const;

/** A growable write buffer: one allocation per few hundred bytes, not one per integer. */
class Out {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(n: number): void {
    this.ensure(1);
    this.buf[this.len++] = n;
  }
  u32(n: number): void {
    this.ensure(4);
    this.view.setUint32(this.len, n);
    this.len += 4;
  }
  u64(n: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.len, BigInt.asUintN(64, n));
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

class In {
  private off = 0;
  private readonly view: DataView;
  constructor(private readonly b: Uint8Array) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(n: number): void {
    if (n > this.b.length - this.off)
      throw malformed(`needs ${n} bytes at offset ${this.off}, has ${this.b.length - this.off}`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.off);
    this.off += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.off);
    this.off += 8;
    return v;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  /** A count whose items take at least `minBytes` each cannot exceed what is left. */
  count(minBytes: number): number {
    const n = this.u32();
    if (n * minBytes > this.b.length - this.off) throw malformed(`count ${n} exceeds the remaining bytes`);
    return n;
  }
  end(): void {
    if (this.off !== this.b.length) throw malformed(`${this.b.length - this.off} trailing bytes`);
  }
}

function malformed(detail: string) {
  return sealError(Err.FSMWireMalformed, `user request payload is malformed: ${detail}`);
}

function writeRequest(o: Out, r: Request): void {
  o.u64(r.requestId);
  const prior = r.priorAt ?? [];
  if (prior.length > MAX_PRIOR_ATTEMPTS) {
    throw sealError(
      Err.InvalidArgument,
      `a request names at most ${MAX_PRIOR_ATTEMPTS} earlier attempts, got ${prior.length}`,
    );
  }
  o.u8(prior.length);
  for (const at of prior) o.u64(at);
  o.u64(r.commitTs);
  o.u64(r.readTs);
  o.u32(r.reads.length);
  for (const k of r.reads) o.bytes(k);
  o.u32(r.ops.length);
  for (const op of r.ops) {
    o.u8(KIND[op.kind]);
    if (op.kind === 'flush') continue;
    o.bytes(op.key);
    if (op.kind === 'put') {
      o.u64(op.expireAtMs);
      o.bytes(op.value);
    }
  }
}

function readRequest(i: In): Request {
  const requestId = i.u64();
  const attempts = i.u8();
  if (attempts > MAX_PRIOR_ATTEMPTS) throw malformed(`${attempts} earlier attempts`);
  const priorAt: bigint[] = [];
  for (let n = attempts; n > 0; n--) priorAt.push(i.u64());
  const commitTs = i.u64();
  const readTs = i.u64();
  const reads: Uint8Array[] = [];
  for (let n = i.count(4); n > 0; n--) reads.push(i.bytes());
  const ops: WriteOp[] = [];
  for (let n = i.count(1); n > 0; n--) {
    const kind = i.u8();
    if (kind === KIND.flush) ops.push({ kind: 'flush' });
    else if (kind === KIND.delete) ops.push({ kind: 'delete', key: i.bytes() });
    else if (kind === KIND.put) {
      const key = i.bytes();
      const expireAtMs = i.u64();
      ops.push({ kind: 'put', key, value: i.bytes(), expireAtMs });
    } else throw malformed(`unknown write kind ${kind}`);
  }
  return attempts === 0
    ? { requestId, commitTs, readTs, reads, ops }
    : { requestId, priorAt, commitTs, readTs, reads, ops };
}

/** One request: `0x00 ‖ 0x01 ‖ request`; several: `0x01 ‖ 0x01 ‖ BE32 count ‖ requests`. */
export function encodeRequests(requests: Request[]): Uint8Array {
  if (requests.length === 0 || requests.length > MAX_BATCH_REQUESTS) {
    throw sealError(
      Err.InvalidArgument,
      `a payload carries 1..${MAX_BATCH_REQUESTS} requests, got ${requests.length}`,
    );
  }
  const o = new Out();
  o.u8(requests.length === 1 ? OP_SINGLE : OP_BATCH);
  o.u8(WIRE_VERSION);
  if (requests.length > 1) o.u32(requests.length);
  for (const r of requests) writeRequest(o, r);
  return o.done();
}

export function decodeRequests(payload: Uint8Array): Request[] {
  const i = new In(payload);
  const op = i.u8();
  if (op !== OP_SINGLE && op !== OP_BATCH)
    throw malformed(`opcode 0x${op.toString(16)} is not a user request`);
  const version = i.u8();
  if (version !== WIRE_VERSION) {
    throw sealError(Err.FSMWireVersion, `user request wire version ${version}, want ${WIRE_VERSION}`);
  }
  const n = op === OP_SINGLE ? 1 : i.count(29);
  if (n === 0 || n > MAX_BATCH_REQUESTS) throw malformed(`batch of ${n} requests`);
  const out: Request[] = [];
  for (let k = 0; k < n; k++) out.push(readRequest(i));
  i.end();
  return out;
}
