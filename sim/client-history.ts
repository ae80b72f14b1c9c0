import type { KvInput, KvOutput } from './lincheck/models.ts';
import type { RawOp } from './lincheck/types.ts';

/**
 * What a simulated client keeps for the linearizability checker: every
 * completed or timed-out op, and the event at which it returned (so a failure
 * report can point at the exact event).
 */
export class ClientHistory {
  readonly ops: RawOp<KvInput, KvOutput>[] = [];
  readonly retEvById = new Map<number, number>();

  record(
    op: { id: number; client: number; cmd: KvInput; callMs: number; retMs: number; retEv: number },
    outcome: 'ok' | 'unknown',
    output?: KvOutput,
  ): void {
    const base = {
      id: op.id,
      client: op.client,
      // A MULTI/EXEC batch spans keys: the checker runs such histories under the whole-map model.
      key: op.cmd.f === 'multi' ? '*' : op.cmd.key,
      input: op.cmd,
      call: op.callMs,
      ret: op.retMs,
      outcome,
    };
    this.ops.push(output === undefined ? base : { ...base, output });
    this.retEvById.set(op.id, op.retEv);
  }
}
