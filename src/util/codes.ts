/**
 * The stable error names of the encryption spec (encryption.md; codes §8.8).
 * Use these constants, never string literals, so a typo is a type error.
 */
export const Err = {
  AlreadyBootstrapped: 'ErrAlreadyBootstrapped',
  BadKeySize: 'ErrBadKeySize',
  BadNonceSize: 'ErrBadNonceSize',
  CapabilityCheckFailed: 'ErrCapabilityCheckFailed',
  CutoverDEKIDStale: 'ErrCutoverDEKIDStale',
  CutoverOutcomeUnsafe: 'ErrCutoverOutcomeUnsafe',
  DEKIDExists: 'ErrDEKIDExists',
  DisableUnsupported: 'ErrDisableUnsupported',
  EncryptedReadIntegrity: 'ErrEncryptedReadIntegrity',
  EncryptedValueReservedState: 'ErrEncryptedValueReservedState',
  EncryptionApply: 'ErrEncryptionApply',
  EncryptionMutatorsDisabled: 'ErrEncryptionMutatorsDisabled',
  EncryptionNotBootstrapped: 'ErrEncryptionNotBootstrapped',
  EnvelopeCutoverDivergence: 'ErrEnvelopeCutoverDivergence',
  EnvelopeCutoverInProgress: 'ErrEnvelopeCutoverInProgress',
  EnvelopeShort: 'ErrEnvelopeShort',
  EnvelopeVersion: 'ErrEnvelopeVersion',
  FSMOpcodeUnknown: 'ErrFSMOpcodeUnknown',
  FSMWireMalformed: 'ErrFSMWireMalformed',
  FSMWireSubtag: 'ErrFSMWireSubtag',
  FSMWireVersion: 'ErrFSMWireVersion',
  InsecureKEKFile: 'ErrInsecureKEKFile',
  Integrity: 'ErrIntegrity',
  InvalidArgument: 'ErrInvalidArgument',
  KEKFileInvalid: 'ErrKEKFileInvalid',
  KEKMismatch: 'ErrKEKMismatch',
  KEKNotConfigured: 'ErrKEKNotConfigured',
  KEKRequiredWithFlag: 'ErrKEKRequiredWithFlag',
  KeyConflict: 'ErrKeyConflict',
  LocalEpochExhausted: 'ErrLocalEpochExhausted',
  LocalEpochOutOfRange: 'ErrLocalEpochOutOfRange',
  LocalEpochRollback: 'ErrLocalEpochRollback',
  NodeIDCollision: 'ErrNodeIDCollision',
  NotLeader: 'ErrNotLeader',
  PeerNotEncryptionCapable: 'ErrPeerNotEncryptionCapable',
  ProposalFailed: 'ErrProposalFailed',
  ProposalHeaderMalformed: 'ErrProposalHeaderMalformed',
  ProposerMismatch: 'ErrProposerMismatch',
  RaftEnvelopeScope: 'ErrRaftEnvelopeScope',
  RaftUnwrapFailed: 'ErrRaftUnwrapFailed',
  RegistryValueMalformed: 'ErrRegistryValueMalformed',
  ReservedKeyID: 'ErrReservedKeyID',
  SidecarActiveKeyMissing: 'ErrSidecarActiveKeyMissing',
  SidecarActivePurposeMismatch: 'ErrSidecarActivePurposeMismatch',
  SidecarBehindRaftLog: 'ErrSidecarBehindRaftLog',
  SidecarKeyIDFormat: 'ErrSidecarKeyIDFormat',
  SidecarMissing: 'ErrSidecarMissing',
  SidecarPathInvalid: 'ErrSidecarPathInvalid',
  SidecarPresentWithoutFlag: 'ErrSidecarPresentWithoutFlag',
  SidecarPurpose: 'ErrSidecarPurpose',
  SidecarReservedKeyID: 'ErrSidecarReservedKeyID',
  SidecarVersion: 'ErrSidecarVersion',
  SnapshotHeaderInvalidLength: 'ErrSnapshotHeaderInvalidLength',
  SnapshotHeaderUnknownMagic: 'ErrSnapshotHeaderUnknownMagic',
  StartupRotationPending: 'ErrStartupRotationPending',
  UnknownKeyID: 'ErrUnknownKeyID',
  UnsupportedFilesystem: 'ErrUnsupportedFilesystem',
  UnsupportedStoreForWriterRegistry: 'ErrUnsupportedStoreForWriterRegistry',
  WriteCountExhausted: 'ErrWriteCountExhausted',
  WriterNotRegistered: 'ErrWriterNotRegistered',
  WriterUint16Collision: 'ErrWriterUint16Collision',
  SidecarInvalid: 'ErrSidecarInvalid',
  MvccRowMalformed: 'ErrMvccRowMalformed',
  StorageClosed: 'ErrStorageClosed',
  TransportFrame: 'ErrTransportFrame',
  TransportSnapshot: 'ErrTransportSnapshot',
  WalCorrupt: 'ErrWalCorrupt',
  WalFailed: 'ErrWalFailed',
  StorageSnapshotCorrupt: 'ErrStorageSnapshotCorrupt',
} as const;

export type ErrCode = (typeof Err)[keyof typeof Err];

/** gRPC status code names used by the admin API mapping (encryption.md §8.8). */
export type RpcCode =
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'Internal'
  | 'Canceled'
  | 'DeadlineExceeded';
