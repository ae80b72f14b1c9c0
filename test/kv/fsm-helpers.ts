import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fsm, type FsmEntry, type FsmOptions } from '../../src/kv/fsm.ts';
import { encodeProposal } from '../../src/kv/proposal.ts';
import { encodeRequests, type Request, type WriteOp } from '../../src/kv/request.ts';
import {
  type Engine,
  NAMESPACES,
  type Namespace,
  WriteBatch,
  type WriteOptions,
} from '../../src/storage/engine.ts';
import { openLmdbEngine } from '../../src/storage/lmdb-engine.ts';
import { Mvcc } from '../../src/storage/mvcc/mvcc.ts';
import { toHex, utf8 } from '../../src/util/bytes.ts';

const dirs: string[] = [];

/** A fresh lmdb store in a temp dir; removed by cleanupDirs(). */
export function tmpLmdb(): Engine {
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-fsm-'));
  dirs.push(dir);
  return openLmdbEngine(dir);
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function fsmOver(engine: Engine, opts: Partial<FsmOptions> = {}): Fsm {
  return new Fsm({ mvcc: new Mvcc(engine), engine, ...opts });
}

export const b = utf8;
export const put = (key: string, value: string, expireAtMs = 0n): WriteOp => ({
  kind: 'put',
  key: b(key),
  value: b(value),
  expireAtMs,
});
export const del = (key: string): WriteOp => ({ kind: 'delete', key: b(key) });
export const flush = (): WriteOp => ({ kind: 'flush' });

export function req(
  requestId: bigint,
  commitTs: bigint,
  ops: WriteOp[],
  reads: string[] = [],
  readTs = 0n,
): Request {
  return { requestId, commitTs, readTs, reads: reads.map(b), ops };
}

/** `r` re-submitted, its earlier attempts appended at `priorAt`. */
export function retry(r: Request, ...priorAt: bigint[]): Request {
  return { ...r, priorAt };
}

/** A normal entry carrying `body` under the proposal header. */
export function entry(
  index: number,
  body: Uint8Array,
  proposalId = BigInt(index) * 100n,
  term = 1,
): FsmEntry {
  return { index, term, type: 0, data: encodeProposal(proposalId, body) };
}

export function userEntry(index: number, requests: Request[], proposalId?: bigint): FsmEntry {
  return entry(index, encodeRequests(requests), proposalId);
}

export const rawEntry = (index: number, data: Uint8Array, type = 0): FsmEntry => ({
  index,
  term: 1,
  type,
  data,
});

/** Every row of the given namespaces, hex-encoded, in key order. */
export function dump(engine: Engine, namespaces: readonly Namespace[] = NAMESPACES): string[] {
  const out: string[] = [];
  for (const ns of namespaces)
    for (const r of engine.range(ns)) out.push(`${ns}:${toHex(r.key)}=${toHex(r.value)}`);
  return out;
}

export function readAt(engine: Engine, key: string, ts: bigint): string | undefined {
  const v = new Mvcc(engine).get(b(key), { ts, nowMs: 0n });
  return v === undefined ? undefined : Buffer.from(v.value).toString('utf8');
}

/** Delegates to an engine and records every batch written (to check what shares a batch). */
export class RecordingEngine implements Engine {
  readonly batches: WriteBatch[] = [];
  constructor(readonly inner: Engine) {}
  get(ns: Namespace, key: Uint8Array) {
    return this.inner.get(ns, key);
  }
  range(ns: Namespace, opts?: Parameters<Engine['range']>[1]) {
    return this.inner.range(ns, opts);
  }
  write(batch: WriteBatch, opts: WriteOptions): Promise<void> {
    this.batches.push(batch);
    return this.inner.write(batch, opts);
  }
  snapshot() {
    return this.inner.snapshot();
  }
  replaceAll(rows: Parameters<Engine['replaceAll']>[0]) {
    return this.inner.replaceAll(rows);
  }
  close() {
    return this.inner.close();
  }
}

export { WriteBatch };
