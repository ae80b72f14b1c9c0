import { type Command, InvalidArgumentError } from 'commander';
import { generateDek, pickNewKeyId } from '../encryption/dek.ts';
import {
  formatFullNodeId,
  formatNodeId16,
  fullNodeId,
  nodeId16,
  parseFullNodeId,
} from '../encryption/identity.ts';
import { FileKekProvider } from '../encryption/kek/file-provider.ts';
import { Err, type RpcCode } from '../util/codes.ts';
import { SealError, sealError } from '../util/errors.ts';
import { UsageError } from './main.ts';

/**
 * Returns the `sealkv admin encryption` command group, creating `admin` and
 * `encryption` on first use, so local and networked verbs share one group.
 */
export function encryptionCommand(program: Command): Command {
  const admin = findOrCreate(program, 'admin', 'administer a running cluster');
  return findOrCreate(admin, 'encryption', 'data-at-rest encryption (encryption.md §9)');
}

function findOrCreate(parent: Command, name: string, description: string): Command {
  return parent.commands.find((c) => c.name() === name) ?? parent.command(name).description(description);
}

/** The verbs of encryption.md §9 that run locally, without an RPC. */
export function registerLocalEncryptionVerbs(program: Command): void {
  const enc = encryptionCommand(program);

  enc
    .command('generate-dek')
    .description('print a random unused key id and a random DEK wrapped by the file KEK')
    .requiredOption('--kek-file <path>', 'the 32-byte KEK file')
    .option('--existing-id <id>', 'a key id already in use (repeatable)', collectKeyId, [])
    .action((opts: { kekFile: string; existingId: number[] }) =>
      reportLocalFailure(() => {
        const kek = FileKekProvider.open(opts.kekFile);
        const id = pickNewKeyId(opts.existingId);
        const dek = generateDek();
        try {
          const wrapped = kek.wrap(dek);
          process.stdout.write(`dek_id=${id} wrapped_dek=${Buffer.from(wrapped).toString('base64')}\n`);
        } finally {
          dek.fill(0);
        }
      }),
    );

  enc
    .command('probe-node-id')
    .description('print the full and 16-bit node ids for a --full-node-id or a raft --id')
    .option('--full-node-id <n>', 'decimal or 0x-hex uint64')
    .option('--id <raft-id>', 'a raft node id string, hashed with FNV-1a-64')
    .action((opts: { fullNodeId?: string; id?: string }) => {
      if ((opts.fullNodeId === undefined) === (opts.id === undefined)) {
        throw new UsageError('probe-node-id needs exactly one of --full-node-id and --id');
      }
      let full: bigint;
      if (opts.fullNodeId !== undefined) {
        try {
          full = parseFullNodeId(opts.fullNodeId);
        } catch (e) {
          throw new UsageError(`--full-node-id: ${e instanceof Error ? e.message : String(e)}`);
        }
      } else {
        full = fullNodeId(opts.id ?? '');
      }
      process.stdout.write(
        `full_node_id: ${formatFullNodeId(full)}\nnode_id: ${formatNodeId16(nodeId16(full))}\n`,
      );
    });

  enc
    .command('disable')
    .description('refuses: encryption cannot be turned off in place')
    .action(() =>
      reportLocalFailure(() => {
        throw sealError(
          Err.DisableUnsupported,
          'encryption cannot be disabled in place; to run without it, dump every key with a client, ' +
            'start a new cluster without --encryption-enabled and reload the dump',
        );
      }),
    );
}

function collectKeyId(value: string, previous: number[]): number[] {
  if (!/^(?:[0-9]+|0[xX][0-9a-fA-F]+)$/.test(value)) {
    throw new InvalidArgumentError('key id must be a decimal or 0x-hex uint32');
  }
  const n = Number(value);
  if (n > 0xffffffff) throw new InvalidArgumentError('key id must fit in a uint32');
  return [...previous, n];
}

const LOCAL_RPC_CODE: Partial<Record<string, RpcCode>> = {
  [Err.InsecureKEKFile]: 'InvalidArgument',
  [Err.KEKFileInvalid]: 'InvalidArgument',
  [Err.KEKMismatch]: 'InvalidArgument',
  [Err.InvalidArgument]: 'InvalidArgument',
  [Err.DisableUnsupported]: 'FailedPrecondition',
};

/**
 * Local failures print the same one-line shape as RPC failures
 * (`error: <grpc code> <Err…> <message>`) and exit 1.
 */
function reportLocalFailure(run: () => void): void {
  try {
    run();
  } catch (e) {
    if (!(e instanceof SealError)) throw e;
    const rpc = LOCAL_RPC_CODE[e.code] ?? 'Internal';
    const prefix = `${e.code}: `;
    const msg = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    process.stderr.write(`error: ${rpc} ${e.code} ${msg}\n`);
    process.exitCode = 1;
  }
}
