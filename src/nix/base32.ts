/**
 * nixbase32 (spec §2.3): Nix's own base-32 — alphabet without e/o/u/t, and the output is
 * produced from the *last* character backwards, taking 5-bit groups starting at the
 * least-significant bit of byte 0. It is not RFC 4648 base32.
 */
import { NIX32_ALPHABET } from './constants.ts'
import { InvalidNixBase32Error } from './errors.ts'

const DECODE_TABLE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1)
  for (let i = 0; i < NIX32_ALPHABET.length; i++) {
    table[NIX32_ALPHABET.charCodeAt(i)] = i
  }
  return table
})()

/** Length in characters of the nixbase32 encoding of `byteLength` bytes: `ceil(8·n/5)`. */
export function nixBase32Length (byteLength: number): number {
  return Math.ceil((byteLength * 8) / 5)
}

/** Encodes bytes as nixbase32 (Nix `printHash32`). */
export function encodeNixBase32 (bytes: Uint8Array): string {
  const len = nixBase32Length(bytes.length)
  let out = ''
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5
    const i = b >>> 3
    const j = b & 7
    const c = (bytes[i] >> j) | (i + 1 < bytes.length ? bytes[i + 1] << (8 - j) : 0)
    out += NIX32_ALPHABET[c & 31]
  }
  return out
}

/**
 * Decodes a nixbase32 string. Rejects characters outside the alphabet, a length that no
 * byte count encodes to, and set bits beyond the last byte (e.g. `zz`, `c0`).
 *
 * @param expectedBytes - if given, the string must decode to exactly this many bytes
 */
export function decodeNixBase32 (text: string, expectedBytes?: number): Uint8Array {
  if (expectedBytes != null && text.length !== nixBase32Length(expectedBytes)) {
    throw new InvalidNixBase32Error(`nixbase32 string of length ${text.length} does not encode ${expectedBytes} bytes`)
  }
  const size = Math.floor((text.length * 5) / 8)
  if (nixBase32Length(size) !== text.length) {
    throw new InvalidNixBase32Error(`invalid nixbase32 length ${text.length}`)
  }
  const out = new Uint8Array(size)
  for (let n = 0; n < text.length; n++) {
    const code = text.charCodeAt(text.length - n - 1)
    const digit = code < 128 ? DECODE_TABLE[code] : -1
    if (digit < 0) {
      throw new InvalidNixBase32Error(`invalid nixbase32 character ${JSON.stringify(text[text.length - n - 1])} at offset ${text.length - n - 1}`)
    }
    const b = n * 5
    const i = b >>> 3
    const j = b & 7
    out[i] |= (digit << j) & 0xff
    const carry = digit >> (8 - j)
    if (i + 1 < size) {
      out[i + 1] |= carry
    } else if (carry !== 0) {
      throw new InvalidNixBase32Error('nixbase32 string has non-zero bits beyond the last byte')
    }
  }
  return out
}

/** True if `text` is a well-formed nixbase32 string (optionally of exactly `expectedBytes`). */
export function isNixBase32 (text: string, expectedBytes?: number): boolean {
  try {
    decodeNixBase32(text, expectedBytes)
    return true
  } catch {
    return false
  }
}
