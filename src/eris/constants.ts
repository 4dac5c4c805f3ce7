/**
 * ERIS 1.0.0 constants.
 *
 * Spec: shared/specs/content-addressing.md §4 (ERIS 1.0.0, reconstructed from the official
 * test vectors and validated against all 25 of them), upstream http://purl.org/eris.
 */

/** Small block size, 1 KiB (§4.2 "Parameters"). Recommended for content < 16 KiB. */
export const ERIS_BLOCK_SIZE_1KIB = 1024
/** Large block size, 32 KiB (§4.2 "Parameters"). */
export const ERIS_BLOCK_SIZE_32KIB = 32768

/** The two block sizes ERIS 1.0 defines. */
export type ErisBlockSize = typeof ERIS_BLOCK_SIZE_1KIB | typeof ERIS_BLOCK_SIZE_32KIB

/** Read-capability byte 0 = log2(block size): 0x0a for 1 KiB (§4.2 step 6). */
export const BLOCK_SIZE_BYTE_1KIB = 0x0a
/** Read-capability byte 0 = log2(block size): 0x0f for 32 KiB (§4.2 step 6). */
export const BLOCK_SIZE_BYTE_32KIB = 0x0f

/** Length of a block reference, BLAKE2b-256 of the encrypted block (§4.2 step 3). */
export const REFERENCE_LENGTH = 32
/** Length of a block key, BLAKE2b-256 (keyed for leaves, unkeyed for nodes) (§4.2 steps 3–4). */
export const KEY_LENGTH = 32
/** Length of a reference-key pair inside an internal node: `r ‖ k` (§4.2 step 4). */
export const PAIR_LENGTH = REFERENCE_LENGTH + KEY_LENGTH
/** Length of a convergence secret (§4.2 "Parameters"); all zero = the null convergence secret. */
export const CONVERGENCE_SECRET_LENGTH = 32
/** Length of the binary read capability: block-size byte, level, root reference, root key (§4.2 step 6). */
export const READ_CAPABILITY_LENGTH = 2 + REFERENCE_LENGTH + KEY_LENGTH

/** Pairs per internal node: block size / 64 = 16 (1 KiB) or 512 (32 KiB) (§4.2 step 4). */
export function arity (blockSize: ErisBlockSize): number {
  return blockSize / PAIR_LENGTH
}

/** First padding byte; followed by 0x00 up to the block boundary (§4.2 step 1). */
export const PADDING_MARKER = 0x80

/** ChaCha20 (RFC 8439) key and nonce lengths; the nonce is `[level, 0 × 11]` (§4.2 steps 3–4). */
export const CHACHA20_KEY_LENGTH = 32
export const CHACHA20_NONCE_LENGTH = 12

/** URN prefix of a read capability: `urn:eris:` + base32(cap) (§4.2 step 6). */
export const ERIS_URN_PREFIX = 'urn:eris:'
/** URN prefix of a block reference as used by the transports: `urn:blake2b:` + base32(r) (§4.2 step 6, §4.4). */
export const BLAKE2B_URN_PREFIX = 'urn:blake2b:'
/** base32 (RFC 4648, uppercase, unpadded) length of a 66-byte read capability. */
export const READ_CAPABILITY_BASE32_LENGTH = 106
/** base32 (RFC 4648, uppercase, unpadded) length of a 32-byte reference. */
export const REFERENCE_BASE32_LENGTH = 52

/** CBOR tag for a binary read capability, as defined by eris-nim (§4.2 step 6). */
export const CBOR_TAG_READ_CAPABILITY = 276
