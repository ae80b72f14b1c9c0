import { Command, CommanderError } from 'commander';
import { SealError } from '../util/errors.ts';
import { registerCommands } from './commands.ts';

/**
 * Runs the `sealkv` CLI and returns the process exit code: 0 success, 1 runtime
 * or RPC failure, 2 usage error (interface.md §2).
 */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('sealkv')
    .description('sealkv: a Raft-replicated, encrypted-at-rest key-value store')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerCommands(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      ) {
        return 0;
      }
      return 2;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof SealError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

/** A bad flag or failed client-side check: exit 2, one line on stderr, no RPC made. */
export class UsageError extends Error {}
