import { concatBytes, readU16be, readU64be, u16be, u64be, utf8 } from '../util/bytes.ts';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

/**
 * The cleartext header in front of every FSM snapshot body (encryption.md §13).
 * It is read before any key is loaded, so it carries only what start-up and
 * restore must know: the HLC ceiling and the Phase-2 raft cutover.
 *
 *   v1: "EKVTHLC1" ‖ BE64 ceiling                          (16 bytes)
 *   v2: "EKVTHLC2" ‖ BE16 len(=16) ‖ BE64 ceiling ‖ BE64 cutover (26 bytes)
 */
export const SNAPSHOT_MAGIC_V1 = utf8('EKVTHLC1');
export const SNAPSHOT_MAGIC_V2 = utf8('EKVTHLC2');
const MAGIC_STEM = utf8('EKVTHLC');
const MAGIC_LEN = 8;
const V2_FIELDS = 16;
const V2_MAX_LEN = 1024;
const U64_MAX = (1n << 64n) - 1n;

/** Longest header a reader may have to look at before the body starts. */
export const SNAPSHOT_HEADER_MAX_BYTES = MAGIC_LEN + 2 + V2_MAX_LEN;

export interface SnapshotHeader {
  /** 0 = headerless (legacy body, nothing consumed). */
  readonly version: 0 | 1 | 2;
  /** HLC physical milliseconds. */
  readonly ceilingMs: bigint;
  /** Phase-2 raft cutover index; 0 = inactive or unknown (v1, headerless). */
  readonly raftCutover: bigint;
  /** Bytes the header occupies; the body starts here. */
  readonly length: number;
}

const HEADERLESS: SnapshotHeader = { version: 0, ceilingMs: 0n, raftCutover: 0n, length: 0 };

function checkU64(name: string, v: bigint): void {
  if (v < 0n || v > U64_MAX) {
    throw sealError(Err.InvalidArgument, `snapshot header ${name} ${v} is outside uint64`, { [name]: v });
  }
}

export function encodeSnapshotHeaderV1(ceilingMs: bigint): Uint8Array {
  checkU64('ceiling', ceilingMs);
  return concatBytes(SNAPSHOT_MAGIC_V1, u64be(ceilingMs));
}

export function encodeSnapshotHeaderV2(ceilingMs: bigint, raftCutover: bigint): Uint8Array {
  checkU64('ceiling', ceilingMs);
  checkU64('cutover', raftCutover);
  return concatBytes(SNAPSHOT_MAGIC_V2, u16be(V2_FIELDS), u64be(ceilingMs), u64be(raftCutover));
}

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

/**
 * Reads the header at the start of `bytes`, which must hold the whole stream
 * or at least its first SNAPSHOT_HEADER_MAX_BYTES bytes. Fewer than 8 bytes, or
 * a prefix that is not `EKVTHLC?`, is a headerless legacy body.
 */
export function decodeSnapshotHeader(bytes: Uint8Array): SnapshotHeader {
  if (bytes.length < MAGIC_LEN || !startsWith(bytes, MAGIC_STEM)) return HEADERLESS;
  if (startsWith(bytes, SNAPSHOT_MAGIC_V1)) {
    if (bytes.length < MAGIC_LEN + 8) {
      throw sealError(
        Err.SnapshotHeaderInvalidLength,
        `snapshot header EKVTHLC1 is truncated: ${bytes.length} bytes, want 16`,
        { available: bytes.length },
      );
    }
    return { version: 1, ceilingMs: readU64be(bytes, MAGIC_LEN), raftCutover: 0n, length: 16 };
  }
  if (startsWith(bytes, SNAPSHOT_MAGIC_V2)) {
    if (bytes.length < MAGIC_LEN + 2) {
      throw sealError(
        Err.SnapshotHeaderInvalidLength,
        'snapshot header EKVTHLC2 ends before its length field',
        {
          available: bytes.length,
        },
      );
    }
    const len = readU16be(bytes, MAGIC_LEN);
    if (len < V2_FIELDS || len > V2_MAX_LEN) {
      throw sealError(
        Err.SnapshotHeaderInvalidLength,
        `snapshot header EKVTHLC2 declares length ${len}; want ${V2_FIELDS}..${V2_MAX_LEN}`,
        { len },
      );
    }
    const start = MAGIC_LEN + 2;
    if (bytes.length < start + len) {
      throw sealError(
        Err.SnapshotHeaderInvalidLength,
        `snapshot header EKVTHLC2 declares length ${len} but only ${bytes.length - start} bytes follow`,
        { len, available: bytes.length - start },
      );
    }
    // Bytes beyond the first 16 belong to a future minor extension: skipped, never interpreted.
    return {
      version: 2,
      ceilingMs: readU64be(bytes, start),
      raftCutover: readU64be(bytes, start + 8),
      length: start + len,
    };
  }
  const magic = new TextDecoder('latin1').decode(bytes.subarray(0, MAGIC_LEN));
  throw sealError(
    Err.SnapshotHeaderUnknownMagic,
    `snapshot header magic ${JSON.stringify(magic)} is not EKVTHLC1 or EKVTHLC2; this build cannot restore it`,
    { magic },
  );
}

/**
 * Splits a snapshot byte stream into its header and body with one buffered
 * reader: only as many bytes as the header needs are held back, the rest of
 * the stream (including what was buffered past the header) is the body.
 */
export async function splitSnapshotHeader(
  chunks: AsyncIterable<Uint8Array>,
): Promise<{ header: SnapshotHeader; body: AsyncIterable<Uint8Array> }> {
  const it = chunks[Symbol.asyncIterator]();
  let buf: Uint8Array = new Uint8Array(0);
  let ended = false;
  const fill = async (want: number): Promise<void> => {
    while (!ended && buf.length < want) {
      const r = await it.next();
      if (r.done) ended = true;
      else buf = concatBytes(buf, r.value);
    }
  };
  await fill(MAGIC_LEN);
  if (buf.length >= MAGIC_LEN && startsWith(buf, SNAPSHOT_MAGIC_V2)) {
    await fill(MAGIC_LEN + 2);
    if (buf.length >= MAGIC_LEN + 2) await fill(MAGIC_LEN + 2 + readU16be(buf, MAGIC_LEN));
  } else if (buf.length >= MAGIC_LEN && startsWith(buf, SNAPSHOT_MAGIC_V1)) {
    await fill(16);
  }
  const header = decodeSnapshotHeader(buf);
  const rest = buf.subarray(header.length);
  async function* body(): AsyncGenerator<Uint8Array> {
    if (rest.length > 0) yield rest;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { header, body: body() };
}

/**
 * Chooses the header for each new snapshot. Once this process has seen a
 * non-zero cutover it never goes back to v1: a sidecar that later reads 0
 * (restored from an old copy, hand-edited) must not make snapshots that hide
 * the cutover from the divergence guard. That situation is logged once.
 */
export class SnapshotHeaderWriter {
  private latched = 0n;
  private warned = false;

  constructor(private readonly logError: (message: string) => void = () => {}) {}

  /** The header for a snapshot created now, given the sidecar's current raft cutover. */
  encode(ceilingMs: bigint, sidecarCutover: bigint): Uint8Array {
    if (sidecarCutover !== 0n) {
      this.latched = sidecarCutover;
      return encodeSnapshotHeaderV2(ceilingMs, sidecarCutover);
    }
    if (this.latched === 0n) return encodeSnapshotHeaderV1(ceilingMs);
    if (!this.warned) {
      this.warned = true;
      this.logError(
        `${Err.EnvelopeCutoverDivergence}: sidecar raft cutover reads 0 after this process saw ` +
          `${this.latched}; snapshots keep the v2 header with cutover ${this.latched}`,
      );
    }
    return encodeSnapshotHeaderV2(ceilingMs, this.latched);
  }

  get latchedCutover(): bigint {
    return this.latched;
  }
}
