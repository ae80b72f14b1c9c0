/**
 * A key-encryption key held outside the data directory (encryption.md §2.1).
 * Used at startup, at bootstrap/rotation apply and for DEK generation; never
 * per value.
 */
export interface KekProvider {
  /** Wraps a 32-byte DEK; the file provider returns nonce(12) ‖ ct(32) ‖ tag(16). */
  wrap(dek: Uint8Array): Uint8Array;
  /** Unwraps to the 32-byte DEK; throws on any failure (callers report ErrKEKMismatch). */
  unwrap(wrapped: Uint8Array): Uint8Array;
  /** Diagnostic name, e.g. `file:/etc/sealkv/kek`. */
  name(): string;
}
