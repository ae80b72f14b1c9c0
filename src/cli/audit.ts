/**
 * `sealkv audit --data-dir <dir> --canary <string>...` (interface.md §2): the
 * user's proof that a value never reached disk in cleartext. Every file under
 * the directory is read as raw bytes and searched for each canary in the
 * spellings a careless write path would produce: the UTF-8 bytes, hex (lower
 * and upper case) and base64 (standard and URL-safe, at every byte alignment).
 */
import { closeSync, lstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from './main.ts';

/** Bytes read per system call; a canary spanning two reads is still found (see scanFile). */
export const DEFAULT_CHUNK_SIZE = 1 << 20;
/**
 * A base64 fragment at a non-zero alignment loses the characters shared with
 * its neighbours; shorter fragments than this would match unrelated base64
 * text by chance, so they are not searched.
 */
const MIN_FRAGMENT = 8;

export interface AuditFileHit {
  /** The file's path: the data directory joined with its relative path. */
  readonly file: string;
  /** 1-based position of the canary on the command line. */
  readonly canary: number;
  readonly hits: number;
}

export interface AuditResult {
  readonly files: number;
  readonly bytes: number;
  readonly hits: number;
  /** One entry per file and canary with at least one hit, in walk order. */
  readonly found: readonly AuditFileHit[];
}

/**
 * The byte patterns searched for one canary. Duplicates are dropped (a canary
 * of digits has the same hex in both cases), and so is any spelling that
 * contains another one (the padded base64 encoding contains its aligned
 * fragment): every occurrence of it is already counted through the shorter
 * spelling, so one copy of the canary on disk counts as one hit.
 */
export function canarySpellings(canary: string): Uint8Array[] {
  const bytes = Buffer.from(canary, 'utf8');
  const hex = bytes.toString('hex');
  const all = [
    ...new Set<string>([bytes.toString('latin1'), hex, hex.toUpperCase(), ...base64Spellings(bytes)]),
  ];
  const minimal = all.filter((s) => !all.some((t) => t !== s && s.includes(t)));
  return minimal.map((s) => Buffer.from(s, 'latin1'));
}

/**
 * Base64 of the canary as it would appear inside a longer encoded blob. At
 * alignment 0 the whole encoding (padding included) is one spelling; at every
 * alignment the characters that depend only on the canary's bits are another.
 * Character i covers bits [6i, 6i+6); with `shift` bytes before the canary,
 * those are i in [ceil(8·shift/6), floor(8·(shift+n)/6)).
 */
function base64Spellings(bytes: Buffer): string[] {
  const out: string[] = [];
  for (const encoding of ['base64', 'base64url'] as const) {
    out.push(bytes.toString(encoding));
    for (let shift = 0; shift < 3; shift++) {
      const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString(encoding);
      const from = Math.ceil((8 * shift) / 6);
      const to = Math.floor((8 * (shift + bytes.length)) / 6);
      const fragment = encoded.slice(from, to);
      if (fragment.length >= MIN_FRAGMENT) out.push(fragment);
    }
  }
  return out;
}

/**
 * Counts every occurrence (overlapping ones included) of each pattern group in
 * one file, reading it in chunks. The last `longest - 1` bytes of each window
 * are carried into the next one, and a match is counted only in the window
 * where it ends inside the freshly read bytes: a match spanning a chunk
 * boundary is found once, and a match inside the carried bytes is not counted
 * twice.
 */
export function scanFile(
  path: string,
  groups: readonly (readonly Uint8Array[])[],
  chunkSize = DEFAULT_CHUNK_SIZE,
): { bytes: number; counts: number[] } {
  let longest = 1;
  for (const g of groups) for (const p of g) longest = Math.max(longest, p.length);
  const keep = longest - 1;
  const buf = Buffer.allocUnsafe(keep + chunkSize);
  const counts = groups.map(() => 0);
  let bytes = 0;
  let carried = 0;
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, carried, chunkSize, null);
      if (n === 0) break;
      bytes += n;
      const end = carried + n;
      const window = buf.subarray(0, end);
      for (let g = 0; g < groups.length; g++) {
        for (const p of groups[g]!) counts[g]! += countFrom(window, p, Math.max(0, carried - p.length + 1));
      }
      const tail = Math.min(keep, end);
      buf.copyWithin(0, end - tail, end);
      carried = tail;
    }
  } finally {
    closeSync(fd);
  }
  return { bytes, counts };
}

function countFrom(window: Buffer, pattern: Uint8Array, from: number): number {
  let n = 0;
  for (let at = window.indexOf(pattern, from); at !== -1; at = window.indexOf(pattern, at + 1)) n++;
  return n;
}

/** Regular files under `dir`, depth first in name order; symbolic links are not followed. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Audits every regular file under `dir` for every canary. */
export function auditDirectory(
  dir: string,
  canaries: readonly string[],
  opts: { chunkSize?: number } = {},
): AuditResult {
  const groups = canaries.map(canarySpellings);
  const found: AuditFileHit[] = [];
  let files = 0;
  let bytes = 0;
  let hits = 0;
  for (const file of listFiles(dir)) {
    const r = scanFile(file, groups, opts.chunkSize);
    files++;
    bytes += r.bytes;
    r.counts.forEach((k, i) => {
      if (k === 0) return;
      found.push({ file, canary: i + 1, hits: k });
      hits += k;
    });
  }
  return { files, bytes, hits, found };
}

export function formatAudit(r: AuditResult): string {
  const lines = r.found.map((h) => `file=${h.file} canary=${h.canary} hits=${h.hits}`);
  lines.push(`audit files=${r.files} bytes=${r.bytes} hits=${r.hits}`);
  return `${lines.join('\n')}\n`;
}

function checkArgs(dataDir: string, canaries: readonly string[]): void {
  let isDir = false;
  try {
    isDir = lstatSync(dataDir).isDirectory();
  } catch {
    throw new UsageError(`--data-dir ${dataDir} does not exist`);
  }
  if (!isDir) throw new UsageError(`--data-dir ${dataDir} is not a directory`);
  if (canaries.some((c) => c.length === 0)) throw new UsageError('--canary values must not be empty');
}

/** Registers `sealkv audit`. */
export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description(
      'search every file under a data directory for canary values in cleartext, hex or base64; ' +
        'exit 1 if any is found',
    )
    .requiredOption('--data-dir <dir>', 'the directory to audit (walked recursively; symlinks not followed)')
    .requiredOption(
      '--canary <string...>',
      'values to look for; in the output, canary=<n> is the 1-based position of the value on the command line',
    )
    .addHelpText(
      'after',
      '\nOutput: one line "file=<path> canary=<n> hits=<k>" per file and canary found, then\n' +
        '"audit files=<n> bytes=<n> hits=<k>". Each canary is searched as UTF-8 bytes, lower- and\n' +
        'upper-case hex and base64 (standard and URL-safe, any alignment); every occurrence counts once.\n' +
        'Exit codes: 0 no hits, 1 hits (or an unreadable file), 2 usage error.',
    )
    .action((opts: { dataDir: string; canary: string[] }) => {
      checkArgs(opts.dataDir, opts.canary);
      const result = auditDirectory(opts.dataDir, opts.canary);
      process.stdout.write(formatAudit(result));
      if (result.hits > 0) process.exitCode = 1;
    });
}
