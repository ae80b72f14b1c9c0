import type { Command } from 'commander';
import { ConfigError, parseServerConfig } from '../server/config.ts';
import { jsonLogger } from '../server/log.ts';
import { SealkvNode } from '../server/node.ts';
import { refusalLine } from '../server/startup.ts';

export const EXIT_REFUSED = 3;
export const EXIT_HALT = 4;

/**
 * `sealkv server`: runs one node until SIGTERM/SIGINT (exit 0), a start-up
 * refusal (exit 3, one stderr line naming the Err…), or an apply halt (exit 4,
 * `halt index=<i> <Err…> <detail>`) (interface.md §2).
 */
export async function runServer(argv: readonly string[]): Promise<number> {
  let config: ReturnType<typeof parseServerConfig>;
  try {
    config = parseServerConfig(argv, 'server');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    return 2;
  }
  const log = jsonLogger(config.logLevel, config.id);
  let node: SealkvNode;
  try {
    node = await SealkvNode.start(config, log);
  } catch (e) {
    process.stderr.write(`${refusalLine(e)}\n`);
    return EXIT_REFUSED;
  }
  const signalled = new Promise<'signal'>((resolve) => {
    process.once('SIGTERM', () => resolve('signal'));
    process.once('SIGINT', () => resolve('signal'));
  });
  const outcome = await Promise.race([signalled, node.done]);
  if (outcome === 'signal') {
    await node.stop();
    return 0;
  }
  if (outcome.kind === 'halt') {
    const h = outcome.halt;
    process.stderr.write(`halt index=${h.index} ${h.code} ${h.detail.replace(/\s+/g, ' ')}\n`);
    return EXIT_HALT;
  }
  if (outcome.kind === 'fatal') {
    process.stderr.write(
      `fatal: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}\n`,
    );
    return 1;
  }
  return 0;
}

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('run one sealkv node (flags: see docs/spec/interface.md §2)')
    .helpOption('-h, --help')
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument('[flags...]')
    .action(async (flags: string[]) => {
      process.exitCode = await runServer(flags);
      // Listeners and timers are closed; exit even if a library keeps a handle.
      process.exit(process.exitCode);
    });
}
