/**
 * The 25 official ERIS 1.0.0 test vectors (shared/fixtures/eris, spec §4.5), plus the
 * "large content" streams whose URNs eris-rs and eris-nim both list (content = ChaCha20 keystream
 * keyed by BLAKE2b-256(name), zero nonce; spec §4.5).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { createCipheriv } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { fixture } from './fixtures.ts'
import {
  ErisDecodeError,
  base32Decode,
  base32Encode,
  decodeErisBytes,
  encodeEris,
  encodeErisBytes,
  formatBlockUrn,
  parseErisUrn
} from '../src/eris/index.ts'
import type { ErisDecodeFailure } from '../src/eris/index.ts'
import { unkeyedBlake2b256 } from '../src/eris/crypto.ts'

interface Vector {
  id: number
  type: 'positive' | 'negative'
  name: string
  description: string
  content?: string
  'convergence-secret'?: string
  'block-size'?: number
  'read-capability': { 'block-size': number, level: number, 'root-reference': string, 'root-key': string }
  urn: string
  blocks: Record<string, string>
}

const dir = fixture('eris')
const vectors: Vector[] = readdirSync(dir)
  .filter(f => /^eris-test-vector-(positive|negative)-\d+\.json$/.test(f))
  .sort()
  .map(f => JSON.parse(readFileSync(fixture('eris', f), 'utf8')) as Vector)

function blockMap (v: Vector): Map<string, Uint8Array> {
  return new Map(Object.entries(v.blocks).map(([ref, block]) => [ref, base32Decode(block)]))
}

function getterFor (blocks: Map<string, Uint8Array>) {
  return async (ref: Uint8Array): Promise<Uint8Array | undefined> => blocks.get(base32Encode(ref))
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

/** Documented reason of each negative vector (its `description`). */
const expectedFailure: Record<number, ErisDecodeFailure> = {
  13: 'block-missing', // no blocks
  14: 'reference-mismatch', // single invalid block
  15: 'block-missing', // single missing block (of multiple)
  16: 'reference-mismatch', // single corrupted block (of multiple)
  17: 'key-mismatch', // level increased: root key verification fails
  18: 'key-mismatch', // root key manipulated, level > 0
  19: 'invalid-padding', // root key manipulated, level 0: padding invalid
  20: 'block-size', // block size increased
  21: 'block-size', // block size decreased
  22: 'invalid-padding', // no padding
  23: 'invalid-padding', // invalid padding
  24: 'invalid-node' // random data after null pairs
}

describe('ERIS official test vectors', () => {
  it('has all 25 vectors (13 positive, 12 negative)', () => {
    expect(vectors.filter(v => v.type === 'positive').map(v => v.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    expect(vectors.filter(v => v.type === 'negative').map(v => v.id)).toEqual([13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24])
  })

  for (const v of vectors.filter(v => v.type === 'positive')) {
    describe(`positive ${v.id}: ${v.name}`, () => {
      const content = base32Decode(v.content ?? '')
      const blocks = blockMap(v)

      it('encodes to the same URN, capability and exactly the same set of blocks', async () => {
        const blockSize = v['block-size'] as 1024 | 32768
        const result = await encodeErisBytes(content, {
          blockSize,
          convergenceSecret: base32Decode(v['convergence-secret'] ?? '')
        })
        expect(result.urn).toBe(v.urn)
        expect(result.capability.blockSize).toBe(v['read-capability']['block-size'])
        expect(result.capability.level).toBe(v['read-capability'].level)
        expect(base32Encode(result.capability.rootReference)).toBe(v['read-capability']['root-reference'])
        expect(base32Encode(result.capability.rootKey)).toBe(v['read-capability']['root-key'])
        expect(result.contentLength).toBe(content.length)
        expect([...result.blocks.keys()].sort()).toEqual([...blocks.keys()].sort())
        for (const [ref, block] of result.blocks) {
          expect(block.length).toBe(blockSize)
          expect(sameBytes(block, blocks.get(ref) as Uint8Array), ref).toBe(true)
        }
      })

      it('decodes to the content', async () => {
        const decoded = await decodeErisBytes(v.urn, getterFor(blocks))
        expect(decoded.length).toBe(content.length)
        expect(sameBytes(decoded, content)).toBe(true)
        // the capability from the JSON fields is the same as the URN's
        const cap = parseErisUrn(v.urn)
        expect(cap.level).toBe(v['read-capability'].level)
        expect(base32Encode(cap.rootKey)).toBe(v['read-capability']['root-key'])
      })
    })
  }

  for (const v of vectors.filter(v => v.type === 'negative')) {
    it(`negative ${v.id}: ${v.name.trim()} → ${expectedFailure[v.id]}`, async () => {
      const blocks = blockMap(v)
      const err = await decodeErisBytes(v.urn, getterFor(blocks)).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(ErisDecodeError)
      const e = err as ErisDecodeError
      expect(e.name).toBe('ErisDecodeError')
      expect(e.reason).toBe(expectedFailure[v.id])
      expect(e.reference).toMatch(/^urn:blake2b:[A-Z2-7]{52}$/)
      expect(e.message).toContain(e.reference)
      const ref = (e.reference as string).slice('urn:blake2b:'.length)
      const rootRef = v['read-capability']['root-reference']
      switch (e.reason) {
        case 'block-missing':
          expect(blocks.has(ref)).toBe(false)
          if (v.id === 13) expect(ref).toBe(rootRef)
          break
        case 'reference-mismatch': {
          // the named block is present and really does not hash to its reference
          const block = blocks.get(ref)
          expect(block).toBeDefined()
          const hasher = await unkeyedBlake2b256()
          expect(base32Encode(hasher.digest(block as Uint8Array))).not.toBe(ref)
          break
        }
        case 'key-mismatch':
        case 'block-size':
          expect(ref).toBe(rootRef)
          break
        default:
          expect(blocks.has(ref)).toBe(true)
      }
    })
  }
})

/** ChaCha20 keystream keyed by BLAKE2b-256(name), zero nonce and counter, streamed in pieces. */
async function * largeContent (name: string, size: number, piece = 1 << 20): AsyncGenerator<Uint8Array> {
  const hasher = await unkeyedBlake2b256()
  const key = hasher.digest(new TextEncoder().encode(name))
  const cipher = createCipheriv('chacha20', key, new Uint8Array(16))
  const zeros = new Uint8Array(piece)
  for (let offset = 0; offset < size; offset += piece) {
    yield cipher.update(zeros.subarray(0, Math.min(piece, size - offset)))
  }
}

describe('ERIS large-content streams (URNs from eris-rs and eris-nim test suites)', () => {
  it('"Hello World!" keystream, 1 KiB (eris-rs test_hello_world_cha_cha)', async () => {
    const result = await encodeEris(largeContent('Hello World!', 1024), { blockSize: 1024 })
    expect(result.urn).toBe('urn:eris:BIAVWP2IZZ2A3WNGPMDSGFE2FJUHFYSEOKKM76DOA2J2XYLOUBSINJEVFKDT2VKH4BVNQPGZVZZTFSK5JFUZ3FTKXVX6TYCZY762UYZYG4')
  })

  it('100 MiB, block size 1 KiB, streamed in 1 MiB pieces', async () => {
    let maxBlock = 0
    const result = await encodeEris(largeContent('100MiB (block size 1KiB)', 100 * 2 ** 20), {
      blockSize: 1024,
      onBlock: (ref, block) => { maxBlock = Math.max(maxBlock, block.length) }
    })
    expect(result.urn).toBe('urn:eris:BIC6F5EKY2PMXS2VNOKPD3AJGKTQBD3EXSCSLZIENXAXBM7PCTH2TCMF5OKJWAN36N4DFO6JPFZBR3MS7ECOGDYDERIJJ4N5KAQSZS67YY')
    expect(result.contentLength).toBe(100 * 2 ** 20)
    // 102401 leaves + 6401 + 401 + 26 + 2 + 1 internal nodes
    expect(result.blockCount).toBe(102401 + 6401 + 401 + 26 + 2 + 1)
    expect(result.capability.level).toBe(5)
    expect(maxBlock).toBe(1024)
  })

  it('names blocks as urn:blake2b: references', () => {
    expect(formatBlockUrn(new Uint8Array(32))).toBe('urn:blake2b:' + 'A'.repeat(52))
  })
})
