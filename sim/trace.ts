// Trace hashing and the fixed-width log line format of the simulator. The trace hash
// covers canonical length-prefixed encodings, never JSON, so equal runs hash equal.

import { createHash, type Hash } from 'node:crypto';

export type TraceField = string | number | boolean | null | Uint8Array;

const encoder = new TextEncoder();

function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** Canonical encoding of one field: a one-byte tag, a 4-byte length, the bytes. */
export function encodeField(field: TraceField): Uint8Array {
  let tag: string;
  let body: Uint8Array;
  if (field === null) [tag, body] = ['z', new Uint8Array(0)];
  else if (typeof field === 'string') [tag, body] = ['s', encoder.encode(field)];
  else if (typeof field === 'number') [tag, body] = ['n', encoder.encode(numberText(field))];
  else if (typeof field === 'boolean') [tag, body] = ['b', new Uint8Array([field ? 1 : 0])];
  else [tag, body] = ['u', field];
  const out = new Uint8Array(5 + body.length);
  out[0] = tag.charCodeAt(0);
  out.set(u32be(body.length), 1);
  out.set(body, 5);
  return out;
}

function numberText(n: number): string {
  // -0 and 0 must encode differently from each other only if they behave differently; they
  // do not in the simulator, so fold them.
  return Object.is(n, -0) ? '0' : String(n);
}

/** Incremental sha256 over a sequence of events, each a list of fields. */
export class TraceHasher {
  private readonly hash: Hash = createHash('sha256');
  private events = 0;

  get eventCount(): number {
    return this.events;
  }

  add(fields: readonly TraceField[]): void {
    this.hash.update(u32be(fields.length));
    for (const f of fields) this.hash.update(encodeField(f));
    this.events++;
  }

  /** Finish and return the hex digest; the hasher cannot be used afterwards. */
  digestHex(): string {
    return this.hash.digest('hex');
  }
}

/** sha256 hex of a list of hex digests, in order (the hash of several runs). */
export function combineHashes(hexDigests: readonly string[]): string {
  const h = new TraceHasher();
  for (const d of hexDigests) h.add([d]);
  return h.digestHex();
}

/** Virtual ms as `t=0000123.450`: 7 integer digits, 3 decimals. */
export function fmtTime(ms: number): string {
  const micros = Math.round(ms * 1000);
  const whole = Math.floor(micros / 1000);
  const frac = micros - whole * 1000;
  return `t=${String(whole).padStart(7, '0')}.${String(frac).padStart(3, '0')}`;
}

/** Virtual ms in the 0000425.000 form (no prefix), for `until=` fields. */
export function fmtMs(ms: number): string {
  return fmtTime(ms).slice(2);
}

export function fmtEv(ev: number): string {
  return `ev=${String(ev).padStart(7, '0')}`;
}

export function fmtSeed(seed: number): string {
  return `0x${(seed >>> 0).toString(16).padStart(8, '0')}`;
}

/** Parse a seed given in hex (0x…) or decimal. */
export function parseSeed(text: string): number {
  const t = text.trim().toLowerCase();
  const valid = t.startsWith('0x') ? /^0x[0-9a-f]{1,8}$/.test(t) : /^[0-9]+$/.test(t);
  const n = valid ? Number(t) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`bad seed "${text}": use hex (0x5eed0042) or decimal below 2^32`);
  }
  return n;
}

/** `t=… ev=… n2 <text>` — one node's event. */
export function nodeLine(timeMs: number, ev: number, node: number, text: string): string {
  return `${fmtTime(timeMs)} ${fmtEv(ev)} n${node} ${text}`;
}

/** `t=… ev=… ** fault <text>` — a fault injection. */
export function faultLine(timeMs: number, ev: number, text: string): string {
  return `${fmtTime(timeMs)} ${fmtEv(ev)} ** fault ${text}`;
}

/** `t=… ev=… == <text>` — a periodic status line. */
export function statusLine(timeMs: number, ev: number, text: string): string {
  return `${fmtTime(timeMs)} ${fmtEv(ev)} == ${text}`;
}

function quoteDetail(detail: string): string {
  return detail.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function failLine(seed: number, ev: number, invariant: string, detail: string): string {
  return `FAIL seed=${fmtSeed(seed)} ${fmtEv(ev)} invariant=${invariant} detail="${quoteDetail(detail)}"`;
}

export function passLine(seed: number, events: number, vtimeMs: number, ops: number): string {
  return `PASS seed=${fmtSeed(seed)} events=${events} vtime=${fmtMs(vtimeMs)} ops=${ops}`;
}

export function replayCommand(seed: number, ev: number): string {
  return `npm run sim -- --seed ${fmtSeed(seed)} --until-ev ${ev}`;
}

/**
 * A run's trace: every line is hashed; lines are kept only inside an optional event
 * window (debug logging around a failing event), so long runs stay cheap.
 */
export class Trace {
  private readonly hasher = new TraceHasher();
  readonly kept: string[] = [];

  constructor(private readonly keepWindow?: { fromEv: number; toEv: number }) {}

  line(ev: number, text: string): void {
    this.hasher.add([ev, text]);
    const w = this.keepWindow;
    if (w !== undefined && ev >= w.fromEv && ev <= w.toEv) this.kept.push(text);
  }

  /** Hash a line without keeping it (the run's own PASS/FAIL summary). */
  hashOnly(ev: number, text: string): void {
    this.hasher.add([ev, text]);
  }

  get lines(): number {
    return this.hasher.eventCount;
  }

  digestHex(): string {
    return this.hasher.digestHex();
  }
}
