/**
 * Why decoding failed (spec §4.3):
 * - `block-missing` — the block store does not have the block;
 * - `block-size` — the block is not exactly the block size of the read capability;
 * - `reference-mismatch` — BLAKE2b-256 of the block is not its reference;
 * - `key-mismatch` — BLAKE2b-256 of a decrypted internal node is not its key
 *   (manipulated key or level in the capability or the parent node);
 * - `invalid-node` — an internal node has no reference-key pair, or a non-null pair after a null pair;
 * - `invalid-padding` — the last leaf does not end in `0x80 0x00…` within the block.
 */
export type ErisDecodeFailure =
  | 'block-missing'
  | 'block-size'
  | 'reference-mismatch'
  | 'key-mismatch'
  | 'invalid-node'
  | 'invalid-padding'

/** Content cannot be decoded: a block is missing or invalid. */
export class ErisDecodeError extends Error {
  static override name = 'ErisDecodeError'
  override name = 'ErisDecodeError'
  /** The offending block as `urn:blake2b:<base32 reference>`. */
  readonly reference: string | undefined
  /** Machine-readable cause. */
  readonly reason: ErisDecodeFailure

  constructor (message: string, reason: ErisDecodeFailure, reference?: string) {
    super(reference == null ? message : `${message} (${reference})`)
    this.reason = reason
    this.reference = reference
  }
}

/** Encoding was called with invalid parameters or input. */
export class ErisEncodeError extends Error {
  static override name = 'ErisEncodeError'
  override name = 'ErisEncodeError'
}

/** A `urn:eris:`/`urn:blake2b:` string or a binary read capability is malformed. */
export class ErisUrnError extends Error {
  static override name = 'ErisUrnError'
  override name = 'ErisUrnError'
}
