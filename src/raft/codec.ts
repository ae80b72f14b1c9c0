/**
 * Wire codec of the core's Raft messages (the transport carries them as opaque payloads).
 *
 *   version u8 (1) ‖ type u8 ‖ flags u8 ‖ term ‖ logTerm ‖ index ‖ commit ‖ hintIndex ‖
 *   hintTerm ‖ round ‖ from ‖ to ‖ [context] ‖ entryCount ‖ entries ‖ [snapshot]
 *
 * Integers are unsigned LEB128 varints (minimal form, at most 2^53 − 1), strings and byte
 * strings are a varint length then the bytes. flags: 1 reject, 2 transfer, 4 context present,
 * 8 snapshot present, 16 no ack. An entry is index ‖ term ‖ type u8 ‖ data; a snapshot is index ‖ term ‖
 * voters ‖ learners ‖ data. Decoding checks every length against the bytes left and refuses
 * trailing bytes: a malformed message from a peer is a typed error, never a partial message.
 */
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import type { Message, MessageType } from './core/messages.ts';
import { type ConfState, type Entry, EntryType, type Snapshot } from './core/types.ts';

const VERSION = 1;

const TYPES: readonly MessageType[] = [
  'App',
  'AppResp',
  'Vote',
  'VoteResp',
  'PreVote',
  'PreVoteResp',
  'Heartbeat',
  'HeartbeatResp',
  'Snap',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResp',
];
const TYPE_CODE = new Map<MessageType, number>(TYPES.map((t, i) => [t, i]));

const F_REJECT = 1;
const F_TRANSFER = 2;
const F_CONTEXT = 4;
const F_SNAPSHOT = 8;
const F_NO_ACK = 16;
const F_ALL = F_REJECT | F_TRANSFER | F_CONTEXT | F_SNAPSHOT | F_NO_ACK;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Node ids repeat in every message; their UTF-8 bytes are cached (bounded: ids are few). */
const idCache = new Map<string, Uint8Array>();
function idBytes(s: string): Uint8Array {
  let b = idCache.get(s);
  if (b === undefined) {
    b = encoder.encode(s);
    if (idCache.size < 1024) idCache.set(s, b);
  }
  return b;
}

class Writer {
  buf: Uint8Array;
  pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(n: number): void {
    this.room(1);
    this.buf[this.pos++] = n;
  }

  uint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw sealError(Err.InvalidArgument, `raft message field ${n} is not a non-negative safe integer`);
    }
    this.room(8);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Exact-ish initial size, so one allocation usually suffices. */
function sizeHint(m: Message): number {
  let n = 96 + m.from.length * 3 + m.to.length * 3 + (m.context?.length ?? 0);
  for (const e of m.entries) n += e.data.length + 24;
  if (m.snapshot !== undefined) {
    n += m.snapshot.data.length + 32;
    for (const id of [...m.snapshot.meta.conf.voters, ...m.snapshot.meta.conf.learners])
      n += id.length * 3 + 4;
  }
  return n;
}

export function encodeMessage(m: Message): Uint8Array {
  const code = TYPE_CODE.get(m.type);
  if (code === undefined) throw sealError(Err.InvalidArgument, `unknown raft message type ${String(m.type)}`);
  const w = new Writer(sizeHint(m));
  let flags = 0;
  if (m.reject) flags |= F_REJECT;
  if (m.transfer) flags |= F_TRANSFER;
  if (m.noAck) flags |= F_NO_ACK;
  if (m.context !== undefined) flags |= F_CONTEXT;
  if (m.snapshot !== undefined) flags |= F_SNAPSHOT;
  w.u8(VERSION);
  w.u8(code);
  w.u8(flags);
  w.uint(m.term);
  w.uint(m.logTerm);
  w.uint(m.index);
  w.uint(m.commit);
  w.uint(m.hintIndex);
  w.uint(m.hintTerm);
  w.uint(m.round);
  w.bytes(idBytes(m.from));
  w.bytes(idBytes(m.to));
  if (m.context !== undefined) w.bytes(m.context);
  w.uint(m.entries.length);
  for (const e of m.entries) {
    w.uint(e.index);
    w.uint(e.term);
    w.u8(e.type);
    w.bytes(e.data);
  }
  if (m.snapshot !== undefined) writeSnapshot(w, m.snapshot);
  return w.finish();
}

function writeSnapshot(w: Writer, s: Snapshot): void {
  w.uint(s.meta.index);
  w.uint(s.meta.term);
  writeIds(w, s.meta.conf.voters);
  writeIds(w, s.meta.conf.learners);
  w.bytes(s.data);
}

function writeIds(w: Writer, ids: readonly string[]): void {
  w.uint(ids.length);
  for (const id of ids) w.bytes(idBytes(id));
}

function malformed(why: string, offset: number): Error {
  return sealError(Err.RaftMessageMalformed, `raft message is malformed: ${why}; the message was dropped`, {
    offset,
  });
}

class Reader {
  pos = 0;

  constructor(readonly buf: Uint8Array) {}

  u8(): number {
    if (this.pos >= this.buf.length) throw malformed('truncated', this.pos);
    return this.buf[this.pos++]!;
  }

  uint(): number {
    const start = this.pos;
    let n = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i >= 8) throw malformed('varint longer than 8 bytes', start);
      const b = this.u8();
      n += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw malformed('varint not in minimal form', start);
        break;
      }
      scale *= 0x80;
    }
    if (!Number.isSafeInteger(n)) throw malformed('integer beyond 2^53', start);
    return n;
  }

  bytes(): Uint8Array {
    const len = this.uint();
    if (len > this.buf.length - this.pos) throw malformed(`length ${len} exceeds the bytes left`, this.pos);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  str(): string {
    const at = this.pos;
    try {
      return decoder.decode(this.bytes());
    } catch (e) {
      if (e instanceof TypeError) throw malformed('node id is not UTF-8', at);
      throw e;
    }
  }

  /** A count of items each at least `minBytes` long, checked against the bytes left. */
  count(minBytes: number): number {
    const at = this.pos;
    const n = this.uint();
    if (n * minBytes > this.buf.length - this.pos) throw malformed(`count ${n} exceeds the bytes left`, at);
    return n;
  }
}

/**
 * Decodes one message. Byte fields (entry data, context, snapshot data) are views into
 * `buf`, which the caller must not reuse.
 */
export function decodeMessage(buf: Uint8Array): Message {
  const r = new Reader(buf);
  const version = r.u8();
  if (version !== VERSION) throw malformed(`unknown version ${version}`, 0);
  const code = r.u8();
  const type = TYPES[code];
  if (type === undefined) throw malformed(`unknown message type ${code}`, 1);
  const flags = r.u8();
  if ((flags & ~F_ALL) !== 0) throw malformed(`unknown flags ${flags}`, 2);
  const term = r.uint();
  const logTerm = r.uint();
  const index = r.uint();
  const commit = r.uint();
  const hintIndex = r.uint();
  const hintTerm = r.uint();
  const round = r.uint();
  const from = r.str();
  const to = r.str();
  const context = (flags & F_CONTEXT) !== 0 ? r.bytes() : undefined;
  const n = r.count(4);
  const entries: Entry[] = new Array(n);
  for (let i = 0; i < n; i++) entries[i] = readEntry(r);
  const snapshot = (flags & F_SNAPSHOT) !== 0 ? readSnapshot(r) : undefined;
  if (r.pos !== buf.length) throw malformed(`${buf.length - r.pos} trailing bytes`, r.pos);
  const m: Message = {
    type,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & F_REJECT) !== 0,
    hintIndex,
    hintTerm,
    round,
    transfer: (flags & F_TRANSFER) !== 0,
    noAck: (flags & F_NO_ACK) !== 0,
  };
  if (context !== undefined) m.context = context;
  if (snapshot !== undefined) m.snapshot = snapshot;
  return m;
}

function readEntry(r: Reader): Entry {
  const index = r.uint();
  const term = r.uint();
  const at = r.pos;
  const type = r.u8();
  if (type !== EntryType.Normal && type !== EntryType.ConfChange)
    throw malformed(`unknown entry type ${type}`, at);
  return { index, term, type, data: r.bytes() };
}

function readSnapshot(r: Reader): Snapshot {
  const index = r.uint();
  const term = r.uint();
  const conf: ConfState = { voters: readIds(r), learners: readIds(r) };
  return { meta: { index, term, conf }, data: r.bytes() };
}

function readIds(r: Reader): string[] {
  const n = r.count(1);
  const ids: string[] = new Array(n);
  for (let i = 0; i < n; i++) ids[i] = r.str();
  return ids;
}
