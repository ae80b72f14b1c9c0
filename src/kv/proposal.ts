import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

/**
 * Raft normal entry data = proposal header (9 B: 0x01 ‖ BE64 proposal_id) ‖ body
 * (encryption.md §3.5). The header stays cleartext after the raft cutover so a
 * proposer can match the applied entry to its waiting caller; only the body is
 * wrapped.
 */
export const PROPOSAL_HEADER_BYTES = 9;
const PROPOSAL_MARKER = 0x01;

export function encodeProposal(proposalId: bigint, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(PROPOSAL_HEADER_BYTES + body.length);
  out[0] = PROPOSAL_MARKER;
  new DataView(out.buffer).setBigUint64(1, BigInt.asUintN(64, proposalId));
  out.set(body, PROPOSAL_HEADER_BYTES);
  return out;
}

export interface DecodedProposal {
  proposalId: bigint;
  body: Uint8Array;
}

/**
 * Splits entry data. Empty data (a leader's term-start entry) returns undefined:
 * a no-op. Anything shorter than the header or with another marker is a halt.
 */
export function decodeProposal(data: Uint8Array): DecodedProposal | undefined {
  if (data.length === 0) return undefined;
  if (data.length < PROPOSAL_HEADER_BYTES || data[0] !== PROPOSAL_MARKER) {
    throw sealError(
      Err.ProposalHeaderMalformed,
      `entry data of ${data.length} bytes does not start with the 9-byte proposal header (marker 0x01)`,
      { length: data.length, marker: data[0] },
    );
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { proposalId: view.getBigUint64(1), body: data.subarray(PROPOSAL_HEADER_BYTES) };
}
