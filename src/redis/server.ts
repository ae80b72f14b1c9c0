import { createServer, type Server } from 'node:net';
import type { Backend, PubSub } from './backend.ts';
import { Connection, type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from './connection.ts';
import { REDIS_COMPAT_VERSION, SEALKV_VERSION } from './connection-commands.ts';
import { LocalPubSub } from './pubsub.ts';

export interface RedisServerOptions {
  backend: Backend;
  pubsub?: PubSub;
  limits?: Partial<ConnectionLimits>;
  log?: (msg: string, fields: Record<string, unknown>) => void;
  observeCommand?: (name: string, seconds: number, error: boolean) => void;
}

/** The Redis protocol listener of one node. */
export class RedisServer {
  private readonly server: Server;
  private readonly conns = new Set<Connection>();
  private nextId = 1;
  readonly pubsub: PubSub;
  private readonly startedMs = Date.now();

  constructor(private readonly opts: RedisServerOptions) {
    this.pubsub = opts.pubsub ?? new LocalPubSub();
    const limits = { ...DEFAULT_CONNECTION_LIMITS, ...opts.limits };
    this.server = createServer((socket) => {
      const conn = new Connection(socket, this.nextId++, {
        backend: opts.backend,
        pubsub: this.pubsub,
        limits,
        infoText: (section) => this.infoText(section),
        onClose: (c) => this.conns.delete(c),
        ...(opts.log === undefined ? {} : { log: opts.log }),
        ...(opts.observeCommand === undefined ? {} : { observeCommand: opts.observeCommand }),
      });
      this.conns.add(conn);
    });
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : { host, port });
      });
    });
  }

  get connections(): number {
    return this.conns.size;
  }

  /** Stops accepting, lets in-flight replies go out, then closes every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) c.socket.end();
    const deadline = setTimeout(() => {
      for (const c of this.conns) c.close();
    }, 2000);
    await closed;
    clearTimeout(deadline);
  }

  infoText(section: string | undefined): string {
    const info = this.opts.backend.info();
    const sections: Record<string, Record<string, string | number>> = {
      server: {
        redis_version: REDIS_COMPAT_VERSION,
        sealkv_version: SEALKV_VERSION,
        redis_mode: 'standalone',
        process_id: process.pid,
        uptime_in_seconds: Math.floor((Date.now() - this.startedMs) / 1000),
      },
      clients: { connected_clients: this.conns.size },
      persistence: { loading: 0 },
      replication: { role: info.role ?? 'master', connected_slaves: 0 },
      sealkv: info,
    };
    const wanted =
      section === undefined || section === 'all' || section === 'everything' || section === 'default'
        ? Object.keys(sections)
        : [section];
    const out: string[] = [];
    for (const name of wanted) {
      const fields = sections[name];
      if (fields === undefined) continue;
      out.push(`# ${name[0]!.toUpperCase()}${name.slice(1)}`);
      for (const [k, v] of Object.entries(fields)) out.push(`${k}:${v}`);
      out.push('');
    }
    return out.join('\r\n');
  }
}
