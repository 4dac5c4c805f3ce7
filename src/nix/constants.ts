/**
 * Constants of the Nix formats (nixbase32, hashes, store paths, narinfo, signing keys).
 *
 * Spec references are to `shared/specs/binary-cache.md` (§2 narinfo, §4 store paths).
 */

/**
 * The nixbase32 alphabet: digits and lower-case letters without `e`, `o`, `u`, `t`
 * (§2.3; Nix `hash.cc` `base32Chars`). Not RFC 4648 base32.
 */
export const NIX32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz'

/** The Nix store directory (§4.1). */
export const NIX_STORE_DIR = '/nix/store'

/** The Guix store directory; same store-path algorithm and encoding (§4.4). */
export const GUIX_STORE_DIR = '/gnu/store'

/** Length of the hash part of a store path in nixbase32 characters: 160 bits = 32 × 5 (§4.1). */
export const STORE_PATH_HASH_CHARS = 32

/** Size in bytes of the XOR-folded store-path digest (§4.2, `compressHash(h, 20)`). */
export const STORE_PATH_DIGEST_BYTES = 20

/** Maximum length of a store-path name in bytes (§4.1, `path.cc checkName`). */
export const STORE_PATH_NAME_MAX = 211

/** Hash algorithms Nix knows, with their digest sizes in bytes (§2.3, `hash.cc regularHashSize`). */
export const HASH_SIZES = {
  md5: 16,
  sha1: 20,
  sha256: 32,
  sha512: 64
} as const

/**
 * Default upper bound on the size of a narinfo document we agree to parse. Real narinfos are
 * small; the largest fixture (`go-nix_big-texlive.narinfo`, thousands of references) is ~207 KB.
 */
export const NARINFO_MAX_SIZE = 4 * 1024 * 1024

/** Value of `Compression` when the line is absent or empty (§2.2: "missing ⇒ bzip2"). */
export const NARINFO_DEFAULT_COMPRESSION = 'bzip2'

/**
 * Every `Compression` value Nix knows (§2.2 / §3.4; the complete list is Nix master's
 * `NIX_FOR_EACH_COMPRESSION_ALGO`, a superset of what 2.8 reads).
 */
export const NARINFO_COMPRESSIONS = [
  'none', 'br', 'bzip2', 'compress', 'grzip', 'gzip', 'lrzip', 'lz4', 'lzip', 'lzma', 'lzop', 'xz', 'zstd'
] as const

/** `Deriver` value meaning "no deriver" (§2.2). */
export const UNKNOWN_DERIVER = 'unknown-deriver'

/** Version prefix of the signed fingerprint (§2.4: `1;<path>;<narHash>;<narSize>;<refs>`). */
export const FINGERPRINT_VERSION = '1'

/** Ed25519 sizes (§2.4: public key 32 B, secret key = 32 B seed ‖ 32 B public key, signature 64 B). */
export const ED25519_PUBLIC_KEY_BYTES = 32
export const ED25519_SEED_BYTES = 32
export const ED25519_SECRET_KEY_BYTES = 64
export const ED25519_SIGNATURE_BYTES = 64

/** Name of the public key of the official Nix binary cache (§3.7). */
export const CACHE_NIXOS_ORG_KEY = 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY='
