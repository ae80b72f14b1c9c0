/** Start-up refusal guards of encryption.md §11 over injected inputs. */
export {
  bumpEpochs,
  checkCutoverDivergence,
  EPOCH_WARN,
  MAX_EPOCH,
} from './checks.ts';
export {
  checkAllGuards,
  GUARD_NAMES,
  type GuardName,
  type RunOptions,
  runPostReplayGuards,
  runStartupGuards,
} from './run.ts';
export type {
  GuardFlags,
  GuardStatus,
  MemberList,
  PinnedEpochs,
  PostReplayInputs,
  RegistrationStart,
  RegistryView,
  StartupInputs,
  StartupResult,
} from './types.ts';
