import { assert } from '../../util/errors.ts';
import type { RespReply } from './reply.ts';

export interface ReplyWriterOptions {
  /** Size of the scratch buffers small replies are packed into. */
  chunkSize?: number;
  /** Bulk payloads at least this long are passed through by reference instead of copied. */
  zeroCopyThreshold?: number;
}

const MAX_INT64 = 2n ** 63n - 1n;
const MIN_INT64 = -(2n ** 63n);

/**
 * Accumulates encoded RESP2 replies for one connection so a whole pipeline is
 * answered with one write (or one cork/uncork of a few writes).
 *
 * Small replies are packed into large scratch buffers; big bulk payloads are
 * referenced, not copied, so the caller must not mutate a Buffer after passing
 * it. `take()` returns the segments written so far; later writes go to fresh
 * bytes, so taken segments stay valid while the socket still holds them.
 */
export class ReplyWriter {
  private readonly chunkSize: number;
  private readonly zeroCopyThreshold: number;
  private cur: Buffer;
  private pos = 0;
  private segStart = 0;
  private out: Buffer[] = [];
  private outBytes = 0;

  constructor(opts: ReplyWriterOptions = {}) {
    this.chunkSize = opts.chunkSize ?? 64 * 1024;
    this.zeroCopyThreshold = opts.zeroCopyThreshold ?? 16 * 1024;
    this.cur = Buffer.allocUnsafe(this.chunkSize);
  }

  /** Bytes written and not yet taken. */
  get pendingBytes(): number {
    return this.outBytes + (this.pos - this.segStart);
  }

  /** The encoded bytes so far, in order; the writer starts empty again. */
  take(): Buffer[] {
    this.closeSegment();
    const segments = this.out;
    this.out = [];
    this.outBytes = 0;
    return segments;
  }

  /** Like take(), joined into one Buffer (tests, small replies). */
  takeBuffer(): Buffer {
    const segments = this.take();
    return segments.length === 1 ? segments[0]! : Buffer.concat(segments);
  }

  reply(r: RespReply): this {
    switch (r.t) {
      case 'simple':
        return this.simple(r.s);
      case 'error':
        return this.error(r.s);
      case 'int':
        return this.integer(r.n);
      case 'bulk':
        return this.bulk(r.b);
      case 'array':
        if (r.items === null) return this.arrayHeader(null);
        this.arrayHeader(r.items.length);
        for (const item of r.items) this.reply(item);
        return this;
    }
  }

  /** `+s`; CR and LF become spaces, as in Redis, so the reply stays one line. */
  simple(s: string): this {
    return this.line(0x2b, s);
  }

  /** `-s`; the text should start with an error code such as `ERR`. */
  error(s: string): this {
    return this.line(0x2d, s);
  }

  integer(n: number | bigint): this {
    if (typeof n === 'number') assert(Number.isSafeInteger(n), `integer reply ${n} is not a safe integer`);
    else assert(n >= MIN_INT64 && n <= MAX_INT64, `integer reply ${n} exceeds 64 bits`);
    const text = n.toString();
    this.ensure(text.length + 3);
    this.cur[this.pos++] = 0x3a;
    this.pos += this.cur.write(text, this.pos, 'latin1');
    this.crlf();
    return this;
  }

  bulk(b: Buffer | string | null): this {
    if (b === null) return this.raw('$-1\r\n');
    if (typeof b === 'string') b = Buffer.from(b);
    this.ensure(24);
    this.cur[this.pos++] = 0x24;
    this.decimal(b.length);
    this.crlf();
    if (b.length >= this.zeroCopyThreshold) {
      this.closeSegment();
      this.out.push(b);
      this.outBytes += b.length;
    } else {
      this.ensure(b.length);
      b.copy(this.cur, this.pos);
      this.pos += b.length;
    }
    this.ensure(2);
    this.crlf();
    return this;
  }

  /** `*n` before n further replies; null writes the null array `*-1`. */
  arrayHeader(n: number | null): this {
    if (n === null) return this.raw('*-1\r\n');
    assert(Number.isSafeInteger(n) && n >= 0, `array length ${n} is invalid`);
    this.ensure(24);
    this.cur[this.pos++] = 0x2a;
    this.decimal(n);
    this.crlf();
    return this;
  }

  /** A request as a client sends it: an array of bulk strings. */
  command(args: readonly (Buffer | string)[]): this {
    this.arrayHeader(args.length);
    for (const a of args) this.bulk(a);
    return this;
  }

  /** Already-encoded bytes (a reply relayed from another node), copied unless large. */
  encoded(bytes: Buffer): this {
    if (bytes.length >= this.zeroCopyThreshold) {
      this.closeSegment();
      this.out.push(bytes);
      this.outBytes += bytes.length;
      return this;
    }
    this.ensure(bytes.length);
    bytes.copy(this.cur, this.pos);
    this.pos += bytes.length;
    return this;
  }

  private line(type: number, s: string): this {
    this.ensure(s.length * 3 + 3);
    const cur = this.cur;
    const start = this.pos;
    cur[start] = type;
    // Short printable ASCII (OK, QUEUED, most errors) is copied byte by byte:
    // cheaper than a native string write. Anything else takes the general path.
    if (s.length <= 64) {
      let i = 0;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x20 || c > 0x7e) break;
        cur[start + 1 + i] = c;
      }
      if (i === s.length) {
        this.pos = start + 1 + i;
        this.crlf();
        return this;
      }
    }
    if (s.includes('\r') || s.includes('\n')) s = s.replace(/[\r\n]/g, ' ');
    this.pos = start + 1;
    this.pos += cur.write(s, this.pos, 'utf8');
    this.crlf();
    return this;
  }

  private raw(ascii: string): this {
    this.ensure(ascii.length);
    this.pos += this.cur.write(ascii, this.pos, 'latin1');
    return this;
  }

  private decimal(n: number): void {
    if (n < 10) {
      this.cur[this.pos++] = 0x30 + n;
      return;
    }
    let digits = 0;
    for (let m = n; m > 0; m = Math.floor(m / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    for (let m = n; m > 0; m = Math.floor(m / 10)) this.cur[--p] = 0x30 + (m % 10);
  }

  private crlf(): void {
    // Two plain stores: ensure() already made room, so writeUInt16LE's checks are redundant.
    this.cur[this.pos++] = 0x0d;
    this.cur[this.pos++] = 0x0a;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.closeSegment();
    this.cur = Buffer.allocUnsafe(Math.max(this.chunkSize, n));
    this.pos = 0;
    this.segStart = 0;
  }

  private closeSegment(): void {
    if (this.pos === this.segStart) return;
    this.out.push(this.cur.subarray(this.segStart, this.pos));
    this.outBytes += this.pos - this.segStart;
    this.segStart = this.pos;
  }
}

/** One reply as bytes. */
export function encodeReply(r: RespReply): Buffer {
  return new ReplyWriter({ chunkSize: 256 }).reply(r).takeBuffer();
}

/** One request (array of bulk strings) as bytes. */
export function encodeCommand(args: readonly (Buffer | string)[]): Buffer {
  return new ReplyWriter({ chunkSize: 256 }).command(args).takeBuffer();
}
