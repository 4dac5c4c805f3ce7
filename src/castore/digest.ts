/**
 * BLAKE3 digests as used by castore: 32 raw bytes, shown as lowercase hex in this project
 * and as `blake3-<base64>` in snix's text form (§1.3, `B3Digest` Display/FromStr).
 */
import { DIGEST_LEN } from './constants.ts'
import { CastoreValidationError } from './errors.ts'

export type B3Digest = Uint8Array

export function toHex (digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex')
}

export function fromHex (hex: string): B3Digest {
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new CastoreValidationError(`not a 64-character lowercase hex BLAKE3 digest: ${JSON.stringify(hex.slice(0, 80))}`)
  }
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** snix text form: `blake3-` + standard base64 with padding. */
export function toSnixString (digest: B3Digest): string {
  return 'blake3-' + Buffer.from(digest).toString('base64')
}

export function fromSnixString (text: string): B3Digest {
  if (!text.startsWith('blake3-')) throw new CastoreValidationError(`not a blake3- digest: ${text.slice(0, 80)}`)
  const bytes = Buffer.from(text.slice(7), 'base64')
  assertDigest(bytes, 'digest')
  return new Uint8Array(bytes)
}

/** Parses either lowercase hex or the snix `blake3-<base64>` form. */
export function parseDigest (text: string): B3Digest {
  return text.startsWith('blake3-') ? fromSnixString(text) : fromHex(text)
}

export function assertDigest (digest: Uint8Array, what: string): void {
  if (digest.byteLength !== DIGEST_LEN) {
    throw new CastoreValidationError(`${what} must be ${DIGEST_LEN} bytes, got ${digest.byteLength}`)
  }
}

export function digestEquals (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
