/**
 * Named strings of the binary-cache signing scheme (spec §2.4): signatures
 * `<keyname>:<base64(64 B)>` and the key-name part shared with key files.
 */
import { decodeBase64Strict, encodeBase64 } from './base64.ts'
import { ED25519_SIGNATURE_BYTES } from './constants.ts'
import { InvalidSignatureError, InvalidSigningKeyError } from './errors.ts'

/** Printable ASCII without `:` (Nix splits key strings at the first colon) and without spaces. */
const KEY_NAME = /^[\x21-\x39\x3b-\x7e]{1,256}$/

export interface NamedSignature {
  /** Name of the key that made it, matched exactly against the trusted keys. */
  keyName: string
  /** 64-byte Ed25519 signature. */
  signature: Uint8Array
}

export function isValidKeyName (name: string): boolean {
  return KEY_NAME.test(name)
}

/** Checks a key name (1–256 printable ASCII characters, no `:` and no whitespace). */
export function validateKeyName (name: string): void {
  if (!isValidKeyName(name)) {
    throw new InvalidSigningKeyError(`invalid key name ${JSON.stringify(name.slice(0, 300))}`)
  }
}

/**
 * Splits `<name>:<base64>` at the first colon; the name must be valid and the payload
 * canonical base64 of exactly `size` bytes. Returns `null` on any problem.
 */
export function splitNamedBase64 (text: string, size: number): { name: string, bytes: Uint8Array } | null {
  const colon = text.indexOf(':')
  if (colon <= 0) {
    return null
  }
  const name = text.slice(0, colon)
  if (!isValidKeyName(name)) {
    return null
  }
  const bytes = decodeBase64Strict(text.slice(colon + 1), size)
  if (bytes?.length !== size) {
    return null
  }
  return { name, bytes }
}

/** Parses `<keyname>:<base64 of a 64-byte signature>`. */
export function parseSignature (text: string): NamedSignature {
  const parts = splitNamedBase64(text, ED25519_SIGNATURE_BYTES)
  if (parts == null) {
    throw new InvalidSignatureError(`invalid signature ${JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)}: expected <keyname>:<base64 of ${ED25519_SIGNATURE_BYTES} bytes>`)
  }
  return { keyName: parts.name, signature: parts.bytes }
}

/** Renders `<keyname>:<base64>`. */
export function formatSignature (signature: NamedSignature): string {
  validateKeyName(signature.keyName)
  if (signature.signature.length !== ED25519_SIGNATURE_BYTES) {
    throw new InvalidSignatureError(`signature must be ${ED25519_SIGNATURE_BYTES} bytes`)
  }
  return `${signature.keyName}:${encodeBase64(signature.signature)}`
}
