/**
 * BLAKE3 and bao-tree constants.
 *
 * Spec: shared/specs/content-addressing.md §2.1 (core), §2.2 (tree shape),
 * §2.5 (bao-tree chunk groups), §2.6 (iroh size prefix).
 */

/** Bytes per compression block (§2.1 `BLOCK_LEN`). */
export const BLOCK_LEN = 64

/** Bytes per chunk, the leaf of the BLAKE3 tree (§2.1 `CHUNK_LEN`). */
export const CHUNK_LEN = 1024

/** Blocks per chunk. */
export const BLOCKS_PER_CHUNK = CHUNK_LEN / BLOCK_LEN

/** Bytes of a chaining value / default digest (§2.1 `OUT_LEN`). */
export const OUT_LEN = 32

/** Bytes of a keyed-hash key (§2.1 `KEY_LEN`). */
export const KEY_LEN = 32

/** Bytes of a parent node on the wire and in an outboard: `left_cv ‖ right_cv` (§2.4, §2.5). */
export const PAIR_LEN = 64

/** log2(chunks per group) used by iroh-blobs: `IROH_BLOCK_SIZE = BlockSize::from_chunk_log(4)` (§2.5). */
export const GROUP_LOG = 4

/** Bytes per chunk group at the iroh group size: 2^4 × 1024 = 16 KiB (§2.5). */
export const GROUP_LEN = CHUNK_LEN << GROUP_LOG

/** Chunks per group at the iroh group size. */
export const GROUP_CHUNKS = 1 << GROUP_LOG

/** Largest group log accepted by this implementation (group of 64 MiB); bao-tree allows any u8. */
export const MAX_GROUP_LOG = 16

/** Length of the little-endian u64 size prefix of bao encodings and iroh responses (§2.4, §2.6). */
export const SIZE_PREFIX_LEN = 8

/**
 * Largest blob size handled: sizes are JS numbers, so they must be safe integers.
 * (The wire allows u64; larger sizes are rejected with a typed error.)
 */
export const MAX_SIZE = Number.MAX_SAFE_INTEGER

/** Maximum tree depth for any size ≤ MAX_SIZE (2^53 bytes = 2^43 chunks). */
export const MAX_DEPTH = 54

// Domain-separation flags (§2.1).
export const CHUNK_START = 1
export const CHUNK_END = 2
export const PARENT = 4
export const ROOT = 8
export const KEYED_HASH = 16
export const DERIVE_KEY_CONTEXT = 32
export const DERIVE_KEY_MATERIAL = 64

/** Initialisation vector (§2.1 `IV`, the SHA-256 IV), as unsigned 32-bit words. */
export const IV_WORDS: readonly number[] = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
]

/** Message word permutation applied between rounds (§2.1). */
export const MSG_PERMUTATION: readonly number[] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
