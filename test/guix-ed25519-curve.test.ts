/**
 * edwards25519 arithmetic and libgcrypt-style ECDSA (src/nix/ed25519-curve.ts).
 * The group law is cross-checked against node:crypto's Ed25519 public-key
 * derivation (an independent implementation); the RFC 6979 nonce against the
 * RFC's own worked example (A.1, which also takes the retry branch).
 */
import { readFileSync } from 'node:fs'
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import {
  ED25519_BASE,
  ED25519_BASE_X,
  ED25519_BASE_Y,
  ED25519_D,
  ED25519_N,
  ED25519_P,
  Ed25519PointError,
  bigIntToBytes,
  bytesToBigInt,
  decodePoint,
  digestToInteger,
  ecdsaSign,
  ecdsaVerify,
  encodePoint,
  isIdentity,
  isOnCurve,
  modInverse,
  pointAdd,
  pointDouble,
  pointEquals,
  pointNegate,
  rfc6979Nonce,
  scalarMultiply,
  scalarMultiplyBase,
  toAffine
} from '../src/nix/ed25519-curve.ts'

const check = JSON.parse(readFileSync(fixture('narinfo', 'guix', 'berlin_signature_check.json'), 'utf8'))

describe('curve constants', () => {
  it('match their definitions', () => {
    expect((ED25519_D * 121666n + 121665n) % ED25519_P).toBe(0n)
    expect(ED25519_BASE_Y).toBe((4n * modInverse(5n, ED25519_P)) % ED25519_P)
    expect(ED25519_BASE_X % 2n).toBe(0n)
    expect(isOnCurve({ x: ED25519_BASE_X, y: ED25519_BASE_Y })).toBe(true)
    expect(ED25519_N.toString(2).length).toBe(253)
  })

  it('B has order n', () => {
    expect(isIdentity(scalarMultiply(ED25519_N, ED25519_BASE))).toBe(true)
    expect(isIdentity(scalarMultiply(ED25519_N - 1n, ED25519_BASE))).toBe(false)
    expect(pointEquals(scalarMultiply(ED25519_N + 1n, ED25519_BASE), ED25519_BASE)).toBe(true)
  })
})

describe('group law', () => {
  it('doubling equals self-addition; negation cancels', () => {
    const P = scalarMultiplyBase(123456789n)
    expect(pointEquals(pointDouble(P), pointAdd(P, P))).toBe(true)
    expect(isIdentity(pointAdd(P, pointNegate(P)))).toBe(true)
    const a = toAffine(pointDouble(P))
    expect(isOnCurve(a)).toBe(true)
  })

  it('fast-check: (a+b)·B = a·B + b·B', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: ED25519_N }), fc.bigInt({ min: 0n, max: ED25519_N }), (a, b) => {
      expect(pointEquals(scalarMultiplyBase(a + b), pointAdd(scalarMultiplyBase(a), scalarMultiplyBase(b)))).toBe(true)
    }), { numRuns: 25 })
  })

  it('agrees with node:crypto Ed25519 public keys (encode(a·B) for the clamped scalar)', () => {
    for (let i = 0; i < 8; i++) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url')
      const expected = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
      const h = createHash('sha512').update(seed).digest().subarray(0, 32)
      h[0] &= 248
      h[31] &= 127
      h[31] |= 64
      const a = bytesToBigInt(Uint8Array.from(h).reverse())
      const point = scalarMultiplyBase(a)
      expect(Buffer.from(encodePoint(point)).equals(expected)).toBe(true)
      expect(pointEquals(decodePoint(expected), point)).toBe(true)
    }
  })
})

describe('point encoding', () => {
  it('decodes berlin\'s q to the affine point in berlin_signature_check.json', () => {
    const q = Buffer.from(check.public_key_q_hex, 'hex')
    const p = toAffine(decodePoint(q))
    expect(p.x).toBe(BigInt(check.public_key_point_affine_edwards.x))
    expect(p.y).toBe(BigInt(check.public_key_point_affine_edwards.y))
    expect(Buffer.from(encodePoint(decodePoint(q))).equals(q)).toBe(true)
  })

  it('accepts libgcrypt\'s 0x40-prefixed and 0x04 uncompressed forms', () => {
    const q = Buffer.from(check.public_key_q_hex, 'hex')
    const p = decodePoint(q)
    const { x, y } = toAffine(p)
    expect(pointEquals(decodePoint(Uint8Array.of(0x40, ...q)), p)).toBe(true)
    expect(pointEquals(decodePoint(Uint8Array.of(0x04, ...bigIntToBytes(x, 32), ...bigIntToBytes(y, 32))), p)).toBe(true)
    expect(() => decodePoint(Uint8Array.of(0x04, ...bigIntToBytes(x, 32), ...bigIntToBytes(y + 1n, 32)))).toThrow(Ed25519PointError)
  })

  it('rejects bad encodings with Ed25519PointError', () => {
    expect(() => decodePoint(new Uint8Array(31))).toThrow(Ed25519PointError)
    expect(() => decodePoint(new Uint8Array(33))).toThrow(Ed25519PointError)
    // y = p (non-canonical)
    expect(() => decodePoint(bigIntToBytes(ED25519_P, 32).reverse())).toThrow(/non-canonical/)
    // y = 2 has no x on the curve
    expect(() => decodePoint(bigIntToBytes(2n, 32).reverse())).toThrow(/no matching x/)
    // y = 1 gives x = 0; sign bit set is invalid
    const one = bigIntToBytes(1n, 32).reverse()
    expect(isIdentity(decodePoint(one))).toBe(true)
    one[31] |= 0x80
    expect(() => decodePoint(one)).toThrow(/x = 0/)
  })

  it('fast-check: random 32-byte strings decode to a curve point or throw Ed25519PointError', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
      try {
        const p = decodePoint(b)
        expect(isOnCurve(toAffine(p))).toBe(true)
        expect(Buffer.from(encodePoint(p)).equals(Buffer.from(b))).toBe(true)
      } catch (err) {
        if (!(err instanceof Ed25519PointError)) throw err
      }
    }), { numRuns: 300 })
  })
})

describe('RFC 6979 nonce', () => {
  it('reproduces RFC 6979 A.1 (qlen 163, SHA-256, "sample"), including the retry loop', () => {
    const q = 0x4000000000000000000020108A2E0CC0D99F8A5EFn
    const x = 0x09A4D6792295A7F730FC3F2B49CBC0F62E862272Fn
    const h1 = createHash('sha256').update('sample').digest()
    expect(h1.toString('hex').toUpperCase()).toBe('AF2BDBE1AA9B6EC1E2ADE1D694F41FC71A831D0268E9891562113D8A62ADD1BF')
    expect(rfc6979Nonce(x, q, h1)).toBe(0x23AF4074C90A02B3FE61D286D5C87F425E6BDD81Bn)
  })

  it('extra loops give fresh nonces; inputs are validated', () => {
    const h = createHash('sha256').update('x').digest()
    const k0 = rfc6979Nonce(5n, ED25519_N, h)
    const k1 = rfc6979Nonce(5n, ED25519_N, h, 'sha256', 1)
    expect(k0).not.toBe(k1)
    expect(k0 > 0n && k0 < ED25519_N).toBe(true)
    expect(() => rfc6979Nonce(0n, ED25519_N, h)).toThrow(RangeError)
    expect(() => rfc6979Nonce(5n, ED25519_N, h.subarray(1))).toThrow(RangeError)
  })
})

describe('ECDSA', () => {
  it('verifies the real berlin signature only with the 253-bit truncation', () => {
    const digest = Buffer.from(check.sha256_of_signed_bytes_hex, 'hex')
    const r = BigInt('0x' + check.ecdsa_r_hex)
    const s = BigInt('0x' + check.ecdsa_s_hex)
    const Q = decodePoint(Buffer.from(check.public_key_q_hex, 'hex'))
    expect(digestToInteger(digest)).toBe(bytesToBigInt(digest) >> 3n)
    expect(ecdsaVerify(digestToInteger(digest), r, s, Q)).toBe(check.verifies_with_leftmost_253_bits)
    expect(ecdsaVerify(bytesToBigInt(digest), r, s, Q)).toBe(check.verifies_with_full_256_bit_hash)
    expect(ecdsaVerify(digestToInteger(digest), r + 1n, s, Q)).toBe(false)
    expect(ecdsaVerify(digestToInteger(digest), r, s + 1n, Q)).toBe(false)
    expect(ecdsaVerify(digestToInteger(digest), r, ED25519_N - s, Q)).toBe(false)
    expect(ecdsaVerify(digestToInteger(digest), 0n, s, Q)).toBe(false)
    expect(ecdsaVerify(digestToInteger(digest), r, ED25519_N + s, Q)).toBe(false)
  })

  it('signs deterministically and verifies', () => {
    const d = bytesToBigInt(randomBytes(31)) + 1n
    const Q = scalarMultiplyBase(d)
    const digest = createHash('sha256').update('hello guix').digest()
    const sig = ecdsaSign(digest, d)
    expect(ecdsaSign(digest, d)).toEqual(sig)
    expect(ecdsaVerify(digestToInteger(digest), sig.r, sig.s, Q)).toBe(true)
    const other = createHash('sha256').update('hello nix').digest()
    expect(ecdsaVerify(digestToInteger(other), sig.r, sig.s, Q)).toBe(false)
    expect(ecdsaVerify(digestToInteger(digest), sig.r, sig.s, scalarMultiplyBase(d + 1n))).toBe(false)
    expect(() => ecdsaSign(digest, 0n)).toThrow(RangeError)
    expect(() => ecdsaSign(digest, ED25519_N)).toThrow(RangeError)
  })
})
