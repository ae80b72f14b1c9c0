/** Byte helpers shared by every codec. Integers are big-endian unless the name says LE. */

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Unsigned lexicographic order, the order of every engine key. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

// One scratch view for the 64-bit conversions: a DataView per call showed up
// in profiles of the read path (several per key).
const scratchBytes = new Uint8Array(8);
const scratch = new DataView(scratchBytes.buffer);

function checkRead(b: Uint8Array, off: number, width: number): void {
  if (!(off >= 0 && off + width <= b.length)) throw new RangeError(`offset ${off} is outside the buffer`);
}

export function u16be(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

export function u32be(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

export function u64be(n: bigint): Uint8Array {
  scratch.setBigUint64(0, BigInt.asUintN(64, n));
  return scratchBytes.slice();
}

export function u64le(n: bigint): Uint8Array {
  scratch.setBigUint64(0, BigInt.asUintN(64, n), true);
  return scratchBytes.slice();
}

/** Writes BE64(n) into `out` at `off` (no allocation). */
export function writeU64be(out: Uint8Array, off: number, n: bigint): void {
  checkRead(out, off, 8);
  scratch.setBigUint64(0, BigInt.asUintN(64, n));
  out.set(scratchBytes, off);
}

export function readU16be(b: Uint8Array, off: number): number {
  checkRead(b, off, 2);
  return (b[off]! << 8) | b[off + 1]!;
}

export function readU32be(b: Uint8Array, off: number): number {
  checkRead(b, off, 4);
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function readU64be(b: Uint8Array, off: number): bigint {
  checkRead(b, off, 8);
  for (let i = 0; i < 8; i++) scratchBytes[i] = b[off + i]!;
  return scratch.getBigUint64(0);
}

export function readU64le(b: Uint8Array, off: number): bigint {
  checkRead(b, off, 8);
  for (let i = 0; i < 8; i++) scratchBytes[i] = b[off + i]!;
  return scratch.getBigUint64(0, true);
}
