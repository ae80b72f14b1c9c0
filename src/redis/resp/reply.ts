/**
 * A RESP2 reply tree. The command layer builds these; the connection encodes
 * them with ReplyWriter; RespReplyParser decodes them (client side, forwarding).
 */
export type RespReply =
  | { t: 'simple'; s: string }
  | { t: 'error'; s: string }
  | { t: 'int'; n: number | bigint }
  | { t: 'bulk'; b: Buffer | null }
  | { t: 'array'; items: RespReply[] | null };

export const simple = (s: string): RespReply => ({ t: 'simple', s });
export const error = (s: string): RespReply => ({ t: 'error', s });
export const integer = (n: number | bigint): RespReply => ({ t: 'int', n });
export const bulk = (b: Buffer | string | null): RespReply => ({
  t: 'bulk',
  b: typeof b === 'string' ? Buffer.from(b) : b,
});
export const array = (items: RespReply[] | null): RespReply => ({ t: 'array', items });
