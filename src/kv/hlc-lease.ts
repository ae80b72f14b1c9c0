import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';
import { HLC_MAX_PHYSICAL_MS } from './hlc.ts';

/**
 * The FSM payload of an HLC lease (encryption.md §6.1 opcode 0x02):
 * `0x02 ‖ 0x01 (wire version) ‖ BE64 ceiling_ms` = 10 bytes. The version byte
 * follows the rule that every opcode is followed by wire version 0x01.
 */
export const OP_HLC_LEASE = 0x02;
const WIRE_VERSION = 0x01;
export const HLC_LEASE_PAYLOAD_BYTES = 10;

export function encodeHlcLease(ceilingMs: number): Uint8Array {
  if (!Number.isSafeInteger(ceilingMs) || ceilingMs < 0 || ceilingMs > HLC_MAX_PHYSICAL_MS) {
    throw sealError(Err.InvalidArgument, 'an HLC lease ceiling is integer ms in [0, 2^48)', { ceilingMs });
  }
  const out = new Uint8Array(HLC_LEASE_PAYLOAD_BYTES);
  out[0] = OP_HLC_LEASE;
  out[1] = WIRE_VERSION;
  new DataView(out.buffer).setBigUint64(2, BigInt(ceilingMs));
  return out;
}

/** The ceiling in ms; a wrong opcode, length or range is ErrFSMWireMalformed, a wrong version ErrFSMWireVersion. */
export function decodeHlcLease(payload: Uint8Array): number {
  if (payload[0] !== OP_HLC_LEASE) {
    throw sealError(Err.FSMWireMalformed, 'not an HLC lease payload', { opcode: payload[0] });
  }
  if (payload.length < 2)
    throw sealError(Err.FSMWireMalformed, 'HLC lease payload truncated before its version');
  if (payload[1] !== WIRE_VERSION) {
    throw sealError(Err.FSMWireVersion, `HLC lease wire version ${payload[1]}, want ${WIRE_VERSION}`);
  }
  if (payload.length !== HLC_LEASE_PAYLOAD_BYTES) {
    throw sealError(
      Err.FSMWireMalformed,
      `HLC lease payload is ${payload.length} bytes, want ${HLC_LEASE_PAYLOAD_BYTES}`,
    );
  }
  const ceiling = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(2);
  if (ceiling > BigInt(HLC_MAX_PHYSICAL_MS)) {
    throw sealError(Err.FSMWireMalformed, 'HLC lease ceiling exceeds 48 bits', { ceiling });
  }
  return Number(ceiling);
}
