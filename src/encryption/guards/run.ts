import { isSealError, SealError } from '../../util/errors.ts';
import type { KekProvider } from '../kek/provider.ts';
import { emptySidecar, type Sidecar } from '../sidecar/schema.ts';
import {
  bumpEpochs,
  checkCutoverDivergence,
  checkEpochExhausted,
  checkFlagWithoutKek,
  checkNodeIdCollision,
  checkOwnStorageRow,
  checkRaftRegistrationEpoch,
  checkRaftScope,
  checkSidecarBehindStore,
  checkSidecarWithoutFlag,
  decideStartRegistration,
  enabledWithPath,
  unwrapAllKeys,
} from './checks.ts';
import type {
  GuardStatus,
  PinnedEpochs,
  PostReplayInputs,
  RegistrationStart,
  RegistryView,
  StartupInputs,
  StartupResult,
} from './types.ts';

/** Guard names, in the order of encryption.md §11 (`sidecar-read` is where a corrupt sidecar surfaces). */
export const GUARD_NAMES = [
  'snapshot-divergence',
  'kek-load',
  'sidecar-without-flag',
  'flag-without-kek',
  'sidecar-read',
  'kek-mismatch',
  'epoch-exhausted',
  'filesystem-probe',
  'node-id-collision',
  'sidecar-behind-store',
  'rollback-pre-bump',
  'raft-scope',
  'hydrate-bump',
  'rollback-post-replay',
  'sidecar-behind-store-post-replay',
  'raft-registration-epoch',
  'process-start-registration',
] as const;
export type GuardName = (typeof GUARD_NAMES)[number];

/** State the pre-open guards build up for the ones after them. */
interface Ctx {
  readonly in: StartupInputs;
  /** Doctor: compute #11's bump without writing the sidecar or installing the wrap. */
  readonly dryRun: boolean;
  kek: KekProvider | undefined;
  sidecar: Sidecar | undefined;
  deks: Map<number, Uint8Array>;
  registryOpened: boolean;
  registry: RegistryView | undefined;
  pinned: PinnedEpochs;
  /** The sidecar after #11 (bumped), what the post-replay guards compare. */
  after: Sidecar | undefined;
}

interface Guard {
  readonly name: GuardName;
  /** Guards whose outcome this one consumes; if one did not pass, this one is skipped (doctor only). */
  readonly deps: readonly GuardName[];
  run(ctx: Ctx): string;
}

function registry(ctx: Ctx): RegistryView | undefined {
  if (!ctx.registryOpened) {
    ctx.registry = ctx.in.openRegistryView();
    ctx.registryOpened = true;
  }
  return ctx.registry;
}

function zero(deks: Map<number, Uint8Array>): void {
  for (const d of deks.values()) d.fill(0);
  deks.clear();
}

const PRE_OPEN: readonly Guard[] = [
  {
    name: 'snapshot-divergence',
    deps: [],
    run(ctx) {
      const flags = ctx.in.flags;
      if (!enabledWithPath(flags)) return 'not applicable: needs --encryption-enabled and a sidecar path';
      const snap = ctx.in.newestSnapshotCutover();
      if (snap === undefined || snap === 0n) return checkCutoverDivergence(snap, 0n, 'newest snapshot');
      let sidecarCutover: bigint;
      try {
        sidecarCutover = ctx.in.readSidecar(flags.sidecarPath)?.raftEnvelopeCutoverIndex ?? 0n;
      } catch {
        // An unreadable sidecar is reported by sidecar-read, after the KEK guards that must win over it.
        return 'sidecar unreadable; see sidecar-read';
      }
      return checkCutoverDivergence(snap, sidecarCutover, 'newest snapshot');
    },
  },
  {
    name: 'kek-load',
    deps: [],
    run(ctx) {
      const path = ctx.in.flags.kekFile;
      if (path === undefined || path === '') return 'no --kek-file';
      ctx.kek = ctx.in.loadKek(path);
      return `loaded ${ctx.kek.name()}`;
    },
  },
  {
    name: 'sidecar-without-flag',
    deps: [],
    run(ctx) {
      const path = ctx.in.flags.sidecarPath;
      const exists = path !== undefined && path !== '' && ctx.in.sidecarExists(path);
      return checkSidecarWithoutFlag(ctx.in.flags, exists);
    },
  },
  { name: 'flag-without-kek', deps: [], run: (ctx) => checkFlagWithoutKek(ctx.in.flags) },
  {
    name: 'sidecar-read',
    deps: ['sidecar-without-flag'],
    run(ctx) {
      const flags = ctx.in.flags;
      if (!enabledWithPath(flags)) return 'not applicable: needs --encryption-enabled and a sidecar path';
      ctx.sidecar = ctx.in.readSidecar(flags.sidecarPath);
      const s = ctx.sidecar;
      if (s === undefined) return `no sidecar at ${flags.sidecarPath}`;
      return (
        `version ${s.version}, raft_applied_index ${s.raftAppliedIndex}, active storage ${s.active.storage} ` +
        `raft ${s.active.raft}, ${s.keys.size} keys`
      );
    },
  },
  {
    name: 'kek-mismatch',
    deps: ['kek-load', 'flag-without-kek', 'sidecar-read'],
    run(ctx) {
      if (!ctx.in.flags.encryptionEnabled || ctx.sidecar === undefined) return 'no sidecar keys to unwrap';
      ctx.deks = unwrapAllKeys(ctx.sidecar, ctx.kek!);
      return `${ctx.deks.size} keys unwrap under ${ctx.kek!.name()}`;
    },
  },
  {
    name: 'epoch-exhausted',
    deps: ['sidecar-read'],
    run: (ctx) => checkEpochExhausted(ctx.sidecar, (m) => ctx.in.warn?.(m)),
  },
  {
    name: 'filesystem-probe',
    deps: [],
    run(ctx) {
      const flags = ctx.in.flags;
      if (!enabledWithPath(flags)) return 'not applicable: needs --encryption-enabled and a sidecar path';
      ctx.in.probeFilesystem(flags.sidecarPath);
      return `fsync and rename work in the directory of ${flags.sidecarPath}`;
    },
  },
  {
    name: 'node-id-collision',
    deps: ['sidecar-read'],
    run(ctx) {
      if (!ctx.in.flags.encryptionEnabled || ctx.sidecar === undefined || ctx.sidecar.active.storage === 0) {
        return 'not applicable: no active storage key';
      }
      return checkNodeIdCollision(ctx.in.flags.id, ctx.in.members());
    },
  },
  {
    name: 'sidecar-behind-store',
    deps: ['sidecar-read'],
    run: (ctx) => checkSidecarBehindStore(registry(ctx), ctx.sidecar),
  },
  {
    name: 'rollback-pre-bump',
    deps: ['sidecar-read'],
    run: (ctx) => checkOwnStorageRow(ctx.in.flags, registry(ctx), ctx.sidecar, true),
  },
  {
    name: 'raft-scope',
    deps: ['sidecar-read'],
    run: (ctx) => checkRaftScope(ctx.sidecar, ctx.in.localGroups ?? 1),
  },
  {
    name: 'hydrate-bump',
    deps: ['kek-mismatch', 'epoch-exhausted', 'raft-scope'],
    run: hydrateAndBump,
  },
];

/**
 * #11: primes the state cache, loads every DEK, bumps the active epochs and
 * makes the bump durable before returning, so no nonce of this process can
 * ever be issued under an epoch that a crash could hand out again.
 */
function hydrateAndBump(ctx: Ctx): string {
  const { flags, keystore, stateCache } = ctx.in;
  const sidecar = ctx.sidecar;
  if (sidecar === undefined) {
    stateCache.refresh(emptySidecar());
    ctx.pinned = { storage: 0, raft: 0 };
    return 'no sidecar: pinned epochs 0';
  }
  const cutover = sidecar.raftEnvelopeCutoverIndex;
  if (sidecar.active.storage === 0 && cutover === 0n) {
    stateCache.refresh(sidecar);
    ctx.after = sidecar;
    ctx.pinned = { storage: 0, raft: 0 };
    return 'no active storage key: pinned epochs 0';
  }
  for (const [id, dek] of ctx.deks) keystore.set(id, dek);
  zero(ctx.deks);
  const { next, pinned } = bumpEpochs(sidecar);
  // The durable write comes first: the store opens for writing (and replay
  // re-encrypts) only after this returns, so every nonce uses a persisted epoch.
  if (!ctx.dryRun) ctx.in.writeSidecar(flags.sidecarPath!, next);
  stateCache.refresh(next);
  ctx.after = next;
  ctx.pinned = pinned;
  if (cutover !== 0n && !ctx.dryRun) ctx.in.installRaftWrap?.(cutover, next.active.raft);
  const verb = ctx.dryRun ? 'would pin' : 'pinned';
  return `${verb} storage epoch ${pinned.storage}, raft epoch ${pinned.raft}; ${keystore.ids().length} keys loaded`;
}

function newCtx(inputs: StartupInputs, dryRun: boolean): Ctx {
  return {
    in: inputs,
    dryRun,
    kek: undefined,
    sidecar: undefined,
    deks: new Map(),
    registryOpened: false,
    registry: undefined,
    pinned: { storage: 0, raft: 0 },
    after: undefined,
  };
}

/** The refusal as start-up reports it: the guard's name is added to the details. */
function refusal(guard: GuardName, e: unknown): Error {
  if (!isSealError(e)) return e instanceof Error ? e : new Error(String(e));
  const prefix = `${e.code}: `;
  const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
  return new SealError(e.code, message, { ...e.details, guard }, e);
}

export interface RunOptions {
  /** Called after each guard passes, e.g. to log it. */
  onPass?(guard: GuardName, detail: string): void;
}

/**
 * Runs guards #1–#11 in order; the first refusal is thrown (a SealError whose
 * details name the guard). On success the epochs are bumped and durable and
 * the keystore and state cache are loaded: the caller may now open the store
 * for writing and replay the log, then call runPostReplayGuards.
 */
export function runStartupGuards(inputs: StartupInputs, opts: RunOptions = {}): StartupResult {
  const ctx = newCtx(inputs, false);
  try {
    for (const g of PRE_OPEN) {
      let detail: string;
      try {
        detail = g.run(ctx);
      } catch (e) {
        throw refusal(g.name, e);
      }
      opts.onPass?.(g.name, detail);
    }
  } finally {
    zero(ctx.deks);
  }
  return { pinned: ctx.pinned, sidecar: ctx.after ?? ctx.sidecar, kek: ctx.kek };
}

const POST_REPLAY: readonly {
  readonly name: GuardName;
  run(p: PostReplayInputs, out: { start: RegistrationStart }): string;
}[] = [
  {
    name: 'rollback-post-replay',
    run: (p) => checkOwnStorageRow(p.flags, p.registry, p.sidecar, false),
  },
  { name: 'sidecar-behind-store-post-replay', run: (p) => checkSidecarBehindStore(p.registry, p.sidecar) },
  {
    name: 'raft-registration-epoch',
    run: (p) => checkRaftRegistrationEpoch(p.flags, p.registry, p.sidecar, p.pinned),
  },
  {
    name: 'process-start-registration',
    run(p, out) {
      const d = decideStartRegistration(p.flags, p.registry, p.sidecar, p.pinned);
      out.start = d.verdict;
      return d.detail;
    },
  },
];

/**
 * Guards #13, #14, #16 and #17, run after the store was opened and the log
 * replayed. Marks the process registered when its own row already carries
 * the pinned storage epoch; otherwise the caller arms the first-write barrier
 * and registers asynchronously ('register-async').
 */
export function runPostReplayGuards(p: PostReplayInputs, opts: RunOptions = {}): RegistrationStart {
  const out: { start: RegistrationStart } = { start: 'not-applicable' };
  for (const g of POST_REPLAY) {
    let detail: string;
    try {
      detail = g.run(p, out);
    } catch (e) {
      throw refusal(g.name, e);
    }
    opts.onPass?.(g.name, detail);
  }
  if (out.start === 'registered') p.stateCache.markRegistered(p.sidecar!.active.storage);
  return out.start;
}

function statusOf(guard: GuardName, e: unknown): GuardStatus {
  const code = isSealError(e) ? e.code : e instanceof Error ? e.name : 'Error';
  const raw = e instanceof Error ? e.message : String(e);
  const detail = raw.startsWith(`${code}: `) ? raw.slice(code.length + 2) : raw;
  return { guard, status: 'refused', code, detail: detail.replace(/\s+/g, ' ') };
}

/**
 * Doctor: runs every guard that needs no running cluster and reports each.
 * Nothing is persisted (#11 only computes the epochs it would pin), and the
 * post-replay guards are evaluated against the store as it is, which is
 * sound for refusals: replay only ever raises a registry `last_seen`.
 * A guard whose inputs come from a guard that did not pass is skipped.
 */
export function checkAllGuards(inputs: StartupInputs): GuardStatus[] {
  const ctx = newCtx(inputs, true);
  const results: GuardStatus[] = [];
  const passed = new Set<GuardName>();
  const attempt = (name: GuardName, deps: readonly GuardName[], run: () => string): void => {
    const blocker = deps.find((d) => !passed.has(d));
    if (blocker !== undefined) {
      const why = results.find((r) => r.guard === blocker)?.status ?? 'skipped';
      results.push({ guard: name, status: 'skipped', reason: `needs ${blocker}, which ${why}` });
      return;
    }
    try {
      results.push({ guard: name, status: 'ok', detail: run() });
      passed.add(name);
    } catch (e) {
      results.push(statusOf(name, e));
    }
  };
  try {
    for (const g of PRE_OPEN) attempt(g.name, g.deps, () => g.run(ctx));
    const post: PostReplayInputs = {
      flags: inputs.flags,
      pinned: ctx.pinned,
      sidecar: ctx.after ?? ctx.sidecar,
      registry: ctx.registry,
      stateCache: inputs.stateCache,
    };
    const out: { start: RegistrationStart } = { start: 'not-applicable' };
    for (const g of POST_REPLAY) {
      attempt(g.name, ['hydrate-bump', 'sidecar-behind-store'], () => g.run(post, out));
    }
  } finally {
    zero(ctx.deks);
  }
  return results;
}
