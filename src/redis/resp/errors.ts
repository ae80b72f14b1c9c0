/**
 * A violation of the wire protocol. It is returned (never thrown) by the
 * parsers: the connection answers `-<reply>\r\n` once and then closes, because
 * after a framing error the rest of the byte stream cannot be trusted. Errors of
 * a well-framed command (unknown command, bad arguments) are ordinary replies
 * and keep the connection open; they never take this shape.
 */
export class RespProtocolError {
  /** Always true: the caller must close the connection after replying. */
  readonly close = true;
  constructor(
    /** The full error reply text without the leading '-', e.g. `ERR Protocol error: ...`. */
    readonly reply: string,
  ) {}
}

/** Redis's own protocol error texts (networking.c), so clients see identical replies. */
export const ProtocolText = {
  tooBigInline: 'ERR Protocol error: too big inline request',
  unbalancedQuotes: 'ERR Protocol error: unbalanced quotes in request',
  tooBigMbulkCount: 'ERR Protocol error: too big mbulk count string',
  invalidMultibulkLength: 'ERR Protocol error: invalid multibulk length',
  tooBigBulkCount: 'ERR Protocol error: too big bulk count string',
  invalidBulkLength: 'ERR Protocol error: invalid bulk length',
  expectedDollar: (got: number) => `ERR Protocol error: expected '$', got '${String.fromCharCode(got)}'`,
  /** Redis closes silently here; a reply with a reason is friendlier and equally final. */
  queryBufferLimit: 'ERR Protocol error: query buffer limit exceeded',
} as const;

export function protocolError(reply: string): RespProtocolError {
  return new RespProtocolError(reply);
}
