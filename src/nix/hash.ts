/**
 * Nix hashes (spec §2.3): `<algo>:<base16|nix32|base64>` (encoding told apart by length),
 * SRI `<algo>-<base64>`, and bare digests where the algorithm is known from context.
 */
import { createHash } from 'node:crypto'
import { decodeNixBase32, encodeNixBase32, nixBase32Length } from './base32.ts'
import { decodeBase64Strict, decodeHex, encodeBase64, encodeHex } from './base64.ts'
import { HASH_SIZES } from './constants.ts'
import { InvalidHashError } from './errors.ts'

export type HashAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha512'

export interface NixHash {
  algorithm: HashAlgorithm
  digest: Uint8Array
}

/** `base16` = lower-case hex, `nix32` = nixbase32, `base64` = padded base64, `sri` = `<algo>-<base64>`. */
export type HashEncoding = 'base16' | 'nix32' | 'base64' | 'sri'

export interface ParseNixHashOptions {
  /**
   * Algorithm implied by the context. Allows bare digests (no `<algo>:` prefix); if the
   * string has a prefix as well, both must agree (Nix `Hash::parseAny`).
   */
  algorithm?: HashAlgorithm
}

export interface FormatNixHashOptions {
  /** Prefix `<algo>:` (default `true`; ignored for `sri`, which is always prefixed). */
  prefix?: boolean
}

/** Longest hash string we look at (sha512 in base16 is 128 chars plus the prefix). */
const MAX_HASH_STRING = 160

export function isHashAlgorithm (value: string): value is HashAlgorithm {
  return Object.hasOwn(HASH_SIZES, value)
}

/** Parses `md5`, `sha1`, `sha256`, `sha512`. */
export function parseHashAlgorithm (value: string): HashAlgorithm {
  if (!isHashAlgorithm(value)) {
    throw new InvalidHashError(`unknown hash algorithm ${JSON.stringify(value.slice(0, 20))}`)
  }
  return value
}

/** Digest size in bytes. */
export function hashSize (algorithm: HashAlgorithm): number {
  return HASH_SIZES[algorithm]
}

/**
 * Parses a hash as Nix does (`Hash::parseAnyPrefixed`, or `Hash::parseAny` when
 * `options.algorithm` is given): `sha256:<nix32>`, `sha256:<hex>`, `sha256:<base64>`,
 * `sha256-<base64>` (SRI), or a bare digest if the algorithm is implied.
 */
export function parseNixHash (text: string, options: ParseNixHashOptions = {}): NixHash {
  if (text.length > MAX_HASH_STRING) {
    throw new InvalidHashError('hash string too long')
  }
  let rest = text
  let prefixed: HashAlgorithm | undefined
  let sri = false
  const colon = text.indexOf(':')
  if (colon >= 0) {
    prefixed = parseHashAlgorithm(text.slice(0, colon))
    rest = text.slice(colon + 1)
  } else {
    const dash = text.indexOf('-')
    if (dash >= 0) {
      prefixed = parseHashAlgorithm(text.slice(0, dash))
      rest = text.slice(dash + 1)
      sri = true
    }
  }
  if (prefixed == null && options.algorithm == null) {
    throw new InvalidHashError(`hash ${JSON.stringify(text)} does not include a type`)
  }
  if (prefixed != null && options.algorithm != null && prefixed !== options.algorithm) {
    throw new InvalidHashError(`hash ${JSON.stringify(text)} should have type ${options.algorithm}`)
  }
  const algorithm = prefixed ?? options.algorithm as HashAlgorithm
  return sri ? parseSriDigest(rest, algorithm) : parseHashDigest(rest, algorithm)
}

/**
 * Parses an unprefixed, non-SRI digest of a known algorithm; the encoding is chosen by
 * length like Nix does (base16, then nix32, then base64).
 */
export function parseHashDigest (text: string, algorithm: HashAlgorithm): NixHash {
  const size = hashSize(algorithm)
  if (text.length === size * 2) {
    const digest = decodeHex(text)
    if (digest == null) {
      throw new InvalidHashError(`invalid base-16 ${algorithm} hash ${JSON.stringify(text)}`)
    }
    return { algorithm, digest }
  }
  if (text.length === nixBase32Length(size)) {
    try {
      return { algorithm, digest: decodeNixBase32(text, size) }
    } catch (err: any) {
      throw new InvalidHashError(`invalid nix32 ${algorithm} hash ${JSON.stringify(text)}: ${err.message}`)
    }
  }
  if (text.length === Math.ceil(size / 3) * 4) {
    const digest = decodeBase64Strict(text, size)
    if (digest?.length !== size) {
      throw new InvalidHashError(`invalid base-64 ${algorithm} hash ${JSON.stringify(text)}`)
    }
    return { algorithm, digest }
  }
  throw new InvalidHashError(`hash ${JSON.stringify(text.slice(0, MAX_HASH_STRING))} has wrong length for hash type ${algorithm}`)
}

function parseSriDigest (text: string, algorithm: HashAlgorithm): NixHash {
  const size = hashSize(algorithm)
  const digest = decodeBase64Strict(text, size, true)
  if (digest?.length !== size) {
    throw new InvalidHashError(`invalid SRI ${algorithm} hash ${JSON.stringify(text)}`)
  }
  return { algorithm, digest }
}

/** Renders a hash; default `sha256:<nix32>` (what Nix writes in narinfos). */
export function formatNixHash (hash: NixHash, encoding: HashEncoding = 'nix32', options: FormatNixHashOptions = {}): string {
  if (hash.digest.length !== hashSize(hash.algorithm)) {
    throw new InvalidHashError(`${hash.algorithm} digest must be ${hashSize(hash.algorithm)} bytes, got ${hash.digest.length}`)
  }
  if (encoding === 'sri') {
    return `${hash.algorithm}-${encodeBase64(hash.digest)}`
  }
  const prefix = options.prefix === false ? '' : `${hash.algorithm}:`
  switch (encoding) {
    case 'base16': return prefix + encodeHex(hash.digest)
    case 'nix32': return prefix + encodeNixBase32(hash.digest)
    case 'base64': return prefix + encodeBase64(hash.digest)
    default: throw new InvalidHashError(`unknown hash encoding ${String(encoding)}`)
  }
}

/** Same algorithm and digest. */
export function hashEquals (a: NixHash, b: NixHash): boolean {
  return a.algorithm === b.algorithm && Buffer.compare(a.digest, b.digest) === 0
}

/** Hashes bytes (or the UTF-8 of a string) with Node's native implementation. */
export function computeNixHash (algorithm: HashAlgorithm, data: Uint8Array | string): NixHash {
  return { algorithm, digest: new Uint8Array(createHash(algorithm).update(data).digest()) }
}

/**
 * Nix's `compressHash`: XOR-folds a digest into `size` bytes (`out[i % size] ^= in[i]`).
 * This is what turns a SHA-256 into the 20-byte store-path digest — not a truncation (§4.2).
 */
export function xorFold (digest: Uint8Array, size: number): Uint8Array {
  if (!Number.isInteger(size) || size <= 0) {
    throw new RangeError('xorFold size must be a positive integer')
  }
  const out = new Uint8Array(size)
  for (let i = 0; i < digest.length; i++) {
    out[i % size] ^= digest[i]
  }
  return out
}
