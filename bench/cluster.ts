// Process plumbing shared by the suites that run real `sealkv server`
// clusters: readiness, exit watching and shutdown (free ports: launcher.ts).
import type { ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import type { LaunchedNode } from '../src/server/launcher.ts';

/** Resolves once the server answers PING with +PONG; rejects after `timeoutMs`. */
export async function waitForPong(
  port: number,
  timeoutMs: number,
  alive: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = alive();
    if (dead !== undefined) throw new Error(dead);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host: '127.0.0.1', port });
      let buf = '';
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(500, () => done(false));
      sock.once('error', () => done(false));
      sock.once('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
      sock.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not answer PING within ${timeoutMs} ms`);
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stopProc(
  proc: ChildProcess,
  exited: Promise<unknown>,
  graceMs = 10_000,
): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => {
    timer = setTimeout(() => r('late'), graceMs);
  });
  const outcome = await Promise.race([exited.then(() => 'exited' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    proc.kill('SIGKILL');
    await exited;
  }
}

/** Fails fast with the node's stderr if any node exits while we wait for it. */
export function exitWatch(nodes: LaunchedNode[]): Promise<never> {
  return Promise.race(
    nodes.map((node) =>
      node.exited.then((code) => {
        throw new Error(
          `sealkv ${node.id} exited (${code}) during the benchmark:\n${node.stderr().slice(-4000)}`,
        );
      }),
    ),
  );
}
