/**
 * Verified streaming with 16 KiB groups: range encodings of random range sets against a
 * recursive oracle, decoding with arbitrary piece sizes, exact verifiedRanges, corruption
 * detected at the corrupt item (nothing after it is yielded), truncation, wrong size prefixes,
 * cancellation, and several blobs read from one shared stream.
 */
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  hex, randomBytes, pieces, prng, collect, flip, concat, oracleEncode, oracleOutboard, TYPED_ERRORS, errorName
} from './blake3-helpers.ts'
import { hashWithOutboard, blake3 } from '../src/blake3/hasher.ts'
import { loadKernel } from '../src/blake3/kernel.ts'
import { encodeBytes, encodeRanges, encodeRangesWithSize, sizePrefix } from '../src/blake3/encode.ts'
import { RangeDecoder, decodeAll } from '../src/blake3/decode.ts'
import type { DecodedItem } from '../src/blake3/decode.ts'
import { PreOrderOutboard, bytesReader } from '../src/blake3/outboard.ts'
import type { RandomAccessReader } from '../src/blake3/outboard.ts'
import { ChunkRanges } from '../src/blake3/ranges.ts'
import { ByteReader } from '../src/blake3/reader.ts'
import { Blake3TruncatedError, Blake3VerifyError, Blake3SizeError, Blake3ArgumentError } from '../src/blake3/errors.ts'

const G = 16384

interface Recorded { item: DecodedItem, streamStart: number, streamEnd: number }

/** Decodes, recording each item with its byte span in the encoded stream; returns the error if any. */
async function decodeRecorded (
  stream: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, init: ConstructorParameters<typeof RangeDecoder>[1]
): Promise<{ items: Recorded[], error: unknown, decoder: RangeDecoder }> {
  const decoder = new RangeDecoder(stream, init)
  const items: Recorded[] = []
  let error: unknown
  try {
    for await (const item of decoder) {
      const len = item.type === 'parent' ? item.pair.length : item.data.length
      items.push({ item: item.type === 'data' ? { ...item, data: item.data.slice() } : item, streamStart: decoder.streamPosition - len, streamEnd: decoder.streamPosition })
    }
  } catch (err) {
    error = err
  }
  return { items, error, decoder }
}

function randomRanges (rnd: (n: number) => number, chunks: number): ChunkRanges {
  const list: Array<[number, number]> = []
  const n = rnd(4)
  for (let i = 0; i < n; i++) {
    const s = rnd(chunks + 20)
    const e = rnd(3) === 0 ? Infinity : s + 1 + rnd(40)
    list.push([s, e])
  }
  return ChunkRanges.fromRanges(list)
}

describe('range encodings of random range sets', async () => {
  const kernel = await loadKernel()

  it('equal the oracle, decode from random pieces, verify exactly the truncated ranges', async () => {
    const rnd = prng(2024)
    const sizes = [0, 1, 1023, 1025, 16383, 16384, 16385, 32768, 49153, 100_000, 10 * G + 777, 33 * G, 70 * G + 1]
    let cases = 0
    for (const size of sizes) {
      const data = randomBytes(size, size + 13)
      const { digest, outboard } = hashWithOutboard(data, { kernel })
      const ob = new PreOrderOutboard({ root: digest, size, outboard })
      const chunks = Math.max(1, Math.ceil(size / 1024))
      for (let r = 0; r < 12; r++) {
        const ranges = r === 0 ? ChunkRanges.all() : r === 1 ? ChunkRanges.lastChunk() : randomRanges(rnd, chunks)
        const truncated = ranges.truncate(size)
        const encoded = await collect(encodeRanges(ob, bytesReader(data), ranges, { kernel }))
        expect(hex(encoded), `size ${size} ranges ${ranges.toString()}`).toBe(hex(oracleEncode(data, truncated, 4)))

        const framed = concat([sizePrefix(size), encoded])
        const withPrefix = await decodeRecorded(pieces(framed, r + size, 1 + rnd(40000)), { root: digest, ranges, kernel })
        const withSize = await decodeRecorded(pieces(encoded, r, 5000), { root: digest, ranges, size, kernel })
        for (const { items, error, decoder } of [withPrefix, withSize]) {
          expect(error).toBeUndefined()
          expect(decoder.verifiedRanges().toString(), `size ${size} ranges ${ranges.toString()}`).toBe(truncated.toString())
          expect(decoder.sizeVerified).toBe(truncated.has(chunks - 1))
          expect(decoder.size).toBe(size)
          let dataBytes = 0
          for (const { item } of items) {
            if (item.type === 'data') {
              expect(hex(item.data)).toBe(hex(data.subarray(item.offset, item.offset + item.data.length)))
              dataBytes += item.data.length
            } else {
              expect(hex(item.pair)).toBe(hex(outboard.subarray(item.offset, item.offset + 64)))
            }
          }
          let expectedBytes = 0
          for (const [s, e] of truncated) expectedBytes += Math.min(size, e * 1024) - s * 1024
          expect(dataBytes).toBe(expectedBytes)
        }
        cases++
      }
    }
    expect(cases).toBe(sizes.length * 12)
  })

  it('property: any range set round-trips (fast-check)', async () => {
    const size = 23 * G + 4321
    const data = randomBytes(size, 99)
    const { digest, outboard } = hashWithOutboard(data, { kernel })
    const ob = new PreOrderOutboard({ root: digest, size, outboard })
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(400), fc.nat(60)), { maxLength: 5 }),
      fc.integer({ min: 1, max: 30000 }),
      async (list, maxPiece) => {
        const ranges = ChunkRanges.fromRanges(list.map(([s, l]) => [s, s + l]))
        const encoded = await collect(encodeRanges(ob, bytesReader(data), ranges))
        const { error, decoder, items } = await decodeRecorded(pieces(encoded, maxPiece, maxPiece), { root: digest, ranges, size })
        expect(error).toBeUndefined()
        expect(decoder.verifiedRanges().equals(ranges.truncate(size))).toBe(true)
        for (const { item } of items) {
          if (item.type === 'data') expect(hex(item.data)).toBe(hex(data.subarray(item.offset, item.offset + item.data.length)))
        }
      }
    ), { numRuns: 60 })
  })

  it('ranges rounded up to groups are sent as whole groups only', async () => {
    const size = 9 * G + 100
    const data = randomBytes(size, 4)
    const ranges = ChunkRanges.fromRanges([[3, 5], [40, 41]]).roundUpToGroups(4)
    expect(ranges.toArray()).toEqual([[0, 16], [32, 48]])
    const encoded = await collect(encodeBytes(data, ranges))
    const { items } = await decodeRecorded([encoded], { root: blake3(data), ranges, size })
    const dataItems = items.filter(i => i.item.type === 'data').map(i => i.item as { offset: number, data: Uint8Array })
    expect(dataItems.map(d => [d.offset, d.data.length])).toEqual([[0, G], [2 * G, G]])
  })
})

describe('corruption is detected at the corrupt item', async () => {
  const kernel = await loadKernel()
  const size = 10 * G + 5000
  const data = randomBytes(size, 31)
  const { digest, outboard } = hashWithOutboard(data, { kernel })
  const ob = new PreOrderOutboard({ root: digest, size, outboard })

  for (const [label, ranges] of [['all', ChunkRanges.all()], ['partial', ChunkRanges.fromRanges([[5, 7], [20, 60], [150, 151]])]] as const) {
    it(`flipping any parent byte or sampled data byte (${label} ranges)`, async () => {
      const framed = await collect(encodeRangesWithSize(ob, bytesReader(data), ranges))
      const clean = await decodeRecorded([framed], { root: digest, ranges })
      expect(clean.error).toBeUndefined()
      const positions: number[] = []
      for (const { item, streamStart, streamEnd } of clean.items) {
        if (item.type === 'parent') {
          for (let p = streamStart; p < streamEnd; p++) positions.push(p)
        } else {
          positions.push(streamStart, streamEnd - 1, (streamStart + streamEnd) >> 1)
        }
      }
      // also the inner parents of partly requested groups (not yielded as items): all other bytes
      const covered = new Set(clean.items.flatMap(i => [...Array(i.streamEnd - i.streamStart).keys()].map(k => k + i.streamStart)))
      for (let p = 8; p < framed.length; p++) if (!covered.has(p)) positions.push(p)
      expect(positions.length).toBeGreaterThan(100)

      for (const p of positions) {
        const { items, error } = await decodeRecorded(pieces(flip(framed, p, 0x40), p, 3000), { root: digest, ranges, kernel })
        expect(error, `flip at ${p}`).toBeInstanceOf(Blake3VerifyError)
        const err = error as Blake3VerifyError
        // nothing at or after the corrupt item was yielded; everything before it was
        expect(items.every(i => i.streamEnd <= p), `flip at ${p}`).toBe(true)
        expect(items.length).toBe(clean.items.filter(i => i.streamEnd <= err.streamOffset!).length)
        expect(err.streamOffset).toBeLessThanOrEqual(p)
        const hit = clean.items.find(i => i.streamStart <= p && p < i.streamEnd)
        if (hit !== undefined) {
          expect(err.streamOffset).toBe(hit.streamStart)
          if (hit.item.type === 'data') {
            expect(err.kind).toBe('data')
            expect(err.group).toBe(Math.floor(hit.item.offset / G))
            expect(err.offset).toBe(hit.item.offset)
          } else {
            expect(err.kind).toBe('parent')
          }
        } else {
          expect(err.kind).toBe('parent') // an inner parent of a partly requested group
          expect(p - err.streamOffset!).toBeLessThan(64)
        }
        for (const { item } of items) {
          if (item.type === 'data') expect(hex(item.data)).toBe(hex(data.subarray(item.offset, item.offset + item.data.length)))
        }
      }
    })
  }

  it('a corrupted size prefix byte gives a typed error', async () => {
    const framed = await collect(encodeRangesWithSize(ob, bytesReader(data), ChunkRanges.all()))
    for (let p = 0; p < 8; p++) {
      for (const bit of [1, 0x10, 0x80]) {
        const name = await errorName(async () => decodeAll([flip(framed, p, bit)], { root: digest }))
        expect(TYPED_ERRORS.has(name), `prefix byte ${p} bit ${bit}: ${name}`).toBe(true)
      }
    }
  })

  it('the validating encoder refuses corrupt local data or outboard, naming the group', async () => {
    const at = 4 * G + 100
    const err = await collect(encodeRanges(ob, bytesReader(flip(data, at)), ChunkRanges.all())).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(Blake3VerifyError)
    expect((err as Blake3VerifyError).kind).toBe('data')
    expect((err as Blake3VerifyError).group).toBe(4)
    const badOb = new PreOrderOutboard({ root: digest, size, outboard: flip(outboard, 64 * 3 + 5) })
    const err2 = await collect(encodeRanges(badOb, bytesReader(data), ChunkRanges.all())).then(() => undefined, (e: unknown) => e)
    expect(err2).toBeInstanceOf(Blake3VerifyError)
    expect((err2 as Blake3VerifyError).kind).toBe('parent')
    // without validation the bytes go out and the receiver catches them
    const stream = await collect(encodeRanges(ob, bytesReader(flip(data, at)), ChunkRanges.all(), { validate: false }))
    const { error, items } = await decodeRecorded([stream], { root: digest, size })
    expect(error).toBeInstanceOf(Blake3VerifyError)
    expect((error as Blake3VerifyError).group).toBe(4)
    expect(items.filter(i => i.item.type === 'data').map(i => (i.item as { offset: number }).offset)).toEqual([0, G, 2 * G, 3 * G])
  })
})

describe('truncated streams and wrong sizes', async () => {
  const size = 6 * G + 999
  const data = randomBytes(size, 8)
  const root = blake3(data)
  const framed = await collect(encodeBytes(data, ChunkRanges.all(), { sizePrefix: true }))

  it('every cut point gives Blake3TruncatedError after yielding only verified items', async () => {
    const clean = await decodeRecorded([framed], { root })
    for (let cut = 0; cut < framed.length; cut += (cut < 600 ? 1 : 397)) {
      const { items, error } = await decodeRecorded(pieces(framed.subarray(0, cut), cut, 5000), { root })
      expect(error, `cut ${cut}`).toBeInstanceOf(Blake3TruncatedError)
      expect((error as Blake3TruncatedError).streamOffset).toBeLessThanOrEqual(cut)
      expect(items.length).toBe(clean.items.filter(i => i.streamEnd <= cut).length)
    }
  })

  it('a wrong size prefix or a wrong given size gives a typed error', async () => {
    const body = framed.subarray(8)
    for (const claimed of [0, 1, size - 1, size + 1, size - 1024, size + 1024, size - G, size + G, 2 * size, 2 ** 40, 2 ** 53 - 1]) {
      const a = await errorName(async () => decodeAll([concat([sizePrefix(claimed), body])], { root }))
      expect(TYPED_ERRORS.has(a), `prefix ${claimed}: ${a}`).toBe(true)
      const b = await errorName(async () => decodeAll([body], { root, size: claimed }))
      expect(TYPED_ERRORS.has(b), `size ${claimed}: ${b}`).toBe(true)
    }
    const huge = new Uint8Array(8).fill(0xff)
    expect(await errorName(async () => decodeAll([concat([huge, body])], { root }))).toBe('Blake3SizeError')
    expect(() => new RangeDecoder([body], { root, size: -1 })).toThrow(Blake3SizeError)
    expect(() => new RangeDecoder([body], { root: root.subarray(0, 31) })).toThrow(Blake3ArgumentError)
  })

  it('a too-short prefix and an empty stream are truncations', async () => {
    expect(await errorName(async () => decodeAll([framed.subarray(0, 5)], { root }))).toBe('Blake3TruncatedError')
    expect(await errorName(async () => decodeAll([], { root }))).toBe('Blake3TruncatedError')
    expect(await errorName(async () => decodeAll([], { root, size }))).toBe('Blake3TruncatedError')
  })

  it('the empty blob: 8-byte encoding, verified size, no data', async () => {
    const empty = new Uint8Array(0)
    const enc = await collect(encodeBytes(empty, ChunkRanges.all(), { sizePrefix: true }))
    expect(enc.length).toBe(8)
    const { items, decoder, error } = await decodeRecorded([enc], { root: blake3(empty) })
    expect(error).toBeUndefined()
    expect(items).toEqual([])
    expect(decoder.sizeVerified).toBe(true)
    expect(decoder.verifiedRanges().toArray()).toEqual([[0, 1]])
    expect(await errorName(async () => decodeAll([enc], { root }))).toBe('Blake3VerifyError')
  })
})

describe('streams: cancellation, shared readers, iteration', () => {
  const size = 12 * G + 1
  const data = randomBytes(size, 55)
  const { digest, outboard } = hashWithOutboard(data)
  const ob = new PreOrderOutboard({ root: digest, size, outboard })

  it('an aborted signal stops the encoder and the decoder', async () => {
    const ac = new AbortController()
    const seen: number[] = []
    const err = await (async () => {
      for await (const piece of encodeRanges(ob, bytesReader(data), ChunkRanges.all(), { signal: ac.signal })) {
        seen.push(piece.length)
        if (seen.length === 3) ac.abort(new Error('stop'))
      }
    })().then(() => undefined, (e: unknown) => e)
    expect((err as Error).message).toBe('stop')
    expect(seen.length).toBe(3)

    const ac2 = new AbortController()
    const encoded = await collect(encodeRanges(ob, bytesReader(data), ChunkRanges.all()))
    const decoder = new RangeDecoder(pieces(encoded, 1, 1000), { root: digest, size }, { signal: ac2.signal })
    let n = 0
    const err2 = await (async () => {
      for await (const _ of decoder) { if (++n === 4) ac2.abort(new Error('halt')) }
    })().then(() => undefined, (e: unknown) => e)
    expect((err2 as Error).message).toBe('halt')
    expect(n).toBe(4)
  })

  it('an asynchronous slow source and a random-access reader returning copies work', async () => {
    const slowReader: RandomAccessReader = {
      read: async (offset, length) => {
        await new Promise(resolve => setTimeout(resolve, 0))
        return data.slice(offset, offset + length)
      }
    }
    const stream = encodeRangesWithSize(ob, slowReader, ChunkRanges.all())
    expect(hex(await decodeAll(stream, { root: digest }))).toBe(hex(data))
    const shortReader: RandomAccessReader = { read: async (offset, length) => data.slice(offset, offset + length - 1) }
    expect(await errorName(async () => collect(encodeRanges(ob, shortReader, ChunkRanges.all())))).toBe('Blake3ReadError')
  })

  it('two blobs from one shared ByteReader (iroh-style consecutive responses)', async () => {
    const other = randomBytes(3 * G + 7, 66)
    const a = await collect(encodeBytes(data, ChunkRanges.all(), { sizePrefix: true }))
    const b = await collect(encodeBytes(other, ChunkRanges.fromRanges([[10, 20]]), { sizePrefix: true }))
    const trailer = new Uint8Array([1, 2, 3])
    const reader = new ByteReader(pieces(concat([a, b, trailer]), 5, 9000))
    expect(hex(await decodeAll(reader, { root: digest }))).toBe(hex(data))
    const second = await decodeRecorded((async function * () { yield * reader.rest() })(), { root: blake3(other), ranges: ChunkRanges.fromRanges([[10, 20]]) })
    // the first decoder left exactly the second blob's bytes (and the trailer) unread
    expect(second.error).toBeUndefined()
    expect(second.decoder.verifiedRanges().toArray()).toEqual([[10, 20]])
  })

  it('a decoder can be iterated only once', async () => {
    const encoded = await collect(encodeRanges(ob, bytesReader(data), ChunkRanges.all()))
    const decoder = new RangeDecoder([encoded], { root: digest, size })
    for await (const _ of decoder) { /* drain */ }
    await expect(decoder.decode().next()).rejects.toThrow(Blake3ArgumentError)
  })

  it('oracle sanity: the oracle outboard is what the encoder sends for all ranges (parents only)', async () => {
    const encoded = await collect(encodeRanges(ob, bytesReader(data), ChunkRanges.all()))
    expect(encoded.length).toBe(size + oracleOutboard(data, 4).outboard.length)
  })
})
