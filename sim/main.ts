// Entry point of `npm run sim` (node --import tsx sim/main.ts).
import { runCli } from './cli.ts';

let code: number;
try {
  code = await runCli(process.argv.slice(2), { print: (line) => console.log(line), outDir: 'sim/out' });
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  code = 2;
}
process.exitCode = code;
