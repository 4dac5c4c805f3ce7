import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import { decodeNixBase32, encodeNixBase32, isNixBase32, nixBase32Length } from '../src/nix/base32.ts'
import { NIX32_ALPHABET } from '../src/nix/constants.ts'
import { InvalidNixBase32Error } from '../src/nix/errors.ts'

interface Vectors {
  nixbase32: {
    alphabet: string
    encode: Array<{ hex: string, nix32: string }>
    invalid: Array<{ nix32: string, why: string }>
    lengths: Record<string, number>
  }
}

const vectors: Vectors = JSON.parse(readFileSync(fixture('narinfo', 'hash-and-key-vectors.json'), 'utf8'))

describe('nixbase32', () => {
  it('uses the fixture alphabet', () => {
    expect(NIX32_ALPHABET).toBe(vectors.nixbase32.alphabet)
  })

  it.each(vectors.nixbase32.encode)('encodes and decodes $hex', ({ hex, nix32 }) => {
    const bytes = Buffer.from(hex, 'hex')
    expect(encodeNixBase32(bytes)).toBe(nix32)
    expect(Buffer.from(decodeNixBase32(nix32)).toString('hex')).toBe(hex)
    expect(Buffer.from(decodeNixBase32(nix32, bytes.length)).toString('hex')).toBe(hex)
  })

  it.each(vectors.nixbase32.invalid)('rejects $nix32 ($why)', ({ nix32 }) => {
    expect(() => decodeNixBase32(nix32)).toThrow(InvalidNixBase32Error)
    expect(isNixBase32(nix32)).toBe(false)
  })

  it('has the documented lengths', () => {
    const sizes: Record<string, number> = { md5: 16, sha1: 20, 'store-path': 20, sha256: 32, sha512: 64 }
    for (const [label, chars] of Object.entries(vectors.nixbase32.lengths)) {
      const size = sizes[label.split(' ')[0]]
      expect(nixBase32Length(size)).toBe(chars)
      expect(encodeNixBase32(new Uint8Array(size)).length).toBe(chars)
    }
  })

  it('rejects a length that does not match the expected byte count', () => {
    const sha1 = encodeNixBase32(new Uint8Array(20))
    expect(() => decodeNixBase32(sha1, 32)).toThrow(InvalidNixBase32Error)
    expect(decodeNixBase32(sha1, 20)).toEqual(new Uint8Array(20))
  })

  it('rejects characters outside the alphabet, including e o u t, upper case and non-ASCII', () => {
    const base = encodeNixBase32(new Uint8Array(20))
    for (const c of ['e', 'o', 'u', 't', 'A', 'Z', '-', ' ', 'é', '\u0000']) {
      const bad = c + base.slice(1)
      expect(() => decodeNixBase32(bad)).toThrow(InvalidNixBase32Error)
    }
  })

  it('round-trips arbitrary bytes and every decoded string re-encodes to itself', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), bytes => {
      const text = encodeNixBase32(bytes)
      expect(text.length).toBe(nixBase32Length(bytes.length))
      expect(decodeNixBase32(text)).toEqual(bytes)
    }), { numRuns: 500 })
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...NIX32_ALPHABET.split('')), maxLength: 60 }), text => {
      let decoded: Uint8Array | undefined
      try {
        decoded = decodeNixBase32(text)
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidNixBase32Error)
        return
      }
      expect(encodeNixBase32(decoded)).toBe(text)
    }), { numRuns: 500 })
  })
})
