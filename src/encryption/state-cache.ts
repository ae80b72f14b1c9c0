import type { Sidecar } from './sidecar/schema.ts';

/**
 * Process-wide mirror of the sidecar fields the value path consults on every
 * write (encryption.md §4.4), so no write reads the file. Primed at start and
 * refreshed only after a sidecar write has become durable, never before.
 */
export class EncryptionStateCache {
  private activeStorageId = 0;
  private storageActive = false;
  private registeredStorageDek = 0;

  /** Mirrors a sidecar that is already durable. */
  refresh(sidecar: Sidecar): void {
    this.activeStorageId = sidecar.active.storage;
    this.storageActive = sidecar.storageEnvelopeActive;
  }

  get activeStorage(): number {
    return this.activeStorageId;
  }

  get storageEnvelopeActive(): boolean {
    return this.storageActive;
  }

  /** Records that this process registered itself as a writer under `dekId`. */
  markRegistered(dekId: number): void {
    this.registeredStorageDek = dekId;
  }

  /** True iff this process is registered under the current active storage DEK; a rotation re-arms it. */
  registered(): boolean {
    return this.activeStorageId !== 0 && this.registeredStorageDek === this.activeStorageId;
  }
}
