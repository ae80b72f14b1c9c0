import type { Command } from 'commander';
import type { GuardStatus } from '../encryption/guards/index.ts';
import { ConfigError, parseServerConfig } from '../server/config.ts';
import { diagnoseEncryption } from '../server/startup.ts';

/** Exit code of a start-up refusal (interface.md §2); doctor reuses it when any guard refuses. */
export const EXIT_REFUSED = 3;

export function formatGuardLine(s: GuardStatus): string {
  const one = (t: string) => t.replace(/\s+/g, ' ').trim();
  switch (s.status) {
    case 'ok':
      return `guard=${s.guard} ok ${one(s.detail)}`;
    case 'refused':
      return `guard=${s.guard} refused ${s.code} ${one(s.detail)}`;
    case 'skipped':
      return `guard=${s.guard} skipped ${one(s.reason)}`;
  }
}

/** Runs the doctor over `sealkv server` flags; returns the exit code. */
export async function runDoctor(
  argv: readonly string[],
  out: (line: string) => void,
  warn: (line: string) => void = () => {},
): Promise<number> {
  const config = parseServerConfig(argv, 'doctor');
  const results = await diagnoseEncryption(config, { warn: (m) => warn(`warning: ${m}`) });
  for (const r of results) out(formatGuardLine(r));
  return results.some((r) => r.status === 'refused') ? EXIT_REFUSED : 0;
}

/** `sealkv doctor [server flags]` (interface.md §2). */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('run the start-up guards against the given server flags without starting the node')
    .helpOption('-h, --help')
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument('[server-flags...]')
    .action(async (flags: string[]) => {
      try {
        process.exitCode = await runDoctor(
          flags,
          (line) => process.stdout.write(`${line}\n`),
          (line) => process.stderr.write(`${line}\n`),
        );
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        process.stderr.write(`error: ${e.message}\n`);
        process.exitCode = 2;
      }
    });
}
