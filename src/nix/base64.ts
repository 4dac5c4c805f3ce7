/**
 * Strict base64 / base16 helpers for hashes, keys and signatures.
 *
 * Nix's own decoder is lenient (it stops at `=`, skips `\n`, ignores leftover bits); we accept
 * only the canonical standard-alphabet encoding, so every accepted string re-encodes to itself.
 * Callers wrap the `null` result into their own typed error.
 */

const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/
const HEX_CHARS = /^[0-9a-fA-F]*$/

/**
 * Decodes canonical base64 (standard alphabet). With `allowUnpadded`, the form without
 * trailing `=` is accepted too (SRI hashes). Returns `null` for anything else.
 *
 * @param maxBytes - refuse (return `null`) before decoding if the result would be larger
 */
export function decodeBase64Strict (text: string, maxBytes: number, allowUnpadded = false): Uint8Array | null {
  if (text.length > Math.ceil(maxBytes / 3) * 4 || !BASE64_CHARS.test(text)) {
    return null
  }
  const bytes = Buffer.from(text, 'base64')
  const canonical = bytes.toString('base64')
  if (text !== canonical && !(allowUnpadded && text === canonical.replace(/=+$/, ''))) {
    return null
  }
  return new Uint8Array(bytes)
}

/** Standard base64 with padding (what Nix's `base64Encode` writes). */
export function encodeBase64 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** Decodes base16 (either case, as Nix accepts); `null` if malformed. */
export function decodeHex (text: string): Uint8Array | null {
  if (text.length % 2 !== 0 || !HEX_CHARS.test(text)) {
    return null
  }
  return new Uint8Array(Buffer.from(text, 'hex'))
}

/** Lower-case base16. */
export function encodeHex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}
