export { ByteQueue } from './byte-queue.ts';
export { DEFAULT_RESP_LIMITS, RespCommandParser, type RespLimits } from './command-parser.ts';
export { ProtocolText, RespProtocolError } from './errors.ts';
export { splitInlineArgs } from './inline.ts';
export { array, bulk, error, integer, type RespReply, simple } from './reply.ts';
export { DEFAULT_REPLY_LIMITS, type RespReplyLimits, RespReplyParser } from './reply-parser.ts';
export { encodeCommand, encodeReply, ReplyWriter, type ReplyWriterOptions } from './writer.ts';
