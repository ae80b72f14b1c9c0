import type { Command } from 'commander';
import { AdminRpcError, DEFAULT_ENDPOINT, EncryptionAdminClient } from '../admin/client.ts';
import type {
  BootstrapEncryptionRequest,
  CapabilityReport,
  CapabilityVerdict,
  EnableEnvelopeRequest,
  RotateDekRequest,
  WriterRegistryEntry,
} from '../admin/handlers.ts';
import { buildResyncedSidecar } from '../admin/resync.ts';
import { bareMessage, rpcCodeForErr } from '../admin/status.ts';
import {
  checkAddress,
  checkEpoch,
  checkNodeId,
  validateBootstrap,
  validateEnableEnvelope,
  validateRegisterWriter,
  validateRotateDek,
} from '../admin/validate.ts';
import { fullNodeId, parseFullNodeId } from '../encryption/identity.ts';
import { FileKekProvider } from '../encryption/kek/file-provider.ts';
import { readSidecarFile, writeSidecarFile } from '../encryption/sidecar/file.ts';
import { SealError } from '../util/errors.ts';
import { encryptionCommand } from './admin-encryption-local.ts';
import { UsageError } from './main.ts';

// ---- shared by the networked admin verbs (also used by admin-cluster.ts) ----

export interface ConnectionFlags {
  endpoint: string;
  timeout: string;
}

/** Adds `--endpoint` and `--timeout` (encryption.md §9). */
export function withConnectionFlags(cmd: Command): Command {
  return cmd
    .option('--endpoint <host:port>', "the node's --admin-addr", DEFAULT_ENDPOINT)
    .option('--timeout <duration>', 'deadline of each RPC, e.g. 5s, 500ms, 1m', '5s');
}

/** `5s`, `500ms`, `1.5s`, `1m`, or a bare number of seconds; must be positive. */
export function parseTimeout(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(text.trim());
  const unit = m?.[2] ?? 's';
  const ms = m === null ? Number.NaN : Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000);
  if (!Number.isFinite(ms) || ms < 1) throw new UsageError(`--timeout "${text}" is not a positive duration`);
  return Math.round(ms);
}

export function connection(flags: ConnectionFlags): { endpoint: string; timeoutMs: number } {
  const endpoint = flags.endpoint.trim();
  usage(() => checkAddress('--endpoint', endpoint));
  return { endpoint, timeoutMs: parseTimeout(flags.timeout) };
}

/** Turns a failed client-side check into a usage error (exit 2, no RPC). */
export function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof SealError) throw new UsageError(`${e.code} ${bareMessage(e)}`);
    throw e;
  }
}

export function parseU32(flag: string, text: string): number {
  if (!/^(?:[0-9]+|0[xX][0-9a-fA-F]+)$/.test(text) || Number(text) > 0xffffffff) {
    throw new UsageError(`${flag} "${text}" is not a decimal or 0x-hex uint32`);
  }
  return Number(text);
}

export function parseU64(flag: string, text: string): bigint {
  return usage(() => {
    try {
      return parseFullNodeId(text);
    } catch (e) {
      throw new UsageError(`${flag}: ${e instanceof SealError ? bareMessage(e) : String(e)}`);
    }
  });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export { collect as collectRepeated };

/**
 * Runs a networked verb. RPC and local failures print one line
 * `error: <grpc code> <Err…> <message>` and exit 1; usage errors propagate to
 * main (exit 2).
 */
export async function runRemote(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (e instanceof UsageError || !(e instanceof SealError)) throw e;
    process.stderr.write(`${errorLine(e)}\n`);
    process.exitCode = 1;
  }
}

export function errorLine(e: SealError): string {
  if (e instanceof AdminRpcError) {
    const leader =
      e.leaderAddr !== undefined && !e.detail.includes(e.leaderAddr)
        ? ` (leader ${e.leaderId ?? '?'} at ${e.leaderAddr})`
        : '';
    return `error: ${e.grpcCode} ${e.code} ${e.detail}${leader}`;
  }
  return `error: ${rpcCodeForErr(e.code, e.details)} ${e.code} ${bareMessage(e)}`;
}

async function withClient<T>(
  flags: ConnectionFlags,
  run: (c: EncryptionAdminClient) => Promise<T>,
): Promise<T> {
  const { endpoint, timeoutMs } = connection(flags);
  const client = new EncryptionAdminClient(endpoint, { timeoutMs });
  try {
    return await run(client);
  } finally {
    client.close();
  }
}

function decodeBase64(flag: string, text: string): Uint8Array {
  const t = text.trim();
  if (t.length === 0 || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(t)) {
    throw new UsageError(`${flag} is not non-empty standard base64`);
  }
  return new Uint8Array(Buffer.from(t, 'base64'));
}

// ---- verbs ----

interface BootstrapFlags extends ConnectionFlags {
  storageDekId: string;
  raftDekId: string;
  wrappedStorageDek: string;
  wrappedRaftDek: string;
  writer: string[];
  discoverFrom: string[];
}

function parseWriter(text: string): WriterRegistryEntry {
  const m = /^([^:]+):([0-9]+)$/.exec(text.trim());
  if (m === null) throw new UsageError(`--writer "${text}" is not <full_node_id>:<epoch>`);
  const epoch = Number(m[2]);
  usage(() => checkEpoch('--writer epoch', epoch));
  return { fullNodeId: parseU64('--writer', m[1] ?? ''), localEpoch: epoch };
}

/** Trims, drops empty entries and duplicates, keeping the first occurrence's order. */
export function discoveryAddresses(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of raw.flatMap((r) => r.split(','))) {
    const t = a.trim();
    if (t.length > 0 && !out.includes(t)) out.push(t);
  }
  return out;
}

/**
 * GetCapability on every address; any refusal is a client-side check failure
 * naming the address. Returns the writer batch in address order.
 */
async function discoverWriters(addrs: readonly string[], timeoutMs: number): Promise<WriterRegistryEntry[]> {
  for (const a of addrs) usage(() => checkAddress('--discover-from', a));
  const reports = await Promise.all(
    addrs.map(async (addr): Promise<CapabilityReport> => {
      const c = new EncryptionAdminClient(addr, { timeoutMs });
      try {
        return await c.getCapability();
      } catch (e) {
        if (e instanceof AdminRpcError) {
          throw new AdminRpcError(addr, e.grpcCode, e.code, `--discover-from ${addr}: ${e.detail}`);
        }
        throw e;
      } finally {
        c.close();
      }
    }),
  );
  const seen = new Map<bigint, string>();
  const short = new Map<number, string>();
  return reports.map((r, i) => {
    const addr = addrs[i] ?? '';
    if (!r.encryptionCapable) {
      throw new UsageError(
        `--discover-from ${addr}: node is not encryption-capable (encryption_capable=false)`,
      );
    }
    if (r.fullNodeId === 0n) throw new UsageError(`--discover-from ${addr}: node reports full_node_id 0`);
    usage(() => checkEpoch(`--discover-from ${addr} local_epoch`, r.localEpoch));
    const dup = seen.get(r.fullNodeId);
    if (dup !== undefined) {
      throw new UsageError(`--discover-from ${addr} and ${dup} report the same full_node_id ${r.fullNodeId}`);
    }
    seen.set(r.fullNodeId, addr);
    const id16 = Number(r.fullNodeId & 0xffffn);
    const clash = short.get(id16);
    if (clash !== undefined) {
      throw new UsageError(`--discover-from ${addr} and ${clash} share the 16-bit node id ${id16}`);
    }
    short.set(id16, addr);
    return { fullNodeId: r.fullNodeId, localEpoch: r.localEpoch };
  });
}

async function bootstrap(flags: BootstrapFlags): Promise<void> {
  const hasWriters = flags.writer.length > 0;
  const hasDiscovery = flags.discoverFrom.length > 0;
  if (hasWriters === hasDiscovery) {
    throw new UsageError(
      'bootstrap needs exactly one of --writer (repeatable) and --discover-from (repeatable)',
    );
  }
  const { timeoutMs } = connection(flags);
  const base = {
    storageDekId: parseU32('--storage-dek-id', flags.storageDekId),
    raftDekId: parseU32('--raft-dek-id', flags.raftDekId),
    wrappedStorageDek: decodeBase64('--wrapped-storage-dek', flags.wrappedStorageDek),
    wrappedRaftDek: decodeBase64('--wrapped-raft-dek', flags.wrappedRaftDek),
  };
  const placeholder: WriterRegistryEntry[] = [{ fullNodeId: 1n, localEpoch: 0 }];
  usage(() =>
    validateBootstrap({ ...base, writerBatch: hasWriters ? flags.writer.map(parseWriter) : placeholder }),
  );
  const writerBatch = hasWriters
    ? flags.writer.map(parseWriter)
    : await discoverWriters(discoveryAddresses(flags.discoverFrom), timeoutMs);
  const req: BootstrapEncryptionRequest = { ...base, writerBatch };
  usage(() => validateBootstrap(req));
  const res = await withClient(flags, (c) => c.bootstrapEncryption(req));
  process.stdout.write(
    `bootstrapped storage_dek_id=${req.storageDekId} raft_dek_id=${req.raftDekId} ` +
      `writers=${writerBatch.length} applied_index=${res.appliedIndex}\n`,
  );
}

interface ProposerFlags extends ConnectionFlags {
  proposerNodeId?: string;
  proposerLocalEpoch?: string;
}

/**
 * The proposer identity of rotate-dek and the cutovers: the flags, or else the
 * endpoint's own id and pinned epoch for the purpose (one GetCapability).
 */
async function proposer(
  flags: ProposerFlags,
  purpose: 'storage' | 'raft',
  client: EncryptionAdminClient,
): Promise<{ proposerNodeId: bigint; proposerLocalEpoch: number }> {
  let id =
    flags.proposerNodeId === undefined ? undefined : parseU64('--proposer-node-id', flags.proposerNodeId);
  let epoch =
    flags.proposerLocalEpoch === undefined
      ? undefined
      : parseU32('--proposer-local-epoch', flags.proposerLocalEpoch);
  if (id !== undefined) usage(() => checkNodeId('--proposer-node-id', id ?? 0n));
  if (epoch !== undefined) usage(() => checkEpoch('--proposer-local-epoch', epoch ?? 0));
  if (id === undefined || epoch === undefined) {
    const cap = await client.getCapability();
    if (id === undefined) {
      if (cap.fullNodeId === 0n) {
        throw new UsageError(
          `${client.endpoint} reports full_node_id 0 (encryption_capable=${cap.encryptionCapable}); ` +
            'pass --proposer-node-id or point --endpoint at an enabled leader',
        );
      }
      id = cap.fullNodeId;
    }
    epoch ??= purpose === 'storage' ? cap.localEpoch : cap.raftLocalEpoch;
  }
  return { proposerNodeId: id, proposerLocalEpoch: epoch };
}

interface RotateFlags extends ProposerFlags {
  purpose: string;
  newDekId: string;
  wrappedNewDek: string;
}

async function rotate(flags: RotateFlags): Promise<void> {
  if (flags.purpose !== 'storage' && flags.purpose !== 'raft') {
    throw new UsageError(`--purpose "${flags.purpose}" must be storage or raft`);
  }
  const purpose = flags.purpose;
  const base = {
    purpose: purpose === 'storage' ? ('STORAGE' as const) : ('RAFT' as const),
    newDekId: parseU32('--new-dek-id', flags.newDekId),
    wrappedNewDek: decodeBase64('--wrapped-new-dek', flags.wrappedNewDek),
  };
  usage(() => validateRotateDek({ ...base, proposerNodeId: 1n, proposerLocalEpoch: 0 }));
  await withClient(flags, async (c) => {
    const req: RotateDekRequest = { ...base, ...(await proposer(flags, purpose, c)) };
    usage(() => validateRotateDek(req));
    const res = await c.rotateDek(req);
    process.stdout.write(
      `rotated dek_id=${req.newDekId} purpose=${purpose} applied_index=${res.appliedIndex}\n`,
    );
  });
}

interface RegisterFlags extends ConnectionFlags {
  dekId: string;
  fullNodeId: string;
  localEpoch: string;
}

async function register(flags: RegisterFlags): Promise<void> {
  const writer = {
    fullNodeId: parseU64('--full-node-id', flags.fullNodeId),
    localEpoch: parseU32('--local-epoch', flags.localEpoch),
  };
  const req = { dekId: parseU32('--dek-id', flags.dekId), writers: [writer] };
  usage(() => validateRegisterWriter(req));
  const res = await withClient(flags, (c) => c.registerEncryptionWriter(req));
  process.stdout.write(
    `registered dek_id=${req.dekId} full_node_id=${writer.fullNodeId} local_epoch=${writer.localEpoch} ` +
      `applied_index=${res.appliedIndex}\n`,
  );
}

function summaryLines(summary: readonly CapabilityVerdict[]): string {
  return summary
    .map(
      (v) =>
        `  full_node_id=${v.fullNodeId} encryption_capable=${v.encryptionCapable} build_sha=${v.buildSha} ` +
        `sidecar_present=${v.sidecarPresent}\n`,
    )
    .join('');
}

async function enable(flags: ProposerFlags, purpose: 'storage' | 'raft'): Promise<void> {
  await withClient(flags, async (c) => {
    const req: EnableEnvelopeRequest = await proposer(flags, purpose, c);
    usage(() => validateEnableEnvelope(req));
    const res = purpose === 'storage' ? await c.enableStorageEnvelope(req) : await c.enableRaftEnvelope(req);
    let out = '';
    if (res.wasAlreadyActive) {
      if ('cutoverIndexUnknown' in res && res.cutoverIndexUnknown) {
        out +=
          'warning: cutover_index_unknown=true the sidecar predates the recorded cutover index; ' +
          "applied_index is the sidecar's raft_applied_index\n";
      }
      out += `already-active applied_index=${res.appliedIndex}\n`;
    } else {
      out += `enabled applied_index=${res.appliedIndex}\ncapability summary:\n${summaryLines(res.capabilitySummary)}`;
    }
    process.stdout.write(out);
  });
}

function statusBlock(cap: CapabilityReport): string {
  return (
    'capability:\n' +
    `  encryption_capable: ${cap.encryptionCapable}\n` +
    `  sidecar_present: ${cap.sidecarPresent}\n` +
    `  full_node_id: ${cap.fullNodeId}\n` +
    `  local_epoch: ${cap.localEpoch}\n` +
    `  raft_local_epoch: ${cap.raftLocalEpoch}\n` +
    (cap.buildSha.length > 0 ? `  build_sha: ${cap.buildSha}\n` : '')
  );
}

async function status(flags: ConnectionFlags): Promise<void> {
  await withClient(flags, async (c) => {
    process.stdout.write(statusBlock(await c.getCapability()));
    let s: Awaited<ReturnType<EncryptionAdminClient['getSidecarState']>>;
    try {
      s = await c.getSidecarState();
    } catch (e) {
      if (e instanceof AdminRpcError && e.grpcCode === 'FailedPrecondition') {
        process.stdout.write(`sidecar_state: <unavailable: ${e.grpcCode} ${e.code} ${e.detail}>\n`);
        return;
      }
      throw e;
    }
    const ids = [...s.wrappedDeksById.keys()].sort((a, b) => a - b);
    process.stdout.write(
      'sidecar_state:\n' +
        `  active_storage_id: ${s.activeStorageId}\n` +
        `  active_raft_id: ${s.activeRaftId}\n` +
        `  storage_envelope_active: ${s.storageEnvelopeActive}\n` +
        `  raft_envelope_cutover_index: ${s.raftEnvelopeCutoverIndex}\n` +
        `  latest_applied_index: ${s.latestAppliedIndex}\n` +
        `  wrapped_dek_ids: ${ids.join(',')}\n`,
    );
  });
}

interface ResyncFlags extends ConnectionFlags {
  encryptionSidecarPath: string;
  kekFile: string;
  callerFullNodeId?: string;
  id?: string;
}

async function resync(flags: ResyncFlags): Promise<void> {
  if ((flags.callerFullNodeId === undefined) === (flags.id === undefined)) {
    throw new UsageError('resync-sidecar needs exactly one of --caller-full-node-id and --id');
  }
  const caller =
    flags.callerFullNodeId !== undefined
      ? parseU64('--caller-full-node-id', flags.callerFullNodeId)
      : fullNodeId(flags.id ?? '');
  usage(() => checkNodeId('caller_full_node_id', caller));
  connection(flags);
  const kek = FileKekProvider.open(flags.kekFile);
  const local = readSidecarFile(flags.encryptionSidecarPath);
  const resp = await withClient(flags, (c) => c.resyncSidecar({ callerFullNodeId: caller }));
  const sidecar = buildResyncedSidecar(resp, local, kek, Date.now());
  writeSidecarFile(flags.encryptionSidecarPath, sidecar);
  process.stdout.write(`resynced keys=${sidecar.keys.size} raft_applied_index=${sidecar.raftAppliedIndex}\n`);
}

/** The networked verbs of encryption.md §9, in the same group as the local ones. */
export function registerRemoteEncryptionVerbs(program: Command): void {
  const enc = encryptionCommand(program);

  withConnectionFlags(enc.command('status').description('capability and sidecar state of one node')).action(
    (flags: ConnectionFlags) => runRemote(() => status(flags)),
  );

  withConnectionFlags(
    enc
      .command('bootstrap')
      .description('install the first storage and raft DEKs on every member (run against the leader)')
      .requiredOption('--storage-dek-id <id>', 'non-zero uint32')
      .requiredOption('--raft-dek-id <id>', 'non-zero uint32, different from the storage id')
      .requiredOption('--wrapped-storage-dek <base64>', 'from generate-dek')
      .requiredOption('--wrapped-raft-dek <base64>', 'from generate-dek')
      .option('--writer <full_node_id:epoch>', 'a member (repeatable)', collect, [])
      .option('--discover-from <host:port>', 'admin address of a member (repeatable)', collect, []),
  ).action((flags: BootstrapFlags) => runRemote(() => bootstrap(flags)));

  withConnectionFlags(
    enc
      .command('rotate-dek')
      .description('add a DEK and make it the active one for its purpose')
      .requiredOption('--purpose <purpose>', 'storage or raft')
      .requiredOption('--new-dek-id <id>', 'non-zero unused uint32')
      .requiredOption('--wrapped-new-dek <base64>', 'from generate-dek')
      .option('--proposer-node-id <id>', "default: the endpoint's full_node_id")
      .option('--proposer-local-epoch <epoch>', "default: the endpoint's epoch for the purpose"),
  ).action((flags: RotateFlags) => runRemote(() => rotate(flags)));

  withConnectionFlags(
    enc
      .command('register-writer')
      .description('record a node as a writer under a DEK at a local epoch')
      .requiredOption('--dek-id <id>', 'non-zero uint32')
      .requiredOption('--full-node-id <id>', 'decimal or 0x-hex uint64')
      .requiredOption('--local-epoch <epoch>', '0..65535'),
  ).action((flags: RegisterFlags) => runRemote(() => register(flags)));

  for (const purpose of ['storage', 'raft'] as const) {
    withConnectionFlags(
      enc
        .command(`enable-${purpose}-envelope`)
        .description(`cut over to the ${purpose} envelope (phase ${purpose === 'storage' ? 1 : 2})`)
        .option('--proposer-node-id <id>', "non-zero; default: the endpoint's full_node_id")
        .option('--proposer-local-epoch <epoch>', `default: the endpoint's ${purpose} epoch`),
    ).action((flags: ProposerFlags) => runRemote(() => enable(flags, purpose)));
  }

  withConnectionFlags(
    enc
      .command('resync-sidecar')
      .description("rebuild a stopped node's sidecar from the leader (encryption.md §12.6)")
      .requiredOption('--encryption-sidecar-path <path>', "the stopped node's sidecar")
      .requiredOption('--kek-file <path>', "the cluster's KEK file")
      .option('--caller-full-node-id <id>', "the stopped node's full_node_id")
      .option('--id <raft-id>', "the stopped node's raft id (hashed with FNV-1a-64)"),
  ).action((flags: ResyncFlags) => runRemote(() => resync(flags)));
}
