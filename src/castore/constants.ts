/**
 * Constants of the castore data model.
 * Spec: shared/specs/content-addressing.md §1 (tvix/snix castore, cachix/snix@50b41ae7).
 */

/** Length of a BLAKE3 digest in bytes (`B3Digest`, snix/castore/src/digests.rs). */
export const DIGEST_LEN = 32

/** Longest name of a directory entry (`MAX_NAME_LEN`, snix/castore/src/path/component.rs; §1.4). */
export const MAX_NAME_LEN = 255

/** Longest symlink target (`MAX_TARGET_LEN`, snix/castore/src/nodes/symlink_target.rs; §1.4). */
export const MAX_TARGET_LEN = 4095

/** Digest of the empty Directory message = BLAKE3 of no bytes (§1.3). */
export const EMPTY_DIRECTORY_DIGEST_HEX = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'

/**
 * Which formula computes `DirectoryEntry.size`, the element count hashed into the parent's
 * encoding (§1.5: three formulas exist in tvix/snix history, and each gives other digests).
 *
 * `snix-2024`: `2 · entries + Σ child directory sizes` — what the tvix importer (since Aug 2024)
 * and snix@50b41ae7 (Dec 2025) write (`crate::Directory::size()`), i.e. what deployed stores hold.
 *
 * Received directories are validated leniently: any size at least the proto-comment minimum
 * (`entries + Σ child sizes`) is accepted, as snix's `compat-accept-bigger-sizes` does; only the
 * digest chain carries security.
 */
export const DIRECTORY_SIZE_FORMULA = 'snix-2024'

/** Most directories a single tree may contain before ingest or traversal gives up. */
export const MAX_DIRECTORIES_PER_TREE = 1_000_000

/** Largest encoded Directory message accepted from outside (a directory with ~30k entries). */
export const MAX_DIRECTORY_MESSAGE_LEN = 4 * 1024 * 1024
