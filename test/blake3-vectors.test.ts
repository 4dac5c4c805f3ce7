/**
 * The 35 official BLAKE3 vectors (BLAKE3-team/BLAKE3 test_vectors.json): the pure-TS oracle in
 * all three modes with the full 131-byte XOF output, and every hasher of the tree layer on the
 * 32-byte hash.
 */
import { readFileSync } from 'node:fs'
import { describe, it, expect } from 'vitest'
import { fixture } from './fixtures.ts'
import { hex, vectorInput, pieces } from './blake3-helpers.ts'
import { hashXof, keyedHash, deriveKey, chunkOutput, subtreeOutput } from '../src/blake3/compress.ts'
import { Blake3Hasher, TreeHasher, hashWithOutboard, blake3, treeHashStream } from '../src/blake3/hasher.ts'
import { pureTsKernel, loadKernel } from '../src/blake3/kernel.ts'

interface VectorCase { input_len: number, hash: string, keyed_hash: string, derive_key: string }
const vectors = JSON.parse(readFileSync(fixture('blake3', 'blake3_test_vectors.json'), 'utf8')) as {
  key: string
  context_string: string
  cases: VectorCase[]
}
const key = new TextEncoder().encode(vectors.key)

describe('official BLAKE3 vectors, pure-TS oracle', () => {
  it('has all 35 cases', () => {
    expect(vectors.cases).toHaveLength(35)
    expect(key).toHaveLength(32)
  })

  for (const c of vectors.cases) {
    it(`input_len ${c.input_len}: hash, keyed_hash, derive_key (131-byte XOF)`, () => {
      const input = vectorInput(c.input_len)
      expect(hex(hashXof(input, 131))).toBe(c.hash)
      expect(hex(keyedHash(key, input, 131))).toBe(c.keyed_hash)
      expect(hex(deriveKey(vectors.context_string, input, 131))).toBe(c.derive_key)
      // XOF prefixes are consistent: shorter outputs are prefixes of longer ones.
      expect(hex(hashXof(input, 32))).toBe(c.hash.slice(0, 64))
      expect(hex(hashXof(input, 65))).toBe(c.hash.slice(0, 130))
    })
  }

  it('XOF output of the root is seekable by block counter (block i uses counter i)', () => {
    const out = subtreeOutput(vectorInput(2049), 0, 2049, 0).rootBytes(131)
    expect(hex(out)).toBe(vectors.cases.find(c => c.input_len === 2049)?.hash)
    // a lone chunk root: same output object semantics
    expect(hex(chunkOutput(vectorInput(5), 0, 5, 0).rootBytes(131))).toBe(vectors.cases.find(c => c.input_len === 5)?.hash)
  })
})

describe('official BLAKE3 vectors, tree-layer hashers (32-byte hash)', async () => {
  const fast = await loadKernel()
  for (const kernel of [pureTsKernel, fast]) {
    it(`all inputs via ${kernel.name}: blake3, Blake3Hasher, TreeHasher (k = 0, 2, 4, 5), hashWithOutboard`, async () => {
      for (const c of vectors.cases) {
        const input = vectorInput(c.input_len)
        const expected = c.hash.slice(0, 64)
        expect(hex(blake3(input, kernel)), `blake3 ${c.input_len}`).toBe(expected)

        expect(hex(new Blake3Hasher({ kernel }).update(input).digest()), `Blake3Hasher ${c.input_len}`).toBe(expected)
        const split = new Blake3Hasher({ kernel })
        for (const p of pieces(input, c.input_len + 7, 3000)) split.update(p)
        expect(hex(split.digest()), `Blake3Hasher pieces ${c.input_len}`).toBe(expected)

        for (const groupLog of [0, 2, 4, 5]) {
          const t = new TreeHasher({ size: input.length, kernel, groupLog })
          for (const p of pieces(input, c.input_len + groupLog, 20000)) t.update(p)
          expect(hex(t.finalize()), `TreeHasher k=${groupLog} ${c.input_len}`).toBe(expected)
        }

        const { digest, outboard } = hashWithOutboard(input, { kernel })
        expect(hex(digest), `hashWithOutboard ${c.input_len}`).toBe(expected)
        expect(outboard.length).toBe((Math.max(1, Math.ceil(c.input_len / 16384)) - 1) * 64)

        expect(hex(await treeHashStream(pieces(input, 3, 5000), { size: input.length, kernel })))
          .toBe(expected)
      }
    })
  }

  it('Blake3Hasher.digest() does not consume state (digest, update, digest)', () => {
    const input = vectorInput(102400)
    const h = new Blake3Hasher()
    h.update(input.subarray(0, 16384))
    expect(hex(h.digest())).toBe(vectors.cases.find(c => c.input_len === 16384)?.hash.slice(0, 64))
    h.update(input.subarray(16384))
    expect(hex(h.digest())).toBe(vectors.cases.find(c => c.input_len === 102400)?.hash.slice(0, 64))
    expect(h.bytesHashed).toBe(102400)
  })
})
