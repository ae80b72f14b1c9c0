/** Public surface of the peer transport. */
export {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FrameDecoder,
  FrameKind,
  frameError,
} from './frame.ts';
export type { PeerAddr, PeerStats, TransportLog, TransportOptions } from './options.ts';
export type { SnapshotHandler } from './snapshot-recv.ts';
export {
  type InboundStats,
  type MessageHandler,
  parseAddr,
  Transport,
  type UnreachableHandler,
} from './transport.ts';
