import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64_MAX = (1n << 64n) - 1n;

/**
 * The node's 64-bit identity (encryption.md §2.5): FNV-1a-64 of the UTF-8 bytes
 * of the `--id` string. 0 is reserved for "not encryption-capable", so an empty
 * id maps to 0 and a real id that happens to hash to 0 is moved to 1.
 */
export function fullNodeId(id: string): bigint {
  if (id.length === 0) return 0n;
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(id, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & U64_MAX;
  }
  return h === 0n ? 1n : h;
}

/** The one narrowing every component uses for nonces and registry keys. */
export function nodeId16(full: bigint): number {
  return Number(full & 0xffffn);
}

const DECIMAL = /^[0-9]+$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;

/**
 * Parses a full node id written as decimal or `0x` hex. The whole string must
 * parse (no sign, no whitespace, no trailing junk) and fit in a uint64.
 */
export function parseFullNodeId(text: string): bigint {
  if (!DECIMAL.test(text) && !HEX.test(text)) {
    throw sealError(Err.InvalidArgument, `full node id "${text}" is not a decimal or 0x-hex integer`, {
      text,
    });
  }
  const value = BigInt(text);
  if (value > U64_MAX) {
    throw sealError(Err.InvalidArgument, `full node id "${text}" exceeds 2^64-1`, { text });
  }
  return value;
}

/** `0x<16 hex> (<dec>)`, the CLI's rendering of a full node id. */
export function formatFullNodeId(full: bigint): string {
  return `0x${full.toString(16).padStart(16, '0')} (${full})`;
}

/** `0x<4 hex> (<dec>)`, the CLI's rendering of a 16-bit node id. */
export function formatNodeId16(id16: number): string {
  return `0x${id16.toString(16).padStart(4, '0')} (${id16})`;
}
