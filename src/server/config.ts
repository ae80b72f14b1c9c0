/**
 * `sealkv server` flags (interface.md §2, encryption.md §10) parsed into a
 * typed config. Every flag accepts `--name value` and `--name=value`; a bad
 * flag is a ConfigError (usage error, exit 2) naming the flag.
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface Peer {
  readonly id: string;
  readonly raftAddr: HostPort;
  readonly adminAddr: HostPort;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServerConfig {
  readonly id: string;
  readonly dataDir: string;
  /** Required by `sealkv server`; optional for `sealkv doctor`, which opens no listener. */
  readonly raftAddr: HostPort | undefined;
  /** Founding members; empty when omitted (with --join, or on restart from persisted membership). */
  readonly peers: readonly Peer[];
  readonly join: HostPort | undefined;
  readonly redisAddr: HostPort;
  readonly adminAddr: HostPort;
  readonly metricsAddr: HostPort | undefined;
  readonly encryptionEnabled: boolean;
  readonly kekFile: string | undefined;
  readonly sidecarPath: string | undefined;
  readonly rotateOnStartup: boolean;
  readonly logLevel: LogLevel;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const VALUE_FLAGS = [
  'id',
  'data-dir',
  'raft-addr',
  'peers',
  'join',
  'redis-addr',
  'admin-addr',
  'metrics-addr',
  'kek-file',
  'encryption-sidecar-path',
  'log-level',
] as const;
const BOOL_FLAGS = ['encryption-enabled', 'encryption-rotate-on-startup'] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];
type BoolFlag = (typeof BOOL_FLAGS)[number];

const isValueFlag = (n: string): n is ValueFlag => (VALUE_FLAGS as readonly string[]).includes(n);
const isBoolFlag = (n: string): n is BoolFlag => (BOOL_FLAGS as readonly string[]).includes(n);

/** Splits argv into flag values; repeated flags, unknown flags and positionals are errors. */
function scan(argv: readonly string[]): { values: Map<ValueFlag, string>; bools: Map<BoolFlag, boolean> } {
  const values = new Map<ValueFlag, string>();
  const bools = new Map<BoolFlag, boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (values.has(name as ValueFlag) || bools.has(name as BoolFlag)) {
      throw new ConfigError(`--${name} given more than once`);
    }
    if (isBoolFlag(name)) {
      if (inline === undefined) bools.set(name, true);
      else if (inline === 'true' || inline === 'false') bools.set(name, inline === 'true');
      else throw new ConfigError(`--${name} takes no value or =true/=false, got "${inline}"`);
    } else if (isValueFlag(name)) {
      let v = inline;
      if (v === undefined) {
        v = argv[++i];
        if (v === undefined || v.startsWith('--')) throw new ConfigError(`--${name} needs a value`);
      }
      values.set(name, v);
    } else {
      throw new ConfigError(`unknown flag --${name}`);
    }
  }
  return { values, bools };
}

/** `host:port` or `[v6]:port`; port 0..65535 (0 = pick a free port). */
export function parseHostPort(text: string, flag: string): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):([0-9]{1,5})$/.exec(text);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new ConfigError(`--${flag} "${text}" is not host:port (port 0..65535)`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** `id=raft-host:port@admin-host:port,...`: ids and raft addresses unique. */
export function parsePeers(text: string): Peer[] {
  const peers: Peer[] = [];
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    const at = item.lastIndexOf('@');
    if (eq <= 0 || at < eq) {
      throw new ConfigError(`--peers entry "${item}" is not id=<raft host:port>@<admin host:port>`);
    }
    const id = item.slice(0, eq);
    const peer = {
      id,
      raftAddr: parseHostPort(item.slice(eq + 1, at), `peers (${id} raft address)`),
      adminAddr: parseHostPort(item.slice(at + 1), `peers (${id} admin address)`),
    };
    if (peers.some((p) => p.id === id)) throw new ConfigError(`--peers names "${id}" twice`);
    const raft = formatHostPort(peer.raftAddr);
    if (peers.some((p) => formatHostPort(p.raftAddr) === raft)) {
      throw new ConfigError(`--peers gives raft address ${raft} to two members`);
    }
    peers.push(peer);
  }
  return peers;
}

export type ConfigMode = 'server' | 'doctor';

export function parseServerConfig(argv: readonly string[], mode: ConfigMode = 'server'): ServerConfig {
  const { values, bools } = scan(argv);
  const required = (name: ValueFlag): string => {
    const v = values.get(name);
    if (v === undefined || v === '') throw new ConfigError(`--${name} is required`);
    return v;
  };
  const addr = (name: ValueFlag): HostPort | undefined => {
    const v = values.get(name);
    return v === undefined ? undefined : parseHostPort(v, name);
  };
  const id = required('id');
  const dataDir = required('data-dir');
  const raftAddr = mode === 'server' ? parseHostPort(required('raft-addr'), 'raft-addr') : addr('raft-addr');
  const peers = values.has('peers') ? parsePeers(values.get('peers')!) : [];
  const join = addr('join');
  if (join !== undefined && peers.length > 0)
    throw new ConfigError('--peers and --join are mutually exclusive');
  if (peers.length > 0 && !peers.some((p) => p.id === id)) {
    throw new ConfigError(`--peers does not list this node's --id "${id}"`);
  }
  const level = values.get('log-level') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`--log-level "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const optionalPath = (name: ValueFlag): string | undefined => {
    // Empty counts as absent: an enabled node with an empty sidecar path starts, its mutators refuse.
    const v = values.get(name);
    return v === '' ? undefined : v;
  };
  return {
    id,
    dataDir,
    raftAddr,
    peers,
    join,
    redisAddr: addr('redis-addr') ?? { host: '127.0.0.1', port: 6379 },
    adminAddr: addr('admin-addr') ?? { host: '127.0.0.1', port: 50051 },
    metricsAddr: addr('metrics-addr'),
    encryptionEnabled: bools.get('encryption-enabled') ?? false,
    kekFile: optionalPath('kek-file'),
    sidecarPath: optionalPath('encryption-sidecar-path'),
    rotateOnStartup: bools.get('encryption-rotate-on-startup') ?? false,
    logLevel: level as LogLevel,
  };
}
