/**
 * ERIS primitives: ChaCha20 (TypeScript and OpenSSL paths agree, RFC 8439 keystream), BLAKE2b-256
 * (keyed vs unkeyed), strict base32.
 */
import { createCipheriv } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { chacha20, chacha20OpenSsl, keyedBlake2b256, unkeyedBlake2b256 } from '../src/eris/crypto.ts'
import { chacha20Js, chacha20JsAvailable } from '../src/eris/chacha20-js.ts'
import { ErisUrnError, base32Decode, base32Encode } from '../src/eris/index.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('ChaCha20', () => {
  it('RFC 8439 A.1 test vectors #1/#2: zero key, zero nonce, keystream blocks 0 and 1', () => {
    const ks = chacha20Js(new Uint8Array(32), 0, new Uint8Array(128))
    expect(hex(ks.subarray(0, 64))).toBe(
      '76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7' +
      'da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586')
    expect(hex(ks.subarray(64))).toBe(
      '9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed' +
      '29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f')
  })

  it('the TypeScript path is used on this host', () => {
    expect(chacha20JsAvailable).toBe(true)
  })

  it('TypeScript and OpenSSL agree for any key, level and length (nonce [level, 0 × 11])', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ minLength: 0, maxLength: 2200 }),
      (key, level, data) => {
        const iv = new Uint8Array(16)
        iv[4] = level
        const reference = createCipheriv('chacha20', key, iv).update(data)
        expect(hex(chacha20Js(key, level, data))).toBe(reference.toString('hex'))
        expect(hex(chacha20OpenSsl(key, level, data))).toBe(reference.toString('hex'))
        expect(hex(chacha20(key, level, data))).toBe(reference.toString('hex'))
      }
    ), { numRuns: 300 })
  })

  it('is its own inverse and does not modify its input', () => {
    const key = new Uint8Array(32).fill(7)
    for (const size of [1024, 32768]) {
      const data = new Uint8Array(size).map((_, i) => i * 31)
      const copy = data.slice()
      const encrypted = chacha20(key, 3, data)
      expect(hex(data)).toBe(hex(copy))
      expect(hex(chacha20(key, 3, encrypted))).toBe(hex(data))
      expect(hex(chacha20(key, 4, encrypted))).not.toBe(hex(data))
    }
  })

  it('rejects keys that are not 32 bytes', () => {
    expect(() => chacha20(new Uint8Array(16), 0, new Uint8Array(1))).toThrow(RangeError)
  })
})

describe('BLAKE2b-256', () => {
  it('unkeyed known answers', async () => {
    const h = await unkeyedBlake2b256()
    expect(hex(h.digest(new Uint8Array(0)))).toBe('0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8')
    expect(hex(h.digest(new TextEncoder().encode('abc')))).toBe('bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319')
  })

  it('the null convergence secret is a 32-byte zero key, not "unkeyed"', async () => {
    const keyed = await keyedBlake2b256(new Uint8Array(32))
    const unkeyed = await unkeyedBlake2b256()
    const data = new TextEncoder().encode('Hello world!')
    expect(hex(keyed.digest(data))).not.toBe(hex(unkeyed.digest(data)))
    // hasher reuse (init per digest) gives stable results
    expect(hex(keyed.digest(data))).toBe(hex(keyed.digest(data)))
    const other = await keyedBlake2b256(new Uint8Array(32).fill(1))
    expect(hex(other.digest(data))).not.toBe(hex(keyed.digest(data)))
    await expect(keyedBlake2b256(new Uint8Array(16))).rejects.toBeInstanceOf(RangeError)
  })

  it('a keyed hasher copies its key', async () => {
    const key = new Uint8Array(32).fill(9)
    const hasher = await keyedBlake2b256(key)
    const before = hex(hasher.digest(new Uint8Array(5)))
    key.fill(0)
    expect(hex(hasher.digest(new Uint8Array(5)))).toBe(before)
  })
})

describe('base32 (RFC 4648, uppercase, unpadded, strict)', () => {
  it('RFC 4648 §10 test vectors without padding', () => {
    const cases: Array<[string, string]> = [
      ['', ''], ['f', 'MY'], ['fo', 'MZXQ'], ['foo', 'MZXW6'], ['foob', 'MZXW6YQ'], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI']
    ]
    for (const [plain, encoded] of cases) {
      expect(base32Encode(new TextEncoder().encode(plain))).toBe(encoded)
      expect(new TextDecoder().decode(base32Decode(encoded))).toBe(plain)
    }
  })

  it('round-trips any bytes and rejects non-canonical text', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), bytes => {
      expect(base32Decode(base32Encode(bytes))).toEqual(bytes)
    }))
    for (const bad of ['M', 'MYA', 'MZXW6YQAB', 'my', 'MY======', 'MZ', 'M1', 'MZXW6YTBO']) {
      expect(() => base32Decode(bad), bad).toThrow(ErisUrnError)
    }
  })
})
