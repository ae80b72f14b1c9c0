import type { Command } from 'commander';
import { generateKekFile } from '../encryption/kek/file-provider.ts';

/** `sealkv kek generate --out <path>` (interface.md §2). */
export function registerKekCommands(program: Command): void {
  const kek = program.command('kek').description('manage key-encryption key files');
  kek
    .command('generate')
    .description('write a new 32-byte KEK with mode 0600 (never overwrites)')
    .requiredOption('--out <path>', 'where to write the KEK file')
    .action((opts: { out: string }) => {
      generateKekFile(opts.out);
      process.stdout.write(`generated kek_file=${opts.out} mode=0600\n`);
    });
}
