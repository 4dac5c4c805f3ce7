/**
 * NAR (Nix ARchive) constants.
 *
 * Spec: shared/specs/binary-cache.md §1 (NixOS/nix `src/libutil/archive.cc`,
 * `src/libutil/serialise.cc`, manual `protocols/nix-archive/index.md`).
 */

/** §1.2: every NAR starts with `str("nix-archive-1")`. */
export const NAR_MAGIC = 'nix-archive-1'

/** §1.1: strings are padded with zero bytes to a multiple of 8. */
export const NAR_ALIGNMENT = 8

/** §1.3: `str("nix-archive-1")` = 8 (length) + 16 (13 bytes padded) = 24 bytes. */
export const NAR_HEADER_SIZE = 24

/**
 * §1.3: fixed framing of a regular file without its contents:
 * `( type regular contents <u64 size> )` = 16·5 + 8 = 88 bytes.
 */
export const NAR_REGULAR_OVERHEAD = 88

/** §1.3: `executable ""` = 16 + 8 + 8 (the empty string is just its length field) = 32 bytes. */
export const NAR_EXECUTABLE_OVERHEAD = 32

/** §1.3: `( type symlink target <u64 len> )` = 88 bytes plus the padded target. */
export const NAR_SYMLINK_OVERHEAD = 88

/** §1.3: `( type directory )` = 72 bytes plus the entries. */
export const NAR_DIRECTORY_OVERHEAD = 72

/** §1.3: `entry ( name <u64 len> node )` = 88 bytes plus the padded name and the node. */
export const NAR_ENTRY_OVERHEAD = 88

/**
 * Offset of the first content byte from the start of a regular node's `(` token:
 * `( type regular contents <u64 size>` = 16·4 + 8 = 72; +32 with `executable ""`.
 * (§1.3, `.ls` `narOffset`.)
 */
export const NAR_REGULAR_CONTENTS_OFFSET = 72

/**
 * §1.4: Nix master rejects names longer than 255 bytes (also Linux `NAME_MAX`).
 */
export const DEFAULT_MAX_NAME_LENGTH = 255

/**
 * §1.4: Nix master rejects symlink targets longer than 4095 bytes (Linux `PATH_MAX` − 1).
 */
export const DEFAULT_MAX_TARGET_LENGTH = 4095

/**
 * Maximum directory nesting (root = depth 0). Nix 2.8 has no explicit limit (it
 * recurses on the C++ stack); we bound it so hostile input cannot make consumers
 * keep unbounded per-level state. 1024 levels is far beyond real store paths.
 */
export const DEFAULT_MAX_DEPTH = 1024

/**
 * Maximum total NAR size. NAR lengths are u64 (§1.2); we expose sizes as JS numbers,
 * so anything above 2^53 − 1 is rejected rather than silently rounded.
 */
export const DEFAULT_MAX_SIZE = Number.MAX_SAFE_INTEGER

/**
 * Longest token the reader accepts where it expects a tag (`nix-archive-1` is the
 * longest, 13 bytes). Nix master caps tag tokens at 32 bytes (§1.4); we only need 16.
 */
export const MAX_TAG_LENGTH = 16

/** Writer: target size of coalesced output pieces. */
export const WRITER_CHUNK_SIZE = 64 * 1024

/** Writer: content pieces at least this long are passed through without copying. */
export const WRITER_PASS_THROUGH_SIZE = 16 * 1024
