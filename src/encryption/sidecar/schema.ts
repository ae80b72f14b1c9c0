import { Err } from '../../util/codes.ts';
import { sealError } from '../../util/errors.ts';
import { JsonNumber, type JsonValue, parseJson } from './json.ts';

/**
 * The sidecar `keys.json` (encryption.md §4.1): the node-local record of the
 * KEK-wrapped DEKs, the active ids and the envelope phase flags. Indexes are
 * uint64 and kept as bigint end to end.
 */
export type Purpose = 'storage' | 'raft';

export const SIDECAR_VERSION = 2;

export interface SidecarKey {
  readonly purpose: Purpose;
  /** KEK-wrapped DEK (60 bytes from the file provider; may be empty in a hand-edited file). */
  readonly wrapped: Uint8Array;
  /** RFC3339 UTC; diagnostic only. */
  readonly created: string;
  readonly localEpoch: number;
}

export interface Sidecar {
  /** The version read from disk; writers always stamp SIDECAR_VERSION. */
  readonly version: number;
  readonly raftAppliedIndex: bigint;
  readonly storageEnvelopeActive: boolean;
  /** First enable-storage-envelope apply; never overwritten; 0 when unknown (v1 files). */
  readonly storageEnvelopeCutoverIndex: bigint;
  /** Phase-2 cutover index; 0 = raft envelope inactive. */
  readonly raftEnvelopeCutoverIndex: bigint;
  readonly active: { readonly storage: number; readonly raft: number };
  readonly keys: ReadonlyMap<number, SidecarKey>;
}

/** The state of a node that has never bootstrapped (no sidecar file yet). */
export function emptySidecar(): Sidecar {
  return {
    version: SIDECAR_VERSION,
    raftAppliedIndex: 0n,
    storageEnvelopeActive: false,
    storageEnvelopeCutoverIndex: 0n,
    raftEnvelopeCutoverIndex: 0n,
    active: { storage: 0, raft: 0 },
    keys: new Map(),
  };
}

const U64_MAX = (1n << 64n) - 1n;
const KEY_ID = /^(?:0|[1-9][0-9]*)$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function invalid(what: string, details: Record<string, unknown> = {}): never {
  throw sealError(Err.SidecarInvalid, `sidecar ${what}; restore it from a peer with resync-sidecar`, details);
}

function field(obj: Map<string, JsonValue>, name: string): JsonValue {
  const v = obj.get(name);
  if (v === undefined) invalid(`is missing field "${name}"`, { field: name });
  return v;
}

function asObject(v: JsonValue, name: string): Map<string, JsonValue> {
  if (!(v instanceof Map)) invalid(`field "${name}" is not an object`, { field: name });
  return v;
}

function asUint(v: JsonValue, name: string, max: bigint): bigint {
  if (!(v instanceof JsonNumber) || !/^(?:0|[1-9][0-9]*)$/.test(v.raw) || BigInt(v.raw) > max) {
    invalid(`field "${name}" is not an unsigned integer ≤ ${max}`, { field: name });
  }
  return BigInt(v.raw);
}

function asBool(v: JsonValue, name: string): boolean {
  if (typeof v !== 'boolean') invalid(`field "${name}" is not a boolean`, { field: name });
  return v;
}

function asString(v: JsonValue, name: string): string {
  if (typeof v !== 'string') invalid(`field "${name}" is not a string`, { field: name });
  return v;
}

function parseKeyId(text: string): number {
  if (!KEY_ID.test(text) || BigInt(text) > 0xffffffffn) {
    throw sealError(Err.SidecarKeyIDFormat, `sidecar key id "${text}" is not a decimal uint32`, {
      keyId: text,
    });
  }
  return Number(text);
}

function parseKey(id: number, v: JsonValue): SidecarKey {
  const name = `keys.${id}`;
  const o = asObject(v, name);
  const purpose = asString(field(o, 'purpose'), `${name}.purpose`);
  if (purpose !== 'storage' && purpose !== 'raft') {
    throw sealError(Err.SidecarPurpose, `sidecar key ${id} has purpose "${purpose}", want storage or raft`, {
      keyId: id,
      purpose,
    });
  }
  const b64 = asString(field(o, 'wrapped'), `${name}.wrapped`);
  const wrapped = Uint8Array.from(Buffer.from(b64, 'base64'));
  if (!BASE64.test(b64) || Buffer.from(wrapped).toString('base64') !== b64) {
    invalid(`key ${id} has a wrapped DEK that is not padded standard base64`, { keyId: id });
  }
  return {
    purpose,
    wrapped,
    created: asString(field(o, 'created'), `${name}.created`),
    localEpoch: Number(asUint(field(o, 'local_epoch'), `${name}.local_epoch`, 0xffffn)),
  };
}

/** Parses and validates sidecar bytes; every defect is a typed error, never a default. */
export function parseSidecar(bytes: Uint8Array | string): Sidecar {
  let text: string;
  try {
    text = typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return invalid('is not valid UTF-8');
  }
  const root = asObject(parseJson(text), '(root)');
  // Version first: a future layout must report ErrSidecarVersion, not a field error.
  const ver = field(root, 'version');
  if (!(ver instanceof JsonNumber) || !/^-?(?:0|[1-9][0-9]*)$/.test(ver.raw))
    invalid('version is not an integer');
  const version = Number(BigInt(ver.raw) > 1000n ? 1000n : BigInt(ver.raw));
  if (version < 1 || version > SIDECAR_VERSION) {
    throw sealError(
      Err.SidecarVersion,
      `sidecar version ${ver.raw} is not readable (want 1..${SIDECAR_VERSION})`,
      {
        version: ver.raw,
      },
    );
  }
  const cutover = root.get('storage_envelope_cutover_index');
  const active = asObject(field(root, 'active'), 'active');
  const keys = new Map<number, SidecarKey>();
  const rawKeys = [...asObject(field(root, 'keys'), 'keys')].map(([k, v]) => [parseKeyId(k), v] as const);
  for (const [id, v] of rawKeys.sort((a, b) => a[0] - b[0])) {
    if (id === 0) throw sealError(Err.SidecarReservedKeyID, 'sidecar names key id 0, which is reserved');
    keys.set(id, parseKey(id, v));
  }
  const s: Sidecar = {
    version,
    raftAppliedIndex: asUint(field(root, 'raft_applied_index'), 'raft_applied_index', U64_MAX),
    storageEnvelopeActive: asBool(field(root, 'storage_envelope_active'), 'storage_envelope_active'),
    storageEnvelopeCutoverIndex:
      cutover === undefined && version === 1
        ? 0n
        : asUint(field(root, 'storage_envelope_cutover_index'), 'storage_envelope_cutover_index', U64_MAX),
    raftEnvelopeCutoverIndex: asUint(
      field(root, 'raft_envelope_cutover_index'),
      'raft_envelope_cutover_index',
      U64_MAX,
    ),
    active: {
      storage: Number(asUint(field(active, 'storage'), 'active.storage', 0xffffffffn)),
      raft: Number(asUint(field(active, 'raft'), 'active.raft', 0xffffffffn)),
    },
    keys,
  };
  validateSidecar(s);
  return s;
}

function isUint(n: number, max: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= max;
}

/** The §4.1 invariants; run on every read and before every write. */
export function validateSidecar(s: Sidecar): void {
  for (const [name, v] of [
    ['raft_applied_index', s.raftAppliedIndex],
    ['storage_envelope_cutover_index', s.storageEnvelopeCutoverIndex],
    ['raft_envelope_cutover_index', s.raftEnvelopeCutoverIndex],
  ] as const) {
    if (v < 0n || v > U64_MAX) invalid(`field "${name}" is out of uint64 range`, { field: name });
  }
  for (const [id, k] of s.keys) {
    if (!isUint(id, 0xffffffff)) {
      throw sealError(Err.SidecarKeyIDFormat, `sidecar key id ${id} is not a uint32`, { keyId: id });
    }
    if (id === 0) throw sealError(Err.SidecarReservedKeyID, 'sidecar names key id 0, which is reserved');
    if (k.purpose !== 'storage' && k.purpose !== 'raft') {
      throw sealError(Err.SidecarPurpose, `sidecar key ${id} has an unknown purpose`, { keyId: id });
    }
    if (!isUint(k.localEpoch, 0xffff)) invalid(`key ${id} has a local_epoch outside uint16`, { keyId: id });
  }
  for (const purpose of ['storage', 'raft'] as const) {
    const id = s.active[purpose];
    if (!isUint(id, 0xffffffff)) invalid(`active.${purpose} is not a uint32`);
    if (id === 0) continue;
    const k = s.keys.get(id);
    if (k === undefined) {
      throw sealError(Err.SidecarActiveKeyMissing, `active ${purpose} key ${id} is not in the sidecar keys`, {
        purpose,
        keyId: id,
      });
    }
    if (k.purpose !== purpose) {
      throw sealError(
        Err.SidecarActivePurposeMismatch,
        `active ${purpose} key ${id} is recorded with purpose ${k.purpose}`,
        { purpose, keyId: id },
      );
    }
  }
}

/**
 * Canonical text: fixed member order, keys in ascending numeric id, version
 * always stamped as SIDECAR_VERSION (a v1 file is upgraded by its next write).
 */
export function serializeSidecar(s: Sidecar): string {
  validateSidecar(s);
  const ids = [...s.keys.keys()].sort((a, b) => a - b);
  const keyLines = ids.map((id) => {
    const k = s.keys.get(id)!;
    return (
      `    "${id}": {\n` +
      `      "purpose": "${k.purpose}",\n` +
      `      "wrapped": ${JSON.stringify(Buffer.from(k.wrapped).toString('base64'))},\n` +
      `      "created": ${JSON.stringify(k.created)},\n` +
      `      "local_epoch": ${k.localEpoch}\n` +
      '    }'
    );
  });
  return (
    '{\n' +
    `  "version": ${SIDECAR_VERSION},\n` +
    `  "raft_applied_index": ${s.raftAppliedIndex},\n` +
    `  "storage_envelope_active": ${s.storageEnvelopeActive},\n` +
    `  "storage_envelope_cutover_index": ${s.storageEnvelopeCutoverIndex},\n` +
    `  "raft_envelope_cutover_index": ${s.raftEnvelopeCutoverIndex},\n` +
    `  "active": {\n    "storage": ${s.active.storage},\n    "raft": ${s.active.raft}\n  },\n` +
    (ids.length === 0 ? '  "keys": {}\n' : `  "keys": {\n${keyLines.join(',\n')}\n  }\n`) +
    '}\n'
  );
}

/** RFC3339 UTC without fractional seconds, the format of `created`. */
export function formatCreated(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
