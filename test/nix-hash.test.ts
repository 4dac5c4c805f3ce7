import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import { InvalidHashError } from '../src/nix/errors.ts'
import { computeNixHash, formatNixHash, hashEquals, parseHashDigest, parseNixHash, xorFold } from '../src/nix/hash.ts'
import type { HashAlgorithm, NixHash } from '../src/nix/hash.ts'

const vectors = JSON.parse(readFileSync(fixture('narinfo', 'hash-and-key-vectors.json'), 'utf8'))
const storePaths = JSON.parse(readFileSync(fixture('real-nix', 'store-paths.json'), 'utf8'))

const sha256Empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

describe('parseNixHash', () => {
  const digest = Buffer.from(sha256Empty, 'hex')
  const forms = [
    `sha256:${sha256Empty}`,
    `sha256:${sha256Empty.toUpperCase()}`,
    'sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73',
    `sha256:${digest.toString('base64')}`,
    `sha256-${digest.toString('base64')}`,
    `sha256-${digest.toString('base64').replace(/=+$/, '')}`
  ]

  it.each(forms)('parses %s', text => {
    const hash = parseNixHash(text)
    expect(hash.algorithm).toBe('sha256')
    expect(Buffer.from(hash.digest).toString('hex')).toBe(sha256Empty)
  })

  it('parses every fixture vector in every encoding and renders it back', () => {
    const algos: Record<number, HashAlgorithm> = { 16: 'md5', 20: 'sha1', 32: 'sha256', 64: 'sha512' }
    let checked = 0
    for (const { hex, nix32 } of vectors.nixbase32.encode) {
      const algorithm = algos[hex.length / 2]
      if (algorithm == null) continue
      const hash: NixHash = { algorithm, digest: new Uint8Array(Buffer.from(hex, 'hex')) }
      expect(formatNixHash(hash)).toBe(`${algorithm}:${nix32}`)
      expect(formatNixHash(hash, 'nix32', { prefix: false })).toBe(nix32)
      expect(formatNixHash(hash, 'base16')).toBe(`${algorithm}:${hex}`)
      const b64 = Buffer.from(hex, 'hex').toString('base64')
      expect(formatNixHash(hash, 'base64')).toBe(`${algorithm}:${b64}`)
      expect(formatNixHash(hash, 'sri')).toBe(`${algorithm}-${b64}`)
      for (const encoding of ['nix32', 'base16', 'base64', 'sri'] as const) {
        expect(hashEquals(parseNixHash(formatNixHash(hash, encoding)), hash)).toBe(true)
      }
      expect(hashEquals(parseHashDigest(nix32, algorithm), hash)).toBe(true)
      checked++
    }
    expect(checked).toBeGreaterThanOrEqual(9)
  })

  it('accepts bare digests only when the algorithm is implied, and checks agreement', () => {
    expect(() => parseNixHash(sha256Empty)).toThrow(InvalidHashError)
    expect(hashEquals(parseNixHash(sha256Empty, { algorithm: 'sha256' }), computeNixHash('sha256', ''))).toBe(true)
    expect(hashEquals(parseNixHash('143xibwh31h9bvxzalr0sjvbbvpa6ffs', { algorithm: 'sha1' }), computeNixHash('sha1', ''))).toBe(true)
    expect(() => parseNixHash(`sha256:${sha256Empty}`, { algorithm: 'sha1' })).toThrow(InvalidHashError)
  })

  it.each([
    ['unknown algorithm', `sha3:${sha256Empty}`],
    ['wrong length', `sha256:${sha256Empty.slice(2)}`],
    ['bad hex', `sha256:${sha256Empty.slice(0, -1)}g`],
    ['bad nix32 char', 'sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e'],
    ['nix32 overflow', 'sha256:zmdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73'],
    ['bad base64 char', `sha256:${'!'.repeat(44)}`],
    ['non-canonical base64 padding bits', 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV='],
    ['SRI with the wrong size', `sha256-${Buffer.alloc(20).toString('base64')}`],
    ['empty', ''],
    ['only a type', 'sha256:'],
    ['huge', `sha256:${'0'.repeat(10_000)}`],
    ['md5 with sha1 length', `md5:${'0'.repeat(40)}`]
  ])('rejects %s', (_label, text) => {
    expect(() => parseNixHash(text)).toThrow(InvalidHashError)
  })

  it('never throws anything but InvalidHashError on garbage', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), text => {
      try {
        const hash = parseNixHash(text)
        expect(hash.digest.length).toBeGreaterThan(0)
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidHashError)
      }
    }), { numRuns: 1000 })
  })
})

describe('computeNixHash', () => {
  it('matches node:crypto for every algorithm', () => {
    for (const algorithm of ['md5', 'sha1', 'sha256', 'sha512'] as const) {
      const hash = computeNixHash(algorithm, 'abc')
      expect(Buffer.from(hash.digest).toString('hex')).toBe(createHash(algorithm).update('abc').digest('hex'))
    }
  })
})

describe('xorFold (compressHash)', () => {
  it('reproduces the store-paths.json worked example (fold, not truncation)', () => {
    const ex = storePaths.compressHash_example
    const sha = createHash('sha256').update(ex.fingerprint).digest()
    expect(sha.toString('hex')).toBe(ex.sha256_hex)
    const folded = xorFold(sha, 20)
    expect(Buffer.from(folded).toString('hex')).toBe(ex.xor_folded_20_bytes_hex)
    expect(Buffer.from(folded).toString('hex')).not.toBe(ex.truncated_20_bytes_hex_WRONG)
    expect(formatNixHash({ algorithm: 'sha1', digest: folded }, 'nix32', { prefix: false })).toBe(ex.nix32_of_folded)
  })

  it('is the identity when the size is not smaller', () => {
    const bytes = new Uint8Array([1, 2, 3])
    expect(xorFold(bytes, 3)).toEqual(bytes)
    expect(xorFold(bytes, 1)).toEqual(new Uint8Array([1 ^ 2 ^ 3]))
    expect(() => xorFold(bytes, 0)).toThrow(RangeError)
  })
})
