export { decodeConfChange, encodeConfChange } from './confchange.ts';
export type { RaftConfig } from './config.ts';
export { type PeerStatus, RaftCore, type Status } from './core.ts';
export { MemoryStorage } from './memory-storage.ts';
export { entrySize, type Message, type MessageType, makeMessage, messageSize } from './messages.ts';
export type { ReadState } from './readonly.ts';
export type { Ready } from './ready.ts';
export type { LogStorage } from './storage.ts';
export * from './types.ts';
