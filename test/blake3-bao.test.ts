/**
 * Bao vectors (oconnor663/bao tests/test_vectors.json) with the bao geometry (group log 0,
 * 8-byte little-endian size prefix): hash, combined encoding, outboard, slices, and every listed
 * corruption rejected by the decoder (or, for outboards, by the validating encoder).
 */
import { readFileSync } from 'node:fs'
import { describe, it, expect } from 'vitest'
import { fixture } from './fixtures.ts'
import { hex, baoInput, collect, flip, concat, TYPED_ERRORS, errorName, pieces } from './blake3-helpers.ts'
import { blake3, hashWithOutboard } from '../src/blake3/hasher.ts'
import { encodeBytes, encodeRanges, encodeRangesWithSize, parseSizePrefix, sizePrefix } from '../src/blake3/encode.ts'
import { RangeDecoder, decodeAll } from '../src/blake3/decode.ts'
import { PreOrderOutboard, bytesReader } from '../src/blake3/outboard.ts'
import { ChunkRanges } from '../src/blake3/ranges.ts'

interface Vectors {
  hash: Array<{ input_len: number, bao_hash: string }>
  encode: Array<{ input_len: number, output_len: number, bao_hash: string, encoded_blake3: string, corruptions: number[] }>
  outboard: Array<{ input_len: number, output_len: number, bao_hash: string, encoded_blake3: string, outboard_corruptions: number[], input_corruptions: number[] }>
  slice: Array<{ input_len: number, bao_hash: string, slices: Array<{ start: number, len: number, output_len: number, output_blake3: string, corruptions: number[] }> }>
}
const vectors = JSON.parse(readFileSync(fixture('blake3', 'bao_test_vectors.json'), 'utf8')) as Vectors

const BAO = { groupLog: 0 }

/** Bao slice request `(start, len)` as chunk ranges: len 0 counts as 1; beyond the end = last chunk. */
function sliceRanges (start: number, len: number): ChunkRanges {
  return ChunkRanges.fromByteRanges([[start, start + Math.max(1, len)]])
}

async function decodeSlice (encoded: Uint8Array, root: Uint8Array, ranges: ChunkRanges): Promise<{ items: Array<{ offset: number, data: Uint8Array }>, decoder: RangeDecoder }> {
  const items: Array<{ offset: number, data: Uint8Array }> = []
  const decoder = new RangeDecoder(pieces(encoded, encoded.length, 700), { root, ranges, ...BAO })
  for await (const item of decoder) {
    if (item.type === 'data') items.push({ offset: item.offset, data: item.data.slice() })
  }
  return { items, decoder }
}

/** Encoding of a prefixed bao outboard + data, as an encoder fed from them produces it. */
async function encodeFromOutboard (root: Uint8Array, prefixed: Uint8Array, input: Uint8Array, validate: boolean): Promise<Uint8Array> {
  const size = parseSizePrefix(prefixed)
  const ob = new PreOrderOutboard({ root, size, outboard: prefixed.subarray(8), ...BAO })
  return await collect(encodeRangesWithSize(ob, bytesReader(input), ChunkRanges.all(), { validate }))
}

describe('bao vectors', () => {
  it('hash: bao_hash is the BLAKE3 hash', () => {
    expect(vectors.hash.length).toBe(13)
    for (const c of vectors.hash) {
      expect(hex(blake3(baoInput(c.input_len)))).toBe(c.bao_hash)
    }
  })

  it('combined encoding matches (length and BLAKE3 of the encoding) and decodes', async () => {
    for (const c of vectors.encode) {
      const input = baoInput(c.input_len)
      const encoded = await collect(encodeBytes(input, ChunkRanges.all(), { ...BAO, sizePrefix: true }))
      expect(encoded.length, `len ${c.input_len}`).toBe(c.output_len)
      expect(hex(blake3(encoded))).toBe(c.encoded_blake3)
      const root = blake3(input)
      expect(hex(root)).toBe(c.bao_hash)
      const decoded = await decodeAll(pieces(encoded, c.input_len, 100), { root, ...BAO })
      expect(hex(decoded)).toBe(hex(input))
    }
  })

  it('combined encoding: every listed corruption is rejected with a typed error', async () => {
    let checked = 0
    for (const c of vectors.encode) {
      const input = baoInput(c.input_len)
      const root = blake3(input)
      const encoded = await collect(encodeBytes(input, ChunkRanges.all(), { ...BAO, sizePrefix: true }))
      for (const at of c.corruptions) {
        const name = await errorName(async () => decodeAll([flip(encoded, at)], { root, ...BAO }))
        expect(TYPED_ERRORS.has(name), `len ${c.input_len} corruption at ${at}: ${name}`).toBe(true)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(50)
  })

  it('outboard matches (8-byte prefix + pre-order parents) and its corruptions are caught', async () => {
    for (const c of vectors.outboard) {
      const input = baoInput(c.input_len)
      const { digest, outboard } = hashWithOutboard(input, BAO)
      const prefixed = concat([sizePrefix(input.length), outboard])
      expect(prefixed.length).toBe(c.output_len)
      expect(hex(blake3(prefixed))).toBe(c.encoded_blake3)
      expect(hex(digest)).toBe(c.bao_hash)
      // the outboard itself is consistent with the root
      await new PreOrderOutboard({ root: digest, size: input.length, outboard, ...BAO }).verify()

      for (const at of c.outboard_corruptions) {
        const bad = flip(prefixed, at)
        // validating encoder refuses; a non-validating one produces a stream the decoder refuses
        const validated = await errorName(async () => encodeFromOutboard(digest, bad, input, true))
        expect(TYPED_ERRORS.has(validated), `outboard ${c.input_len}@${at}: ${validated}`).toBe(true)
        const decoded = await errorName(async () => {
          const stream = await encodeFromOutboard(digest, bad, input, false)
          return decodeAll([stream], { root: digest, ...BAO })
        })
        expect(TYPED_ERRORS.has(decoded), `outboard ${c.input_len}@${at}: ${decoded}`).toBe(true)
      }
      for (const at of c.input_corruptions) {
        const badInput = flip(input, at)
        const validated = await errorName(async () => encodeFromOutboard(digest, prefixed, badInput, true))
        expect(validated, `input ${c.input_len}@${at}`).toBe('Blake3VerifyError')
        const decoded = await errorName(async () => {
          const stream = await encodeFromOutboard(digest, prefixed, badInput, false)
          return decodeAll([stream], { root: digest, ...BAO })
        })
        expect(decoded, `input ${c.input_len}@${at}`).toBe('Blake3VerifyError')
      }
    }
  })

  it('slices match, decode to the right bytes, and reject every listed corruption', async () => {
    let slices = 0
    for (const c of vectors.slice) {
      const input = baoInput(c.input_len)
      const root = blake3(input)
      const { outboard } = hashWithOutboard(input, BAO)
      const ob = new PreOrderOutboard({ root, size: input.length, outboard, ...BAO })
      for (const s of c.slices) {
        const ranges = sliceRanges(s.start, s.len)
        const encoded = await collect(encodeRangesWithSize(ob, bytesReader(input), ranges))
        expect(encoded.length, `slice ${c.input_len} ${s.start}+${s.len}`).toBe(s.output_len)
        expect(hex(blake3(encoded))).toBe(s.output_blake3)

        const { items, decoder } = await decodeSlice(encoded, root, ranges)
        for (const { offset, data } of items) {
          expect(hex(data)).toBe(hex(input.subarray(offset, offset + data.length)))
        }
        // exactly the requested chunks (or the last chunk when the start is beyond the end) are verified
        const lastChunk = Math.max(0, Math.ceil(c.input_len / 1024) - 1)
        const first = Math.min(Math.floor(s.start / 1024), lastChunk)
        const end = Math.min(Math.ceil((s.start + Math.max(1, s.len)) / 1024), lastChunk + 1)
        const expected = end > first ? [[first, end]] : [[lastChunk, lastChunk + 1]]
        expect(decoder.verifiedRanges().toArray(), `${c.input_len} ${s.start}+${s.len}`).toEqual(expected)
        expect(decoder.sizeVerified).toBe(expected[0][1] === lastChunk + 1)
        expect(items.reduce((n, i) => n + i.data.length, 0))
          .toBe(Math.min(c.input_len, expected[0][1] * 1024) - expected[0][0] * 1024)

        for (const at of s.corruptions) {
          const name = await errorName(async () => decodeSlice(flip(encoded, at), root, ranges))
          expect(TYPED_ERRORS.has(name), `slice ${c.input_len} ${s.start}+${s.len} corruption ${at}: ${name}`).toBe(true)
        }
        slices++
      }
    }
    expect(slices).toBeGreaterThan(50)
  })

  it('the unprefixed encoding equals the prefixed one minus its first 8 bytes', async () => {
    const input = baoInput(13312)
    const { digest, outboard } = hashWithOutboard(input, BAO)
    const ob = new PreOrderOutboard({ root: digest, size: input.length, outboard, ...BAO })
    const bare = await collect(encodeRanges(ob, bytesReader(input), ChunkRanges.all()))
    const framed = await collect(encodeRangesWithSize(ob, bytesReader(input), ChunkRanges.all()))
    expect(hex(framed.subarray(8))).toBe(hex(bare))
    expect(parseSizePrefix(framed)).toBe(13312)
  })
})
