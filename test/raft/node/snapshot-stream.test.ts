import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Entry, SnapshotMeta } from '../../../src/raft/core/types.ts';
import type { ApplyResult } from '../../../src/raft/node.ts';
import type { WalCrashPoint } from '../../../src/raft/wal/wal.ts';
import { crc32c } from '../../../src/util/crc32c.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { Cluster, type ListFsm, waitFor } from './cluster.ts';

// Snapshot images are streamed at every step (create, send, receive, install, restore,
// recover), so memory does not grow with the image.

let c: Cluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

const MiB = 1024 * 1024;
const IMAGE = 20 * MiB;
const CHUNK = 64 * 1024;

/** Fills `b` with a xorshift stream seeded by `seed` and advanced by `pos` words. */
function fill(b: Uint8Array, seed: number, pos: number): void {
  const w = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
  let x = (seed ^ (pos * 0x9e3779b9)) >>> 0 || 1;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x >>> 0;
  }
}

/**
 * A state machine whose state is tiny (a running digest of what it applied) but whose
 * image is IMAGE bytes: a 12-byte head (digest, pad length, pad checksum) and a pad
 * generated from the digest chunk by chunk. Nothing holds the image: snapshot() produces it
 * as it is read, restore() checks it as it passes.
 */
class BigFsm {
  applied = 0;
  digest = 0;
  restores = 0;

  appliedIndex(): number {
    return this.applied;
  }

  apply(entries: readonly Entry[]): ApplyResult | undefined {
    for (const e of entries) {
      if (e.index <= this.applied) continue;
      this.digest = crc32c(e.data, this.digest ^ e.index);
      this.applied = e.index;
    }
    return undefined;
  }

  async snapshot(): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }> {
    const index = this.applied;
    const seed = this.digest;
    const padLen = IMAGE - 12;
    return {
      index,
      chunks: (async function* () {
        // One scratch buffer for the checksum pass: the test's own garbage must not look like the node's.
        const scratch = new Uint8Array(CHUNK + 3);
        let crc = 0;
        for (let off = 0; off < padLen; off += CHUNK) crc = crc32c(pad(seed, off, padLen, scratch), crc);
        const head = new Uint8Array(12);
        const dv = new DataView(head.buffer);
        dv.setUint32(0, seed);
        dv.setUint32(4, padLen);
        dv.setUint32(8, crc);
        yield head;
        for (let off = 0; off < padLen; off += CHUNK) yield pad(seed, off, padLen);
      })(),
    };
  }

  async restore(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const head = new Uint8Array(12);
    let headGot = 0;
    let padGot = 0;
    let crc = 0;
    for await (const c of chunks) {
      const h = Math.min(12 - headGot, c.length);
      head.set(c.subarray(0, h), headGot);
      headGot += h;
      const rest = c.subarray(h);
      crc = crc32c(rest, crc);
      padGot += rest.length;
    }
    const dv = new DataView(head.buffer);
    assert.equal(headGot, 12, 'image head');
    assert.equal(padGot, dv.getUint32(4), 'image length');
    assert.equal(crc, dv.getUint32(8), 'image checksum');
    this.digest = dv.getUint32(0);
    this.applied = meta.index;
    this.restores++;
  }
}

/** The pad's bytes at `off`, in `into` if given (else a fresh buffer the consumer may keep). */
function pad(seed: number, off: number, padLen: number, into?: Uint8Array): Uint8Array {
  const n = Math.min(CHUNK, padLen - off);
  // Whole words for the generator; the extra bytes are cut off.
  const b = into ?? new Uint8Array(CHUNK + 3);
  fill(b.subarray(0, (n + 3) & ~3), seed, off);
  return b.subarray(0, n);
}

/** Samples live ArrayBuffer bytes (after a full GC, so garbage awaiting collection is not counted). */
class ArrayBufferPeak {
  private readonly gc: () => void;
  private readonly timer: NodeJS.Timeout;
  readonly baseline: number;
  peak = 0;
  samples = 0;

  constructor(everyMs: number) {
    setFlagsFromString('--expose-gc');
    this.gc = runInNewContext('gc') as () => void;
    this.baseline = this.sample();
    this.peak = this.baseline;
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, this.sample());
    }, everyMs);
  }

  sample(): number {
    // The second collection first completes the sweep of the first, whose ArrayBuffer
    // accounting otherwise lags behind: what remains is live.
    this.gc();
    this.gc();
    this.samples++;
    return process.memoryUsage().arrayBuffers;
  }

  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, this.sample());
    return this.peak - this.baseline;
  }
}

function snapFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('snap-'));
}

describe('RaftNode: streamed snapshots', () => {
  test('a 20 MiB image is created, sent, installed, restored and recovered with a few MiB of live buffers', async () => {
    const fsms = new Map<string, BigFsm>();
    c = new Cluster({ node: { snapshotEvery: 40, snapshotRetain: 5 } });
    for (const id of c.ids) {
      const f = new BigFsm();
      fsms.set(id, f);
      c.m(id).fsm = f as unknown as ListFsm;
    }
    await c.start();
    await c.waitLeader();
    await c.waitAllApplied(await c.proposeMany('a', 5, 4));
    const lagger = c.ids.find((id) => id !== c!.leader()!.id)!;
    await c.kill(lagger);
    const peak = new ArrayBufferPeak(25);
    let grew: number;
    try {
      const last = await c.proposeMany('b', 50, 8);
      const l = c.leader()!;
      await waitFor('compaction past the lagger', () => l.firstIndex > fsms.get(lagger)!.applied + 1, 60_000);
      await c.restart(lagger);
      await waitFor('install', () => fsms.get(lagger)!.restores === 1, 60_000);
      await c.waitAllApplied(last, c.ids, 60_000);
      // Recovery: an empty state machine is brought up to the WAL's snapshot from its file.
      await c.node(lagger).stop();
      c.m(lagger).node = undefined;
      const fresh = new BigFsm();
      fsms.set(lagger, fresh);
      c.m(lagger).fsm = fresh as unknown as ListFsm;
      await c.restart(lagger);
      assert.equal(fresh.restores, 1, 'restored from the snapshot file at startup');
      await c.waitAllApplied(last, c.ids, 60_000);
    } finally {
      grew = peak.stop();
    }
    const digests = new Set([...fsms.values()].map((f) => f.digest));
    assert.equal(digests.size, 1, 'every member holds the same state');
    assert.ok(peak.samples > 20, `${peak.samples} samples`);
    console.log(
      `arrayBuffers: baseline ${peak.baseline} B, peak growth ${grew} B over ${peak.samples} samples`,
    );
    assert.ok(
      grew < 8 * MiB,
      `live ArrayBuffer bytes grew by ${(grew / MiB).toFixed(1)} MiB for a 20 MiB image`,
    );
  });

  test('a damaged snapshot file aborts the transfer (nothing is installed) and stops its node from restarting', async () => {
    c = new Cluster({ node: { snapshotEvery: 60, snapshotRetain: 5 } });
    await c.start();
    await c.waitLeader();
    await c.waitAllApplied(await c.proposeMany('a', 5, 4));
    const l0 = c.leader()!;
    const lagger = c.ids.find((id) => id !== l0.id)!;
    await c.kill(lagger);
    await c.proposeMany('b', 80, 8);
    const l = c.leader()!;
    await waitFor('compaction past the lagger', () => l.firstIndex > c!.m(lagger).fsm.applied + 1);
    const lm = c.m(l.id);
    const [file] = snapFiles(lm.dir).filter((n) => n.endsWith('.snap'));
    assert.ok(file !== undefined, 'the leader has a snapshot file');
    const path = join(lm.dir, file);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 0x01;
    writeFileSync(path, bytes);
    const restoresBefore = c.m(lagger).fsm.restores;
    await c.restart(lagger);
    await waitFor('the damage to be reported', () =>
      lm.logs.some((s) => s.startsWith('error snapshot file is damaged')),
    );
    assert.equal(c.m(lagger).fsm.restores, restoresBefore, 'the follower installed nothing');
    await waitFor('staged files dropped', () => !snapFiles(c!.m(lagger).dir).some((n) => n.includes('recv')));
    await c.node(l.id).stop();
    lm.node = undefined;
    await assert.rejects(c.restart(l.id), (e: unknown) => {
      assert.ok(isSealError(e, 'ErrWalCorrupt'), `expected ErrWalCorrupt, got ${String(e)}`);
      return true;
    });
  });

  test('maxSnapshotBytes refuses a larger received image (no staged file is left) until it is raised', async () => {
    c = new Cluster({ node: { snapshotEvery: 60, snapshotRetain: 5 } });
    await c.start();
    await c.waitLeader();
    await c.waitAllApplied(await c.proposeMany('a', 5, 4));
    const l0 = c.leader()!;
    const lagger = c.ids.find((id) => id !== l0.id)!;
    await c.kill(lagger);
    const last = await c.proposeMany('b', 80, 8);
    const l = c.leader()!;
    await waitFor('compaction past the lagger', () => l.firstIndex > c!.m(lagger).fsm.applied + 1);
    const lm = c.m(l.id);
    const restoresBefore = c.m(lagger).fsm.restores;
    await c.restart(lagger, { maxSnapshotBytes: 100 });
    await waitFor('a refused transfer', () =>
      lm.logs.some((s) => s.startsWith('warn snapshot transfer failed') && s.includes('100-byte limit')),
    );
    assert.equal(c.m(lagger).fsm.restores, restoresBefore);
    await waitFor('staged files dropped', () => !snapFiles(c!.m(lagger).dir).some((n) => n.includes('recv')));
    await c.kill(lagger);
    await c.restart(lagger);
    await c.waitAllApplied(last);
    assert.equal(c.m(lagger).fsm.restores, restoresBefore + 1);
  });

  for (const point of ['snap.afterFile', 'snap.beforeMarker'] as const) {
    test(`a crash at ${point} while installing a received snapshot restarts cleanly and installs it again`, async () => {
      let armed: WalCrashPoint | undefined;
      const hits: string[] = [];
      let target = '';
      c = new Cluster({
        node: { snapshotEvery: 60, snapshotRetain: 5 },
        perNode: (id) => ({
          walHook: (p) => {
            if (id !== target || p !== armed) return;
            armed = undefined;
            hits.push(p);
            throw new Error(`simulated crash at ${p}`);
          },
        }),
      });
      await c.start();
      await c.waitLeader();
      await c.waitAllApplied(await c.proposeMany('a', 5, 4));
      const lagger = c.ids.find((id) => id !== c!.leader()!.id)!;
      target = lagger;
      await c.kill(lagger);
      const last = await c.proposeMany('b', 80, 8);
      const l = c.leader()!;
      await waitFor('compaction past the lagger', () => l.firstIndex > c!.m(lagger).fsm.applied + 1);
      const restoresBefore = c.m(lagger).fsm.restores;
      armed = point;
      await c.restart(lagger);
      const reason = await c.node(lagger).done;
      assert.equal(reason.kind, 'fatal');
      assert.deepEqual(hits, [point]);
      assert.equal(c.m(lagger).fsm.restores, restoresBefore, 'nothing restored before the marker');
      await c.kill(lagger);
      await c.restart(lagger);
      // Startup dropped the staged and the unmarked files; the leader sends the snapshot again.
      await c.waitAllApplied(last);
      assert.equal(c.m(lagger).fsm.restores, restoresBefore + 1);
      const files = snapFiles(c.m(lagger).dir);
      assert.ok(
        files.every((n) => n.endsWith('.snap')),
        `only durable snapshot files remain: ${files.join(', ')}`,
      );
      const first = c.m(c.ids[0]!).fsm.items;
      for (const id of c.ids.slice(1)) assert.deepEqual(c.m(id).fsm.items, first, `${id} differs`);
    });
  }
});
