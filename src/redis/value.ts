import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

/**
 * The typed value stored under one Redis key (docs/data-model.md): the whole
 * structure lives in one MVCC value so every member is covered by the storage
 * envelope. Members and fields are kept as latin1 strings: a bijection with
 * bytes that gives Maps and Sets binary-safe keys for free.
 */
export type RedisValue =
  | { type: 'string'; data: Buffer }
  | { type: 'list'; items: Buffer[] }
  | { type: 'hash'; fields: Map<string, Buffer> }
  | { type: 'set'; members: Set<string> }
  | { type: 'zset'; scores: Map<string, number> };

export type RedisType = RedisValue['type'];

const TAG: Record<RedisType, number> = { string: 0, list: 1, hash: 2, set: 3, zset: 4 };

export function bin(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

export function key(b: Buffer): string {
  return b.toString('latin1');
}

class Writer {
  private readonly parts: Buffer[] = [];
  u8(n: number): void {
    this.parts.push(Buffer.from([n]));
  }
  u32(n: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n);
    this.parts.push(b);
  }
  f64(n: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(n);
    this.parts.push(b);
  }
  bytes(b: Buffer): void {
    this.u32(b.length);
    this.parts.push(b);
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class Reader {
  private off = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number): void {
    if (this.off + n > this.b.length) throw malformed(`truncated at byte ${this.off}`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.b.readDoubleBE(this.off);
    this.off += 8;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  rest(): Buffer {
    const v = this.b.subarray(this.off);
    this.off = this.b.length;
    return v;
  }
  /** A count is bounded by the bytes left, so a corrupt count cannot allocate. */
  count(minBytesEach: number): number {
    const n = this.u32();
    if (n * minBytesEach > this.b.length - this.off) throw malformed(`count ${n} exceeds the value size`);
    return n;
  }
  end(): void {
    if (this.off !== this.b.length) throw malformed(`${this.b.length - this.off} trailing bytes`);
  }
}

function malformed(detail: string) {
  return sealError(Err.MvccRowMalformed, `stored Redis value is malformed: ${detail}`);
}

export function encodeValue(v: RedisValue): Buffer {
  if (v.type === 'string') {
    // The common case (every SET) without the part list of Writer.
    const out = Buffer.allocUnsafe(1 + v.data.length);
    out[0] = TAG.string;
    out.set(v.data, 1);
    return out;
  }
  const w = new Writer();
  w.u8(TAG[v.type]);
  switch (v.type) {
    case 'list':
      w.u32(v.items.length);
      for (const it of v.items) w.bytes(it);
      break;
    case 'hash': {
      // Insertion order is kept, as Redis does for small hashes.
      w.u32(v.fields.size);
      for (const [f, val] of v.fields) {
        w.bytes(bin(f));
        w.bytes(val);
      }
      break;
    }
    case 'set': {
      const names = [...v.members].sort();
      w.u32(names.length);
      for (const m of names) w.bytes(bin(m));
      break;
    }
    case 'zset': {
      const entries = sortedZset(v.scores);
      w.u32(entries.length);
      for (const [m, s] of entries) {
        w.f64(s);
        w.bytes(bin(m));
      }
      break;
    }
  }
  return w.done();
}

export function decodeValue(b: Buffer): RedisValue {
  const r = new Reader(b);
  const tag = r.u8();
  let v: RedisValue;
  switch (tag) {
    case 0:
      return { type: 'string', data: r.rest() };
    case 1: {
      const n = r.count(4);
      const items: Buffer[] = [];
      for (let i = 0; i < n; i++) items.push(r.bytes());
      v = { type: 'list', items };
      break;
    }
    case 2: {
      const n = r.count(8);
      const fields = new Map<string, Buffer>();
      for (let i = 0; i < n; i++) fields.set(key(r.bytes()), r.bytes());
      v = { type: 'hash', fields };
      break;
    }
    case 3: {
      const n = r.count(4);
      const members = new Set<string>();
      for (let i = 0; i < n; i++) members.add(key(r.bytes()));
      v = { type: 'set', members };
      break;
    }
    case 4: {
      const n = r.count(12);
      const scores = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const s = r.f64();
        scores.set(key(r.bytes()), s);
      }
      v = { type: 'zset', scores };
      break;
    }
    default:
      throw malformed(`unknown type tag ${tag}`);
  }
  r.end();
  return v;
}

/** Sorted-set order: by score, then by member bytes. */
export function sortedZset(scores: Map<string, number>): [string, number][] {
  return [...scores.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
