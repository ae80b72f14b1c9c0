import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

export const NONCE_SIZE = 12;
const U64_MAX = (1n << 64n) - 1n;

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
  private count: bigint;
  private exhausted = false;

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
    this.count = last;
  }

  /** The last write count handed out (0 before the first nonce). */
  lastCount(): bigint {
    return this.count;
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
    if (this.exhausted || this.count >= U64_MAX) {
      this.exhausted = true;
      throw sealError(
        Err.WriteCountExhausted,
        `nonce write count exhausted for node_id16 ${this.nodeId16} epoch ${this.epoch}; restart to pin a new epoch`,
        { nodeId16: this.nodeId16, epoch: this.epoch },
      );
    }
    this.count += 1n;
    const dv = new DataView(out.buffer, out.byteOffset + offset, NONCE_SIZE);
    dv.setUint16(0, this.nodeId16);
    dv.setUint16(2, this.epoch);
    dv.setBigUint64(4, this.count);
  }
}
