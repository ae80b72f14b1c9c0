import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from '../../src/server/launcher.ts';

export interface RedisServer {
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts Debian's redis-server on a free loopback port, without persistence, for reference replies. */
export async function startRedisServer(extraArgs: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve();
    };
    proc.stdout?.on('data', onData);
    proc.once('error', (e) =>
      reject(new Error(`redis-server did not start (is it installed?): ${e.message}`)),
    );
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
  return {
    port,
    proc,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}
