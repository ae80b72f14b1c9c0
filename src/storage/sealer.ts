/**
 * The seam through which the storage layer encrypts values without importing
 * the encryption layer. The encryption layer's storage envelope implements it
 * structurally; the MVCC layer calls it for every value version it writes or
 * reads (encryption.md §3.4).
 */
export interface ValueSealer {
  /**
   * The per-value write decision: true iff a cipher is configured, an active
   * storage key exists and the storage envelope is active. Evaluated for every
   * version written, so a cutover takes effect at the apply that flips it.
   */
  shouldSeal(): boolean;
  /**
   * Seals a live value. `header` is the 9 header bytes exactly as they will be
   * stored (state 0b01), `engineKey` the full engine key of the version. Returns
   * the envelope (34 + plaintext.length bytes).
   */
  seal(plaintext: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Uint8Array;
  /**
   * Opens a stored body whose header says state 0b01. Any failure throws a
   * SealError with code `ErrEncryptedReadIntegrity`; never returns empty.
   */
  open(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): Uint8Array;
  /**
   * The re-badge guard for a cleartext (0b00) body of at least 34 bytes: throws
   * `ErrEncryptedReadIntegrity` when the body authenticates as an envelope under
   * any loaded key, otherwise returns (the value is genuine cleartext).
   */
  checkCleartext(body: Uint8Array, header: Uint8Array, engineKey: Uint8Array): void;
}
