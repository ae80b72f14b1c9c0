/**
 * The data model shared by the pure Raft core, the WAL, the transport and the
 * node driver. Node ids are the `--id` strings. Terms and indexes are plain
 * numbers: they stay far below 2^53 in any realistic lifetime.
 */

export type NodeId = string;

export enum EntryType {
  /** Application data; empty data = the term-start entry of a new leader. */
  Normal = 0,
  /** A membership change; data is an encoded ConfChange. */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

export interface HardState {
  term: number;
  /** '' = no vote in this term. */
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  /** Membership as of `index` (pitfall 31: config survives snapshot + restart). */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** Opaque state-machine image produced by the FSM. */
  data: Uint8Array;
}

export enum ConfChangeType {
  AddVoter = 0,
  AddLearner = 1,
  PromoteLearner = 2,
  RemoveNode = 3,
}

export interface ConfChange {
  type: ConfChangeType;
  node: NodeId;
  /** Opaque context carried with the change (e.g. the member's raft and admin addresses). */
  context: Uint8Array;
}
