import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

export const NONCE_SIZE = 12;
const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffffffff;

export interface NonceFactoryOptions {
  /** The write count already used; the next nonce carries `lastCount + 1`. Default 0. */
  lastCount?: bigint;
}

/**
 * Deterministic 96-bit GCM nonces (encryption.md §3.2):
 * `BE16 node_id16 ‖ BE16 pinned epoch ‖ BE64 write_count`. Pure: no clock, no
 * randomness. Uniqueness rests on the registry (node_id16 per DEK), the epoch
 * bump per process load and the strictly increasing count, so a count that
 * would wrap fails permanently instead of ever repeating a nonce.
 */
export class NonceFactory {
  readonly nodeId16: number;
  readonly epoch: number;
  // The uint64 count as two uint32 halves: the per-value path stays in plain
  // number arithmetic instead of allocating a bigint for every nonce.
  private hi: number;
  private lo: number;

  constructor(nodeId16: number, epoch: number, opts: NonceFactoryOptions = {}) {
    if (!Number.isInteger(nodeId16) || nodeId16 < 0 || nodeId16 > 0xffff) {
      throw sealError(Err.InvalidArgument, `node_id16 ${nodeId16} is not a uint16`, { nodeId16 });
    }
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffff) {
      throw sealError(Err.LocalEpochOutOfRange, `local epoch ${epoch} is not a uint16`, { epoch });
    }
    const last = opts.lastCount ?? 0n;
    if (last < 0n || last > U64_MAX) {
      throw sealError(Err.InvalidArgument, `write count ${last} is not a uint64`, { last });
    }
    this.nodeId16 = nodeId16;
    this.epoch = epoch;
    this.hi = Number(last >> 32n);
    this.lo = Number(last & 0xffffffffn);
  }

  /** The last write count handed out (0 before the first nonce). */
  lastCount(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** Returns a fresh 12-byte nonce. */
  next(): Uint8Array {
    const out = new Uint8Array(NONCE_SIZE);
    this.writeNext(out, 0);
    return out;
  }

  /**
   * Writes the next nonce into `out[offset, offset+12)`, letting the envelope
   * place it directly in its output without an intermediate buffer.
   */
  writeNext(out: Uint8Array, offset: number): void {
    if (this.lo === U32_MAX) {
      // The count stays at its maximum, so every later call fails too (latched).
      if (this.hi === U32_MAX) {
        throw sealError(
          Err.WriteCountExhausted,
          `nonce write count exhausted for node_id16 ${this.nodeId16} epoch ${this.epoch}; restart to pin a new epoch`,
          { nodeId16: this.nodeId16, epoch: this.epoch },
        );
      }
      this.hi += 1;
      this.lo = 0;
    } else {
      this.lo += 1;
    }
    const n = this.nodeId16;
    const e = this.epoch;
    const hi = this.hi;
    const lo = this.lo;
    out[offset] = n >>> 8;
    out[offset + 1] = n & 0xff;
    out[offset + 2] = e >>> 8;
    out[offset + 3] = e & 0xff;
    out[offset + 4] = hi >>> 24;
    out[offset + 5] = (hi >>> 16) & 0xff;
    out[offset + 6] = (hi >>> 8) & 0xff;
    out[offset + 7] = hi & 0xff;
    out[offset + 8] = lo >>> 24;
    out[offset + 9] = (lo >>> 16) & 0xff;
    out[offset + 10] = (lo >>> 8) & 0xff;
    out[offset + 11] = lo & 0xff;
  }
}
