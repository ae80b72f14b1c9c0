// Shrinking guard for key-value histories: every value a definite read observed (and every
// value a successful cas expected) must still be written by some remaining op. Without it,
// greedy shrinking deletes the write and ends on "read of a value nobody wrote", which is
// illegal but says nothing about the bug.

import type { KvCmd, KvInput, KvOutput } from './models.ts';
import type { Op } from './types.ts';

function cmdsOf(input: KvInput): readonly KvCmd[] {
  return input.f === 'multi' ? input.cmds : [input];
}

function outputsOf(input: KvInput, output: KvOutput | undefined): readonly (KvOutput | undefined)[] {
  if (input.f !== 'multi') return [output];
  return Array.isArray(output) ? (output as readonly KvOutput[]) : input.cmds.map(() => undefined);
}

function written(ops: readonly Op<KvInput, KvOutput>[]): Set<string> {
  const out = new Set<string>();
  for (const o of ops) {
    for (const c of cmdsOf(o.input))
      if (c.f === 'put' || c.f === 'cas' || c.f === 'append') out.add(`${c.key}\u0000${c.value}`);
  }
  return out;
}

function observed(c: KvCmd, out: KvOutput | undefined): string[] {
  if (out === undefined) return [];
  if (c.f === 'get' && typeof out === 'string') return [out];
  if (c.f === 'read' && Array.isArray(out)) return out.filter((v): v is string => typeof v === 'string');
  if (c.f === 'cas' && out === true && c.expect !== null) return [c.expect];
  return [];
}

export function valuesGrounded(ops: readonly Op<KvInput, KvOutput>[]): boolean {
  const w = written(ops);
  for (const o of ops) {
    const outs = outputsOf(o.input, o.output);
    const cmds = cmdsOf(o.input);
    for (let i = 0; i < cmds.length; i++) {
      const c = cmds[i]!;
      for (const v of observed(c, outs[i])) if (!w.has(`${c.key}\u0000${v}`)) return false;
    }
  }
  return true;
}

/**
 * Pending writes (single-key, or MULTI/EXEC batches) whose values no op could have observed
 * are dropped: such an op
 * can always be linearized after every other op, so keeping it only multiplies the search
 * (each pending op is concurrent with everything after its call). "Could have observed"
 * is conservative: a read showing the value, any cas expecting it, and, for registers, any
 * cas that reported failure on the key (a failed cas observes "not the old value").
 */
export function dropUnobservedPending(ops: readonly Op<KvInput, KvOutput>[]): Op<KvInput, KvOutput>[] {
  const seen = new Set<string>();
  const failedCasKeys = new Set<string>();
  for (const o of ops) {
    const outs = outputsOf(o.input, o.output);
    cmdsOf(o.input).forEach((c, i) => {
      for (const v of observed(c, outs[i])) seen.add(`${c.key}\u0000${v}`);
      if (c.f === 'cas' && c.expect !== null) seen.add(`${c.key}\u0000${c.expect}`);
      if (c.f === 'cas' && outs[i] !== true) failedCasKeys.add(c.key);
    });
  }
  const observable = (c: KvCmd): boolean => {
    if (c.f !== 'put' && c.f !== 'append' && c.f !== 'cas') return false;
    if (c.f !== 'append' && failedCasKeys.has(c.key)) return true;
    return seen.has(`${c.key}\u0000${c.value}`);
  };
  return ops.filter((o) => {
    if (o.output !== undefined) return true;
    const c = o.input;
    // A pending MULTI/EXEC batch goes too when none of its writes could have been observed:
    // its reads are unconstrained, so it too fits after every other op.
    if (c.f === 'multi') return c.cmds.some((x) => x.f === 'cas' || observable(x));
    if (c.f !== 'put' && c.f !== 'append' && c.f !== 'cas') return true;
    return observable(c);
  });
}
