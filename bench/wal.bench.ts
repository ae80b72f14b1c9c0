import { join } from 'node:path';
import { type Entry, EntryType } from '../src/raft/core/types.ts';
import { DelegatingDisk, wrapFile } from '../src/raft/disk/delegating.ts';
import type { DiskFile } from '../src/raft/disk/disk.ts';
import { NodeDisk } from '../src/raft/disk/node-disk.ts';
import { Wal } from '../src/raft/wal/wal.ts';
import { type BenchRow, type BenchSuite, percentile } from './harness.ts';

// Durable appends of 100-byte entries on real files: one writer awaiting every save, then
// 256 concurrent savers whose saves group-commit into shared batches. The timed call is
// the batch's durable write (O_DSYNC), as the node runs it.

/**
 * Times every durability call the WAL makes: the one-call durable write where the
 * file offers it (real files do: O_DSYNC), else the fsync after a plain write.
 */
class TimedDisk extends DelegatingDisk {
  readonly syncMs: number[] = [];

  constructor() {
    super(new NodeDisk());
  }

  override async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    const f = await this.inner.open(path, mode);
    const timed = async (io: Promise<void>) => {
      const t0 = process.hrtime.bigint();
      await io;
      this.syncMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    };
    const durable = f.writeDurable;
    return wrapFile(f, {
      sync: () => timed(f.sync()),
      ...(durable === undefined ? {} : { writeDurable: (o, d) => timed(durable.call(f, o, d)) }),
    });
  }
}

const DATA = new Uint8Array(100).fill(0x61);
const entry = (index: number): Entry => ({ index, term: 1, type: EntryType.Normal, data: DATA });
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

async function oneWriter(dir: string, ms: number) {
  const disk = new TimedDisk();
  const { wal } = await Wal.open(disk, { dir });
  disk.syncMs.length = 0;
  let next = 1;
  const t0 = process.hrtime.bigint();
  while (seconds(t0) * 1000 < ms) await wal.save(undefined, [entry(next++)], { sync: true });
  const rate = (next - 1) / seconds(t0);
  await wal.close();
  return { rate, syncMs: disk.syncMs };
}

async function manySavers(dir: string, ms: number, savers: number) {
  const disk = new TimedDisk();
  const { wal } = await Wal.open(disk, { dir });
  disk.syncMs.length = 0;
  const fsyncs0 = wal.stats.fsyncs;
  let next = 1;
  const t0 = process.hrtime.bigint();
  const loop = async () => {
    while (seconds(t0) * 1000 < ms) await wal.save(undefined, [entry(next++)], { sync: true });
  };
  await Promise.all(Array.from({ length: savers }, loop));
  const rate = (next - 1) / seconds(t0);
  const perFsync = (next - 1) / (wal.stats.fsyncs - fsyncs0);
  await wal.close();
  return { rate, perFsync, syncMs: disk.syncMs };
}

const suite: BenchSuite = {
  name: 'wal',
  async run({ quick, tmpDir }) {
    const ms = quick ? 500 : 2000;
    const one = await oneWriter(join(tmpDir, 'one'), ms);
    const many = await manySavers(join(tmpDir, 'many'), ms, 256);
    const sorted = [...one.syncMs].sort((a, b) => a - b);
    const sortedMany = [...many.syncMs].sort((a, b) => a - b);
    const rows: BenchRow[] = [
      { suite: 'wal', name: 'durable append, 1 writer (100 B entries)', value: one.rate, unit: 'entries/s' },
      {
        suite: 'wal',
        name: 'durable append, 256 savers (group commit)',
        value: many.rate,
        unit: 'entries/s',
        ratio: many.rate / one.rate,
        ratioTo: '1 writer',
        target: '≈250k entries/s',
      },
      { suite: 'wal', name: 'saves per durable write, 256 savers', value: many.perFsync, unit: 'saves' },
      {
        suite: 'wal',
        name: 'durable write p50, 1 writer',
        value: percentile(sorted, 50),
        unit: 'ms',
        target: '0.2–0.35 ms',
      },
      { suite: 'wal', name: 'durable write p99, 1 writer', value: percentile(sorted, 99), unit: 'ms' },
      { suite: 'wal', name: 'durable write mean, 1 writer', value: mean(sorted), unit: 'ms' },
      { suite: 'wal', name: 'durable write p50, 256 savers', value: percentile(sortedMany, 50), unit: 'ms' },
      { suite: 'wal', name: 'durable write p99, 256 savers', value: percentile(sortedMany, 99), unit: 'ms' },
    ];
    return rows;
  },
};

export default suite;
