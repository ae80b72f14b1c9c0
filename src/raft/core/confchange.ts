import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { type ConfChange, ConfChangeType } from './types.ts';

/**
 * Entry payload of a conf change: type u8 ‖ node id length u16be ‖ node id utf8 ‖
 * context length u32be ‖ context. Every replica decodes it at apply time (D2).
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const id = new TextEncoder().encode(cc.node);
  const out = new Uint8Array(1 + 2 + id.length + 4 + cc.context.length);
  const dv = new DataView(out.buffer);
  out[0] = cc.type;
  dv.setUint16(1, id.length);
  out.set(id, 3);
  dv.setUint32(3 + id.length, cc.context.length);
  out.set(cc.context, 7 + id.length);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const bad = (why: string) => sealError(Err.InvalidArgument, `malformed conf change entry: ${why}`, {});
  if (data.length < 7) throw bad('too short');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = data[0] ?? 255;
  if (!(type in ConfChangeType) || type > ConfChangeType.RemoveNode) throw bad(`unknown type ${type}`);
  const idLen = dv.getUint16(1);
  if (data.length < 7 + idLen) throw bad('truncated node id');
  const node = new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(3, 3 + idLen));
  const ctxLen = dv.getUint32(3 + idLen);
  if (data.length !== 7 + idLen + ctxLen) throw bad('bad context length');
  return { type: type as ConfChangeType, node, context: data.slice(7 + idLen) };
}
