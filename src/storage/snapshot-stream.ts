/**
 * Whole-store snapshot stream: every namespace's rows copied verbatim (so
 * sealed values travel still sealed) in a self-checking byte format.
 *
 *   "SKVSNAP1"                                     magic, 8 bytes
 *   per namespace:  'N' ‖ u8 len ‖ name            section start
 *                   'R' ‖ BE32 klen ‖ key ‖ BE32 vlen ‖ value   (ascending keys)
 *   'E' ‖ BE64 row_count ‖ BE32 crc32c             trailer; the CRC covers
 *                                                  every byte before it
 *
 * The decoder validates while it streams (names, key order, lengths) and
 * checks count and CRC at the end; the engine's replaceAll only swaps once
 * the source finished cleanly, so a corrupt or truncated stream changes
 * nothing.
 */
import { compareBytes, concatBytes, readU32be, readU64be, u32be, u64be, utf8 } from '../util/bytes.ts';
import { Err } from '../util/codes.ts';
import { crc32c } from '../util/crc32c.ts';
import { sealError } from '../util/errors.ts';
import {
  type Engine,
  isNamespace,
  MAX_KEY_SIZE,
  NAMESPACES,
  type Namespace,
  type NamespacedRow,
} from './engine.ts';

const MAGIC = utf8('SKVSNAP1');
const TAG_NAMESPACE = 0x4e;
const TAG_ROW = 0x52;
const TAG_END = 0x45;
const DEFAULT_CHUNK = 64 * 1024;
/**
 * Bytes read from the pinned snapshot between yields to the event loop. The
 * reads are synchronous and a consumer that only awaits other chunks never
 * leaves the microtask queue: without a macrotask turn, a store of a few
 * hundred MB starved the node's ticks and sockets for seconds (an election).
 */
const YIELD_EVERY_BYTES = 1024 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** A value larger than this is corruption, not data (lmdb values are far smaller in practice). */
const MAX_VALUE_LEN = 512 * 1024 * 1024;

/**
 * Pins a snapshot now and returns its byte stream. The snapshot is released
 * when the stream is consumed to the end or abandoned (`return`/`break`).
 */
export function snapshotStream(engine: Engine, chunkSize = DEFAULT_CHUNK): AsyncIterable<Uint8Array> {
  const snap = engine.snapshot();
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      const out = new ChunkWriter(chunkSize);
      out.push(MAGIC);
      let rows = 0n;
      let sinceYield = 0;
      for (const ns of NAMESPACES) {
        const name = utf8(ns);
        out.push(Uint8Array.of(TAG_NAMESPACE, name.length), name);
        for (const { key, value } of snap.range(ns)) {
          out.push(Uint8Array.of(TAG_ROW), u32be(key.length), key, u32be(value.length), value);
          rows++;
          yield* out.drain(false);
          sinceYield += key.length + value.length;
          if (sinceYield >= YIELD_EVERY_BYTES) {
            sinceYield = 0;
            await nextTurn();
          }
        }
      }
      out.push(Uint8Array.of(TAG_END), u64be(rows));
      out.push(u32be(out.crc));
      yield* out.drain(true);
    } finally {
      snap.close();
    }
  }
  return chunks();
}

/** Atomically replaces the whole store with the contents of a snapshot stream. */
export async function restoreSnapshot(engine: Engine, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  await engine.replaceAll(decodeSnapshot(chunks));
}

/** Parses a snapshot stream into rows; throws ErrStorageSnapshotCorrupt on any defect. */
export async function* decodeSnapshot(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<NamespacedRow> {
  const r = new ChunkReader(chunks[Symbol.asyncIterator]());
  const magic = await r.read(MAGIC.length);
  if (compareBytes(magic, MAGIC) !== 0) throw corrupt('bad magic');
  const seen = new Set<Namespace>();
  let ns: Namespace | undefined;
  let prev: Uint8Array | undefined;
  let rows = 0n;
  for (;;) {
    const tag = (await r.read(1))[0];
    if (tag === TAG_NAMESPACE) {
      const name = new TextDecoder().decode(await r.read((await r.read(1))[0]!));
      if (!isNamespace(name) || seen.has(name)) throw corrupt(`unknown or repeated namespace "${name}"`);
      seen.add(name);
      ns = name;
      prev = undefined;
    } else if (tag === TAG_ROW) {
      if (ns === undefined) throw corrupt('row before any namespace');
      const keyLen = readU32be(await r.read(4), 0);
      if (keyLen === 0 || keyLen > MAX_KEY_SIZE) throw corrupt('key length out of range');
      const key = await r.read(keyLen);
      const valueLen = readU32be(await r.read(4), 0);
      if (valueLen > MAX_VALUE_LEN) throw corrupt('value length out of range');
      const value = await r.read(valueLen);
      if (prev !== undefined && compareBytes(prev, key) >= 0) throw corrupt('keys out of order');
      prev = key;
      rows++;
      yield { ns, key, value };
    } else if (tag === TAG_END) {
      const count = readU64be(await r.read(8), 0);
      const expected = r.crc;
      const crc = readU32be(await r.read(4), 0);
      if (count !== rows) throw corrupt('row count mismatch');
      if (crc !== expected) throw corrupt('checksum mismatch');
      if (!(await r.atEnd())) throw corrupt('bytes after the trailer');
      return;
    } else {
      throw corrupt(`unknown record tag ${String(tag)}`);
    }
  }
}

function corrupt(why: string): Error {
  return sealError(Err.StorageSnapshotCorrupt, `storage snapshot stream is corrupt (${why}); fetch it again`);
}

/** Accumulates small parts into chunks of about `size` bytes, tracking the CRC. */
class ChunkWriter {
  crc = 0;
  #parts: Uint8Array[] = [];
  #bytes = 0;
  readonly #size: number;

  constructor(size: number) {
    this.#size = size;
  }

  push(...parts: Uint8Array[]): void {
    for (const p of parts) {
      this.crc = crc32c(p, this.crc);
      this.#parts.push(p);
      this.#bytes += p.length;
    }
  }

  *drain(final: boolean): Generator<Uint8Array> {
    if (this.#bytes === 0 || (!final && this.#bytes < this.#size)) return;
    yield concatBytes(...this.#parts);
    this.#parts = [];
    this.#bytes = 0;
  }
}

/** Reads exact byte counts across arbitrary chunk boundaries, tracking the CRC. */
class ChunkReader {
  crc = 0;
  readonly #source: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #done = false;

  constructor(source: AsyncIterator<Uint8Array>) {
    this.#source = source;
  }

  async read(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (!(await this.#pull())) throw corrupt('truncated');
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    this.crc = crc32c(out, this.crc);
    return out;
  }

  async atEnd(): Promise<boolean> {
    while (this.#buf.length === 0) {
      if (!(await this.#pull())) return true;
    }
    return false;
  }

  async #pull(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#source.next();
    if (next.done) {
      this.#done = true;
      return false;
    }
    if (!(next.value instanceof Uint8Array)) throw corrupt('stream chunk is not bytes');
    this.#buf = this.#buf.length === 0 ? next.value : concatBytes(this.#buf, next.value);
    return true;
  }
}
