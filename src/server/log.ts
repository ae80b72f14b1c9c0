import type { LogLevel } from './config.ts';

export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** JSON lines on stderr, one object per event; bigints print as decimal strings. */
export function jsonLogger(
  minLevel: LogLevel,
  node: string,
  out: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  return (level, msg, fields = {}) => {
    if (RANK[level] < RANK[minLevel]) return;
    const line = JSON.stringify({ ts: new Date().toISOString(), level, node, msg, ...fields }, (_k, v) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v,
    );
    out(`${line}\n`);
  };
}
