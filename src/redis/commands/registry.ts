import { SealError } from '../../util/errors.ts';
import { E, ReplyError } from './errors.ts';
import { hashCommands } from './hashes.ts';
import { keyCommands } from './keys.ts';
import { listCommands } from './lists.ts';
import { setCommands } from './sets.ts';
import { stringCommands } from './strings.ts';
import type { CommandSpec, CommandTx, Reply } from './types.ts';
import { zsetCommands } from './zsets.ts';

/** Every keyspace command, by lower-case name. Connection-level commands live in the server. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  [...stringCommands, ...keyCommands, ...listCommands, ...hashCommands, ...setCommands, ...zsetCommands].map(
    (c) => [c.name, c],
  ),
);

export function lookup(name: Buffer): CommandSpec | undefined {
  return COMMANDS.get(name.toString('latin1').toLowerCase());
}

/** Checks arity before anything runs, as Redis does. Returns an error reply or undefined. */
export function checkArity(spec: CommandSpec, args: Buffer[]): Reply | undefined {
  const ok = spec.arity >= 0 ? args.length === spec.arity : args.length >= -spec.arity;
  return ok ? undefined : { t: 'error', s: E.arity(spec.name) };
}

/**
 * Runs one keyspace command against a transactional view. Returns the reply and
 * whether the command's buffered writes must be kept: a command that failed
 * with an error reply keeps none of them (Redis commands are all-or-nothing).
 */
export function execute(spec: CommandSpec, tx: CommandTx, args: Buffer[]): { reply: Reply; ok: boolean } {
  try {
    return { reply: spec.run(tx, args), ok: true };
  } catch (e) {
    if (e instanceof ReplyError) return { reply: { t: 'error', s: e.reply }, ok: false };
    if (e instanceof SealError) return { reply: { t: 'error', s: sealErrorReply(e) }, ok: false };
    throw e;
  }
}

/** Refusals a client should retry (no leader yet, leadership moving, cutover barrier, lease renewal). */
const RETRYABLE = new Set([
  'ErrEnvelopeCutoverInProgress',
  'ErrWriterNotRegistered',
  'ErrStartupRotationPending',
  'ErrNotLeader',
  'ErrProposalFailed',
  'ErrProposalDropped',
  'ErrLeaderTransferring',
  'ErrHlcLeaseExhausted',
]);

/** interface.md §3: retryable encryption refusals as TRYAGAIN, integrity failures as ERR, both naming the code. */
export function sealErrorReply(e: SealError): string {
  const prefix = RETRYABLE.has(e.code) ? 'TRYAGAIN' : 'ERR';
  return `${prefix} ${e.message.replace(/[\r\n]+/g, ' ')}`;
}
