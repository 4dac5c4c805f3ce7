/**
 * Named errors of the Nix format modules. Every rejection of untrusted input is one of these.
 */

/** A nixbase32 string has a character outside the alphabet, a wrong length or non-zero leftover bits. */
export class InvalidNixBase32Error extends Error {
  static override name = 'InvalidNixBase32Error'
  override name = 'InvalidNixBase32Error'
}

/** A hash string (`<algo>:<digest>`, SRI, bare digest) cannot be parsed or has the wrong size. */
export class InvalidHashError extends Error {
  static override name = 'InvalidHashError'
  override name = 'InvalidHashError'
}

/** A store path, base name or store-path name violates the rules of §4.1. */
export class InvalidStorePathError extends Error {
  static override name = 'InvalidStorePathError'
  override name = 'InvalidStorePathError'
}

/** A `CA:` content-address string (`text:…`, `fixed:…`) is malformed. */
export class InvalidContentAddressError extends Error {
  static override name = 'InvalidContentAddressError'
  override name = 'InvalidContentAddressError'
}

export interface NarInfoParseErrorOptions {
  /** 1-based line number of the offending line, if the error is about one line. */
  line?: number
  /** Key of the offending line or of the missing field. */
  key?: string
  cause?: unknown
}

/** A narinfo document is rejected. `line` (1-based) and `key` point at the offending line. */
export class NarInfoParseError extends Error {
  static override name = 'NarInfoParseError'
  override name = 'NarInfoParseError'
  line?: number
  key?: string

  constructor (message: string, options: NarInfoParseErrorOptions = {}) {
    const where = options.line != null ? `line ${options.line}${options.key != null ? ` (${options.key})` : ''}: ` : ''
    super(`narinfo ${where}${message}`, options.cause != null ? { cause: options.cause } : undefined)
    this.line = options.line
    this.key = options.key
  }
}

/** A `NarInfo` object cannot be rendered or fingerprinted (e.g. a value containing a newline). */
export class InvalidNarInfoError extends Error {
  static override name = 'InvalidNarInfoError'
  override name = 'InvalidNarInfoError'
}

/** A binary-cache signing key (`<name>:<base64>`) or signature string is malformed. */
export class InvalidSigningKeyError extends Error {
  static override name = 'InvalidSigningKeyError'
  override name = 'InvalidSigningKeyError'
}

/** A signature string (`<keyname>:<base64 of 64 bytes>`) is malformed. */
export class InvalidSignatureError extends Error {
  static override name = 'InvalidSignatureError'
  override name = 'InvalidSignatureError'
}
