import { ByteQueue } from './byte-queue.ts';
import { ProtocolText, protocolError, RespProtocolError } from './errors.ts';
import { splitInlineArgs } from './inline.ts';
import { parseRespInt } from './number.ts';

export interface RespLimits {
  /** Largest bulk argument (Redis `proto-max-bulk-len`). */
  maxBulkLength: number;
  /** Most arguments in one multibulk command. */
  maxArrayLength: number;
  /** Longest inline command line, and longest `*n` / `$n` header line. */
  maxInlineLength: number;
  /** Unconsumed bytes a connection may hold (Redis `client-query-buffer-limit`). */
  maxBufferedBytes: number;
}

export const DEFAULT_RESP_LIMITS: Readonly<RespLimits> = {
  maxBulkLength: 512 * 1024 * 1024,
  maxArrayLength: 1024 * 1024,
  maxInlineLength: 64 * 1024,
  maxBufferedBytes: 1024 * 1024 * 1024,
};

const STAR = 0x2a;
const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;

/** `next()` could not complete a command with the bytes fed so far. */
const WAIT = undefined;

/**
 * Incremental server-side RESP2 request parser for one connection.
 *
 *   parser.feed(chunk);
 *   for (let c = parser.next(); c !== undefined; c = parser.next()) {
 *     if (c instanceof RespProtocolError) { reply `-${c.reply}`; close; break; }
 *     run(c);
 *   }
 *
 * A command may be split at any byte across chunks; a multibulk command keeps
 * the arguments it has completed between feeds, so a partial command costs
 * only its unfinished element. Empty commands (`*0`, `*-1`, blank inline
 * lines) are skipped without a reply, like Redis. Behaviour depends only on
 * the byte stream, never on how it was chunked: a header line is too long when
 * its terminator is not within the first `maxInlineLength + 1` bytes.
 *
 * After a protocol error every later call returns the same error.
 */
export class RespCommandParser {
  private readonly limits: RespLimits;
  private readonly q = new ByteQueue();
  /** Arguments still missing from the current multibulk command; 0 = between commands. */
  private pending = 0;
  private args: Buffer[] = [];
  private argBytes = 0;
  /** Length of the bulk whose header was read, or -1 while expecting a header. */
  private bulkLen = -1;
  private failed: RespProtocolError | undefined;

  constructor(limits: Partial<RespLimits> = {}) {
    this.limits = { ...DEFAULT_RESP_LIMITS, ...limits };
  }

  feed(chunk: Buffer): void {
    if (this.failed !== undefined) return;
    this.q.push(chunk);
    if (this.q.length + this.argBytes > this.limits.maxBufferedBytes) {
      this.fail(ProtocolText.queryBufferLimit);
    }
  }

  /** Bytes held for commands not yet complete (for metrics and tests). */
  get bufferedBytes(): number {
    return this.q.length + this.argBytes;
  }

  /** The next complete command, a protocol error (then close), or undefined to wait for bytes. */
  next(): Buffer[] | RespProtocolError | undefined {
    if (this.failed !== undefined) return this.failed;
    for (;;) {
      if (this.pending === 0) {
        if (this.q.length === 0) return WAIT;
        const whole = this.wholeCommandInFirstChunk();
        if (whole !== undefined) return whole;
        if (this.q.byteAt(0) !== STAR) {
          const inline = this.readInline();
          if (inline instanceof RespProtocolError) return this.fail(inline);
          if (inline !== WAIT && inline.length === 0) continue;
          return inline;
        }
        const count = this.readMultibulkCount();
        if (count instanceof RespProtocolError) return this.fail(count);
        if (count === WAIT) return WAIT;
        if (count <= 0) continue;
        this.pending = count;
      }
      const done = this.readArgs();
      if (done !== true) return done === WAIT ? WAIT : this.fail(done);
      const cmd = this.args;
      this.args = [];
      this.argBytes = 0;
      return cmd;
    }
  }

  private fail(reply: string | RespProtocolError): RespProtocolError {
    this.failed = typeof reply === 'string' ? protocolError(reply) : reply;
    this.q.clear();
    this.args = [];
    this.argBytes = 0;
    return this.failed;
  }

  /**
   * Fast path for the common case of a whole, well-formed multibulk command in
   * the first chunk: one pass with plain indexing and no intermediate state.
   * Anything else (partial, unusual or invalid input) returns undefined having
   * consumed nothing, and the general state machine takes over, so both paths
   * accept exactly the same language.
   */
  private wholeCommandInFirstChunk(): Buffer[] | undefined {
    const buf = this.q.firstChunk;
    if (buf === undefined) return undefined;
    const start = this.q.readOffset;
    const end = buf.length;
    if (buf[start] !== STAR) return undefined;
    let p = start + 1;
    let count = 0;
    for (let digits = 0; ; digits++) {
      if (p >= end || digits > 9) return undefined;
      const c = buf[p++]!;
      if (c === CR) {
        if (digits === 0) return undefined;
        break;
      }
      if (c < 0x30 || c > 0x39 || (c === 0x30 && digits === 0)) return undefined;
      count = count * 10 + (c - 0x30);
    }
    p++; // the byte after CR, unchecked as in the general path
    if (count > this.limits.maxArrayLength) return undefined;
    const args: Buffer[] = new Array(count);
    for (let i = 0; i < count; i++) {
      if (p >= end || buf[p] !== DOLLAR) return undefined;
      p++;
      let len = 0;
      for (let digits = 0; ; digits++) {
        if (p >= end || digits > 9) return undefined;
        const c = buf[p++]!;
        if (c === CR) {
          if (digits === 0) return undefined;
          break;
        }
        if (c < 0x30 || c > 0x39 || (c === 0x30 && digits === 0 && buf[p] !== CR)) return undefined;
        len = len * 10 + (c - 0x30);
      }
      p++;
      if (len > this.limits.maxBulkLength || p + len + 2 > end) return undefined;
      const arg = Buffer.allocUnsafe(len);
      if (len <= 32) for (let j = 0; j < len; j++) arg[j] = buf[p + j]!;
      else buf.copy(arg, 0, p, p + len);
      args[i] = arg;
      p += len + 2;
    }
    this.q.skip(p - start);
    return args;
  }

  /** Reads `*<n>\r\n`; returns n, WAIT, or an error. */
  private readMultibulkCount(): number | RespProtocolError | undefined {
    const line = this.headerLine(ProtocolText.tooBigMbulkCount);
    if (typeof line !== 'number') return line;
    const n = this.headerNumber(line);
    if (n === undefined || n > this.limits.maxArrayLength) {
      return protocolError(ProtocolText.invalidMultibulkLength);
    }
    return n;
  }

  /** Completes the arguments of the current multibulk command: true, WAIT, or an error. */
  private readArgs(): true | RespProtocolError | undefined {
    const q = this.q;
    while (this.pending > 0) {
      if (this.bulkLen < 0) {
        const line = this.headerLine(ProtocolText.tooBigBulkCount);
        if (typeof line !== 'number') return line;
        const first = q.byteAt(0);
        if (first !== DOLLAR) return protocolError(ProtocolText.expectedDollar(first));
        const n = this.headerNumber(line);
        if (n === undefined || n < 0 || n > this.limits.maxBulkLength) {
          return protocolError(ProtocolText.invalidBulkLength);
        }
        this.bulkLen = n;
      }
      // Like Redis, the two bytes after the payload are skipped unchecked.
      if (q.length < this.bulkLen + 2) return WAIT;
      this.args.push(q.take(this.bulkLen));
      q.skip(2);
      this.argBytes += this.bulkLen;
      this.bulkLen = -1;
      this.pending--;
    }
    return true;
  }

  /**
   * Finds the CR ending a `*n` / `$n` header and checks one more byte is there
   * (Redis skips it unchecked). Returns the header length (up to the CR).
   */
  private headerLine(tooBig: string): number | RespProtocolError | undefined {
    const max = this.limits.maxInlineLength;
    const cr = this.q.indexOf(CR, max + 1);
    if (cr < 0) return this.q.length > max ? protocolError(tooBig) : WAIT;
    if (cr + 2 > this.q.length) return WAIT;
    return cr;
  }

  /** Parses the number after the type byte of a header of `len` bytes and consumes the header. */
  private headerNumber(len: number): number | undefined {
    const buf = this.q.contiguous(len);
    const at = this.q.readOffset;
    const n = parseRespInt(buf, at + 1, at + len);
    this.q.skip(len + 2);
    return n;
  }

  /** Reads one inline command line: its arguments, WAIT, or an error. */
  private readInline(): Buffer[] | RespProtocolError | undefined {
    const max = this.limits.maxInlineLength;
    const lf = this.q.indexOf(LF, max + 1);
    if (lf < 0) return this.q.length > max ? protocolError(ProtocolText.tooBigInline) : WAIT;
    const buf = this.q.contiguous(lf);
    const at = this.q.readOffset;
    const end = lf > 0 && buf[at + lf - 1] === CR ? at + lf - 1 : at + lf;
    const args = splitInlineArgs(buf, at, end);
    this.q.skip(lf + 1);
    return args ?? protocolError(ProtocolText.unbalancedQuotes);
  }
}
