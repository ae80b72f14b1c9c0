// The simulated state machine: registers and lists on a few keys, with a per-client session
// table so a retried request (same client and request id) takes effect at most once.
// Its hash is maintained incrementally so the ghost can compare it after every apply (I8).

import type { KvCmd, KvInput, KvOutput } from '../lincheck/models.ts';

/** A client write as carried in a log entry. */
export interface KvOp {
  readonly client: number;
  readonly reqId: number;
  readonly cmd: KvInput;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function encodeCmd(c: KvCmd): string {
  const value = c.f === 'put' || c.f === 'append' ? c.value : '';
  return `${c.f}|${c.key}|${value}`;
}

function decodeCmd(f: string, key: string, value: string): KvCmd {
  if (f === 'put' || f === 'append') return { f, key, value };
  return f === 'read' ? { f, key } : { f: 'get', key };
}

/**
 * Canonical entry payload: `client|reqId|f|key|value`, or for MULTI/EXEC
 * `client|reqId|multi|n|f|key|value|…` with n commands. Keys and values never contain `|`.
 */
export function encodeOp(op: KvOp): Uint8Array {
  const c = op.cmd;
  if (c.f === 'multi') {
    return enc.encode(`${op.client}|${op.reqId}|multi|${c.cmds.length}|${c.cmds.map(encodeCmd).join('|')}`);
  }
  return enc.encode(`${op.client}|${op.reqId}|${encodeCmd(c)}`);
}

export function decodeOp(data: Uint8Array): KvOp | undefined {
  if (data.length === 0) return undefined;
  const parts = dec.decode(data).split('|');
  const client = Number(parts[0]);
  const reqId = Number(parts[1]);
  if (parts[2] === 'multi') {
    const cmds: KvCmd[] = [];
    for (let k = 0; k < Number(parts[3]); k++) {
      const at = 4 + 3 * k;
      cmds.push(decodeCmd(parts[at]!, parts[at + 1]!, parts[at + 2]!));
    }
    return { client, reqId, cmd: { f: 'multi', cmds } };
  }
  return { client, reqId, cmd: decodeCmd(parts[2]!, parts[3]!, parts[4]!) };
}

/** 32-bit FNV-1a step over a string, continuing from h. */
export function fnv(h: number, s: string): number {
  let x = h;
  for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 0x01000193);
  return x >>> 0;
}

/** Mix two 32-bit words (murmur3 finaliser over their combination). */
export function mix(a: number, b: number): number {
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 53-bit content hash of bytes: two independent 32-bit lanes. */
export function bytesHash(term: number, data: Uint8Array): number {
  let a = mix(0x811c9dc5, term);
  let b = mix(0x1b873593, term);
  for (let i = 0; i < data.length; i++) {
    a = Math.imul(a ^ data[i]!, 0x01000193);
    b = Math.imul(b ^ data[i]!, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0) + ((b >>> 0) & 0x1fffff) * 4294967296;
}

interface Session {
  reqId: number;
  output: KvOutput;
}

export class KvMachine {
  private readonly regs = new Map<string, string>();
  private readonly lists = new Map<string, string[]>();
  /** Per-key running hash, so the state hash costs O(keys) per apply. */
  private readonly keyHash = new Map<string, number>();
  private readonly sessions = new Map<number, Session>();
  applied = 0;

  /** Applies one entry's payload at index `index`; returns the op and its output. */
  apply(index: number, data: Uint8Array): { op: KvOp; output: KvOutput } | undefined {
    this.applied = index;
    const op = decodeOp(data);
    if (op === undefined) return undefined;
    const s = this.sessions.get(op.client);
    if (s !== undefined && op.reqId <= s.reqId) return { op, output: s.output };
    const output = this.exec(op.cmd);
    this.sessions.set(op.client, { reqId: op.reqId, output });
    return { op, output };
  }

  /** The reply cached for a request already applied, if it is the client's latest. */
  cached(client: number, reqId: number): KvOutput | undefined {
    const s = this.sessions.get(client);
    return s !== undefined && s.reqId === reqId ? s.output : undefined;
  }

  read(cmd: KvCmd): KvOutput {
    if (cmd.f === 'read') return [...(this.lists.get(cmd.key) ?? [])];
    return this.regs.get(cmd.key) ?? null;
  }

  private exec(cmd: KvInput): KvOutput {
    // MULTI/EXEC: every command runs in one apply, so no other op can land between them.
    if (cmd.f === 'multi') return cmd.cmds.map((c) => this.exec(c));
    if (cmd.f === 'put') {
      this.regs.set(cmd.key, cmd.value);
      this.keyHash.set(cmd.key, fnv(0x811c9dc5, cmd.value));
      return 'ok';
    }
    if (cmd.f === 'append') {
      const l = this.lists.get(cmd.key) ?? [];
      l.push(cmd.value);
      this.lists.set(cmd.key, l);
      this.keyHash.set(cmd.key, mix(this.keyHash.get(cmd.key) ?? 7, fnv(0x811c9dc5, cmd.value)));
      return 'ok';
    }
    return this.read(cmd);
  }

  /**
   * The whole state as snapshot bytes: registers, lists and sessions in sorted key order, so
   * two machines in the same state serialize identically whatever order they were built in.
   */
  serialize(): Uint8Array {
    const sorted = <V>(m: Map<string, V>): [string, V][] => [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const sessions = [...this.sessions].sort((a, b) => a[0] - b[0]);
    return enc.encode(
      JSON.stringify({ applied: this.applied, regs: sorted(this.regs), lists: sorted(this.lists), sessions }),
    );
  }

  /** A machine rebuilt from serialize() bytes; its hash is recomputed, not carried. */
  static restore(data: Uint8Array): KvMachine {
    const s = JSON.parse(dec.decode(data)) as {
      applied: number;
      regs: [string, string][];
      lists: [string, string[]][];
      sessions: [number, Session][];
    };
    const m = new KvMachine();
    m.applied = s.applied;
    for (const [k, v] of s.regs) {
      m.regs.set(k, v);
      m.keyHash.set(k, fnv(0x811c9dc5, v));
    }
    for (const [k, l] of s.lists) {
      m.lists.set(k, l);
      let h = 7;
      for (const v of l) h = mix(h, fnv(0x811c9dc5, v));
      m.keyHash.set(k, h);
    }
    for (const [c, sess] of s.sessions) m.sessions.set(c, sess);
    return m;
  }

  /** Hash of the whole key space, in sorted key order. */
  stateHash(): number {
    let h = 0x2545f491;
    for (const k of [...this.keyHash.keys()].sort()) h = mix(fnv(h, k), this.keyHash.get(k)!);
    return h;
  }
}
