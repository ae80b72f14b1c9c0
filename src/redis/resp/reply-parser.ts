import { ByteQueue } from './byte-queue.ts';
import { protocolError, RespProtocolError } from './errors.ts';
import { parseRespInt } from './number.ts';
import type { RespReply } from './reply.ts';

export interface RespReplyLimits {
  maxBulkLength: number;
  maxArrayLength: number;
  /** Longest `+`, `-`, `:`, `$n` or `*n` line. */
  maxLineLength: number;
  /** Deepest array nesting. */
  maxDepth: number;
  /** Unconsumed bytes held while a reply is incomplete. */
  maxBufferedBytes: number;
}

export const DEFAULT_REPLY_LIMITS: Readonly<RespReplyLimits> = {
  maxBulkLength: 512 * 1024 * 1024,
  maxArrayLength: 64 * 1024 * 1024,
  maxLineLength: 64 * 1024,
  maxDepth: 128,
  maxBufferedBytes: 1024 * 1024 * 1024,
};

const CR = 0x0d;
const LF = 0x0a;
const WAIT = undefined;

interface Frame {
  items: RespReply[];
  remaining: number;
}

/**
 * Incremental client-side RESP2 reply parser: feed bytes as they arrive and
 * pull complete replies (nested arrays included). Used by tests and to relay a
 * leader's replies to a follower's client. Stricter than the request parser:
 * every line and payload must end in CRLF, since a peer node is not a
 * hand-typed client. Integers outside the safe range decode as bigint.
 * A malformed stream yields a RespProtocolError, then the same error forever.
 */
export class RespReplyParser {
  private readonly limits: RespReplyLimits;
  private readonly q = new ByteQueue();
  private readonly stack: Frame[] = [];
  private bulkLen = -1;
  private failed: RespProtocolError | undefined;

  constructor(limits: Partial<RespReplyLimits> = {}) {
    this.limits = { ...DEFAULT_REPLY_LIMITS, ...limits };
  }

  feed(chunk: Buffer): void {
    if (this.failed !== undefined) return;
    this.q.push(chunk);
    if (this.q.length > this.limits.maxBufferedBytes) this.fail('reply buffer limit exceeded');
  }

  /** True when no partial reply is held. */
  get idle(): boolean {
    return this.q.length === 0 && this.stack.length === 0 && this.bulkLen < 0;
  }

  next(): RespReply | RespProtocolError | undefined {
    if (this.failed !== undefined) return this.failed;
    for (;;) {
      let value = this.readValue();
      if (value === WAIT || value instanceof RespProtocolError) return value;
      if (value === OPENED) continue;
      for (;;) {
        const top = this.stack[this.stack.length - 1];
        if (top === undefined) return value;
        top.items.push(value);
        if (--top.remaining > 0) break;
        this.stack.pop();
        value = { t: 'array', items: top.items };
      }
    }
  }

  private fail(what: string): RespProtocolError {
    this.failed = protocolError(`ERR Protocol error: ${what}`);
    this.q.clear();
    this.stack.length = 0;
    return this.failed;
  }

  /** One scalar, an empty or null array, OPENED (a non-empty array began), WAIT, or an error. */
  private readValue(): RespReply | typeof OPENED | RespProtocolError | undefined {
    const q = this.q;
    if (this.bulkLen >= 0) return this.readBulkData();
    if (q.length === 0) return WAIT;
    const max = this.limits.maxLineLength;
    const cr = q.indexOf(CR, max + 1);
    if (cr < 0) return q.length > max ? this.fail('reply line too long') : WAIT;
    if (cr + 2 > q.length) return WAIT;
    const buf = q.contiguous(cr + 2);
    const at = q.readOffset;
    if (buf[at + cr + 1] !== LF) return this.fail('expected LF after CR');
    const type = buf[at]!;
    const start = at + 1;
    const end = at + cr;
    let value: RespReply | typeof OPENED | typeof BULK_STARTED | RespProtocolError;
    switch (type) {
      case 0x2b: // +
        value = { t: 'simple', s: buf.toString('utf8', start, end) };
        break;
      case 0x2d: // -
        value = { t: 'error', s: buf.toString('utf8', start, end) };
        break;
      case 0x3a: // :
        value = this.integer(buf, start, end);
        break;
      case 0x24: // $
        value = this.bulkHeader(buf, start, end);
        break;
      case 0x2a: // *
        value = this.arrayHeader(buf, start, end);
        break;
      default:
        value = this.fail(`unexpected reply type byte 0x${type.toString(16).padStart(2, '0')}`);
    }
    if (value instanceof RespProtocolError) return value;
    q.skip(cr + 2);
    if (value === BULK_STARTED) return this.readBulkData();
    return value;
  }

  private integer(buf: Buffer, start: number, end: number): RespReply | RespProtocolError {
    const n = parseRespInt(buf, start, end);
    if (n === undefined) return this.fail('invalid integer reply');
    if (Number.isSafeInteger(n)) return { t: 'int', n };
    return { t: 'int', n: BigInt(buf.toString('latin1', start, end)) };
  }

  private bulkHeader(
    buf: Buffer,
    start: number,
    end: number,
  ): typeof BULK_STARTED | RespReply | RespProtocolError {
    const n = parseRespInt(buf, start, end);
    if (n === -1) return { t: 'bulk', b: null };
    if (n === undefined || n < 0 || n > this.limits.maxBulkLength) return this.fail('invalid bulk length');
    this.bulkLen = n;
    return BULK_STARTED;
  }

  private arrayHeader(
    buf: Buffer,
    start: number,
    end: number,
  ): typeof OPENED | RespReply | RespProtocolError {
    const n = parseRespInt(buf, start, end);
    if (n === -1) return { t: 'array', items: null };
    if (n === undefined || n < 0 || n > this.limits.maxArrayLength) {
      return this.fail('invalid multibulk length');
    }
    if (n === 0) return { t: 'array', items: [] };
    if (this.stack.length >= this.limits.maxDepth) return this.fail('reply nested too deeply');
    this.stack.push({ items: [], remaining: n });
    return OPENED;
  }

  private readBulkData(): RespReply | RespProtocolError | undefined {
    const q = this.q;
    const n = this.bulkLen;
    if (q.length < n + 2) return WAIT;
    const b = q.take(n);
    if (q.byteAt(0) !== CR || q.byteAt(1) !== LF) return this.fail('expected CRLF after bulk payload');
    q.skip(2);
    this.bulkLen = -1;
    return { t: 'bulk', b };
  }
}

const OPENED = Symbol('array opened');
const BULK_STARTED = Symbol('bulk started');
