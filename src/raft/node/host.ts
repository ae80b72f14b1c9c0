import type { NodeId } from '../core/types.ts';
import type { HaltInfo, NodeLogger } from './types.ts';

/**
 * What the node's parts may ask of the node that owns them. Only the node decides when it
 * stops, so the parts report failures and halts here instead of changing state themselves.
 */
export interface NodeHost {
  readonly id: NodeId;
  readonly log: NodeLogger;
  /** False once the node began stopping for any reason: parts then drop their work. */
  running(): boolean;
  /** Lets the Ready loop look at the core again. */
  wake(): void;
  /** A broken invariant or a WAL error: the node stops and recovers from disk on restart. */
  fail(e: unknown): void;
  /** The state machine refused an entry: the node stops without advancing. */
  halt(halt: HaltInfo): void;
  stoppedError(): Error;
}

/** Runs `fn` (a step into the core); a throw from the core is a broken invariant. */
export function guarded(host: NodeHost, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    host.fail(e);
  }
}
