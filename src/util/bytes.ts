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

export function u16be(n: number): Uint8Array {
  const b = new Uint8Array(2);
  view(b).setUint16(0, n);
  return b;
}

export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, n);
  return b;
}

export function u64be(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  view(b).setBigUint64(0, BigInt.asUintN(64, n));
  return b;
}

export function u64le(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  view(b).setBigUint64(0, BigInt.asUintN(64, n), true);
  return b;
}

export function readU16be(b: Uint8Array, off: number): number {
  return view(b).getUint16(off);
}

export function readU32be(b: Uint8Array, off: number): number {
  return view(b).getUint32(off);
}

export function readU64be(b: Uint8Array, off: number): bigint {
  return view(b).getBigUint64(off);
}

export function readU64le(b: Uint8Array, off: number): bigint {
  return view(b).getBigUint64(off, true);
}
