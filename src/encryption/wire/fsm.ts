import { concatBytes, readU16be, readU32be, readU64be, u16be, u32be, u64be } from '../../util/bytes.ts';
import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';

/**
 * Codecs of the FSM-internal encryption entries (encryption.md §6.2). Every
 * decoder takes the whole `fsm_payload` (opcode first), checks each length
 * against the bytes that remain before allocating anything, and rejects
 * trailing bytes, so a hostile or corrupt entry can neither over-read nor
 * force a large allocation.
 */
export const OP_REGISTRATION = 0x03;
export const OP_BOOTSTRAP = 0x04;
export const OP_ROTATION = 0x05;
export const WIRE_VERSION = 0x01;

export const SUBTAG_ROTATE_DEK = 0x01;
export const SUBTAG_ENABLE_STORAGE_ENVELOPE = 0x04;
export const SUBTAG_ENABLE_RAFT_ENVELOPE = 0x05;
export type RotationSubtag = 0x01 | 0x04 | 0x05;

export const PURPOSE_STORAGE = 1;
export const PURPOSE_RAFT = 2;
export type WirePurpose = 1 | 2;

export const MAX_BOOTSTRAP_ROWS = 16384;
const ROW_BYTES = 14;

export interface WriterRow {
  readonly dekId: number;
  readonly fullNodeId: bigint;
  readonly localEpoch: number;
}

export type RegistrationPayload = WriterRow;

export interface BootstrapPayload {
  readonly storageId: number;
  readonly storageWrapped: Uint8Array;
  readonly raftId: number;
  readonly raftWrapped: Uint8Array;
  readonly rows: readonly WriterRow[];
}

export interface RotationPayload {
  readonly subtag: RotationSubtag;
  readonly dekId: number;
  readonly purpose: WirePurpose;
  readonly wrapped: Uint8Array;
  readonly proposer: WriterRow;
}

function malformed(what: string, details: Record<string, unknown> = {}): never {
  throw sealError(Err.FSMWireMalformed, `encryption entry is malformed: ${what}`, details);
}

/** Bounds-checked sequential reader over one payload. */
class Reader {
  private off = 0;
  constructor(private readonly b: Uint8Array) {}

  private need(n: number, what: string): number {
    if (n > this.b.length - this.off) malformed(`truncated ${what}`, { offset: this.off, need: n });
    const at = this.off;
    this.off += n;
    return at;
  }
  u8(what: string): number {
    return this.b[this.need(1, what)]!;
  }
  u16(what: string): number {
    return readU16be(this.b, this.need(2, what));
  }
  u32(what: string): number {
    return readU32be(this.b, this.need(4, what));
  }
  u64(what: string): bigint {
    return readU64be(this.b, this.need(8, what));
  }
  /** `len(4) ‖ bytes`; the length is checked against what remains before copying. */
  blob(what: string): Uint8Array {
    const n = this.u32(`${what} length`);
    const at = this.need(n, what);
    return this.b.slice(at, at + n);
  }
  row(what: string): WriterRow {
    return {
      dekId: this.u32(`${what} dek_id`),
      fullNodeId: this.u64(`${what} full_node_id`),
      localEpoch: this.u16(what),
    };
  }
  remaining(): number {
    return this.b.length - this.off;
  }
  end(): void {
    if (this.off !== this.b.length) malformed(`${this.b.length - this.off} trailing bytes`);
  }
}

function header(payload: Uint8Array, opcode: number): Reader {
  const r = new Reader(payload);
  const op = r.u8('opcode');
  if (op !== opcode) malformed(`opcode 0x${op.toString(16)} where 0x${opcode.toString(16)} was expected`);
  const ver = r.u8('wire version');
  if (ver !== WIRE_VERSION) {
    throw sealError(Err.FSMWireVersion, `encryption entry wire version 0x${ver.toString(16)}, want 0x01`, {
      version: ver,
    });
  }
  return r;
}

export function decodeRegistration(payload: Uint8Array): RegistrationPayload {
  if (payload.length !== 16) {
    if (payload.length >= 2) header(payload, OP_REGISTRATION);
    malformed(`registration is ${payload.length} bytes, want 16`);
  }
  const r = header(payload, OP_REGISTRATION);
  const row = r.row('registration');
  r.end();
  return row;
}

export function decodeBootstrap(payload: Uint8Array): BootstrapPayload {
  const r = header(payload, OP_BOOTSTRAP);
  const storageId = r.u32('storage_id');
  const storageWrapped = r.blob('storage wrapped DEK');
  const raftId = r.u32('raft_id');
  const raftWrapped = r.blob('raft wrapped DEK');
  const count = r.u32('row count');
  if (count > MAX_BOOTSTRAP_ROWS) malformed(`row count ${count} exceeds ${MAX_BOOTSTRAP_ROWS}`);
  if (ROW_BYTES * count !== r.remaining()) {
    malformed(`row count ${count} needs ${ROW_BYTES * count} bytes, ${r.remaining()} remain`);
  }
  const rows: WriterRow[] = new Array(count);
  for (let i = 0; i < count; i++) rows[i] = r.row(`row ${i}`);
  r.end();
  return { storageId, storageWrapped, raftId, raftWrapped, rows };
}

export function decodeRotation(payload: Uint8Array): RotationPayload {
  const r = header(payload, OP_ROTATION);
  const subtag = r.u8('sub-tag');
  if (
    subtag !== SUBTAG_ROTATE_DEK &&
    subtag !== SUBTAG_ENABLE_STORAGE_ENVELOPE &&
    subtag !== SUBTAG_ENABLE_RAFT_ENVELOPE
  ) {
    // 0x02 (rewrap) and 0x03 (retire) are reserved: not in the whitelist, so they land here too.
    throw sealError(Err.FSMWireSubtag, `rotation sub-tag 0x${subtag.toString(16)} is not supported`, {
      subtag,
    });
  }
  const dekId = r.u32('dek_id');
  const purpose = r.u8('purpose');
  if (purpose !== PURPOSE_STORAGE && purpose !== PURPOSE_RAFT) malformed(`purpose ${purpose}`, { purpose });
  const wrapped = r.blob('wrapped DEK');
  const proposer = r.row('proposer');
  r.end();
  return { subtag, dekId, purpose, wrapped, proposer };
}

function checkUint(v: number, bits: 16 | 32, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) malformed(`cannot encode ${what} ${v} as uint${bits}`);
}

function encodeRow(row: WriterRow, what: string): Uint8Array {
  checkUint(row.dekId, 32, `${what} dek_id`);
  checkUint(row.localEpoch, 16, `${what} local_epoch`);
  if (row.fullNodeId < 0n || row.fullNodeId >= 1n << 64n) malformed(`cannot encode ${what} full_node_id`);
  return concatBytes(u32be(row.dekId), u64be(row.fullNodeId), u16be(row.localEpoch));
}

function encodeBlob(b: Uint8Array): Uint8Array {
  return concatBytes(u32be(b.length), b);
}

export function encodeRegistration(p: RegistrationPayload): Uint8Array {
  return concatBytes(Uint8Array.of(OP_REGISTRATION, WIRE_VERSION), encodeRow(p, 'registration'));
}

export function encodeBootstrap(p: BootstrapPayload): Uint8Array {
  checkUint(p.storageId, 32, 'storage_id');
  checkUint(p.raftId, 32, 'raft_id');
  if (p.rows.length > MAX_BOOTSTRAP_ROWS) malformed(`cannot encode ${p.rows.length} bootstrap rows`);
  return concatBytes(
    Uint8Array.of(OP_BOOTSTRAP, WIRE_VERSION),
    u32be(p.storageId),
    encodeBlob(p.storageWrapped),
    u32be(p.raftId),
    encodeBlob(p.raftWrapped),
    u32be(p.rows.length),
    ...p.rows.map((row, i) => encodeRow(row, `row ${i}`)),
  );
}

export function encodeRotation(p: RotationPayload): Uint8Array {
  checkUint(p.dekId, 32, 'dek_id');
  return concatBytes(
    Uint8Array.of(OP_ROTATION, WIRE_VERSION, p.subtag),
    u32be(p.dekId),
    Uint8Array.of(p.purpose),
    encodeBlob(p.wrapped),
    encodeRow(p.proposer, 'proposer'),
  );
}
