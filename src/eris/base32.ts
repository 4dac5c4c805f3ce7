/**
 * RFC 4648 §6 base32, uppercase alphabet, no padding — the text form ERIS uses for read
 * capabilities, block references and the test vectors (spec §4.2 step 6).
 *
 * Decoding is strict: only `A–Z2–7`, no `=` padding, no whitespace, a length that a whole number
 * of bytes can have, and zero bits in the unused low bits of the last character (so every byte
 * string has exactly one accepted text form).
 */
import { ErisUrnError } from './errors.ts'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** Character code → 5-bit value, or -1. */
const DECODE_TABLE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1)
  for (let i = 0; i < ALPHABET.length; i++) {
    table[ALPHABET.charCodeAt(i)] = i
  }
  return table
})()

/** Encodes bytes as uppercase, unpadded base32. */
export function base32Encode (bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer & 0xff) << 8) | bytes[i]
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += ALPHABET[(buffer >>> bits) & 31]
    }
  }
  if (bits > 0) {
    out += ALPHABET[(buffer << (5 - bits)) & 31]
  }
  return out
}

/** Number of base32 characters for `byteLength` bytes (unpadded). */
export function base32Length (byteLength: number): number {
  return Math.ceil(byteLength * 8 / 5)
}

/**
 * Decodes strict uppercase, unpadded base32.
 *
 * @throws {ErisUrnError} on any character outside `A–Z2–7`, an impossible length or non-zero trailing bits
 */
export function base32Decode (text: string): Uint8Array {
  const byteLength = Math.floor(text.length * 5 / 8)
  if (base32Length(byteLength) !== text.length) {
    throw new ErisUrnError(`invalid base32 length ${text.length}`)
  }
  const out = new Uint8Array(byteLength)
  let buffer = 0
  let bits = 0
  let j = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    const value = code < 128 ? DECODE_TABLE[code] : -1
    if (value < 0) {
      throw new ErisUrnError(`invalid base32 character ${JSON.stringify(text[i])} at offset ${i}`)
    }
    buffer = ((buffer & 0xff) << 5) | value
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[j++] = (buffer >>> bits) & 0xff
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) {
    throw new ErisUrnError('non-canonical base32: unused trailing bits are not zero')
  }
  return out
}
