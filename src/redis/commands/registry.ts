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

/**
 * COMMANDS again, bucketed by name length and first letter, with each name as
 * bytes: lookup() runs for every command a client sends, and matching the raw
 * argument bytes case-insensitively avoids building a string per command.
 */
interface NameEntry {
  readonly bytes: Uint8Array;
  readonly spec: CommandSpec;
}
const MAX_NAME_LENGTH = Math.max(...[...COMMANDS.keys()].map((n) => n.length));
const BY_SHAPE: (NameEntry[] | undefined)[] = new Array((MAX_NAME_LENGTH + 1) * 32).fill(undefined);

/** Bucket of a name: its length and the low 5 bits of its first byte (the same for both cases of a letter). */
function shapeSlot(length: number, first: number): number {
  return length * 32 + (first & 31);
}

for (const [name, spec] of COMMANDS) {
  const bytes = Buffer.from(name, 'latin1');
  const slot = shapeSlot(bytes.length, bytes[0]!);
  const bucket = BY_SHAPE[slot] ?? [];
  bucket.push({ bytes, spec });
  BY_SHAPE[slot] = bucket;
}

/**
 * The keyspace command named by `name`, compared as Redis does (ASCII letters
 * case-insensitively, every other byte exactly); undefined when none is.
 */
export function lookup(name: Uint8Array): CommandSpec | undefined {
  const len = name.length;
  if (len === 0 || len > MAX_NAME_LENGTH) return undefined;
  const bucket = BY_SHAPE[shapeSlot(len, name[0]!)];
  if (bucket === undefined) return undefined;
  for (let e = 0; e < bucket.length; e++) {
    const entry = bucket[e]!;
    const want = entry.bytes;
    let i = 0;
    while (i < len) {
      const got = name[i]!;
      const w = want[i]!;
      // Setting 0x20 lower-cases an ASCII capital; only letters may match that way.
      if (got !== w && ((got | 0x20) !== w || w < 0x61 || w > 0x7a)) break;
      i++;
    }
    if (i === len) return entry.spec;
  }
  return undefined;
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
