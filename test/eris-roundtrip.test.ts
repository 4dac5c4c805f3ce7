/**
 * ERIS encode → decode round trips, tree shape, chunking independence and streaming behaviour.
 */
import { createCipheriv } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  MemoryBlockStore,
  base32Encode,
  decodeEris,
  decodeErisBytes,
  encodeEris,
  encodeErisBytes,
  ErisEncoder
} from '../src/eris/index.ts'
import type { ErisBlockSize } from '../src/eris/index.ts'

const KiB = 1024
const MiB = 1024 * 1024

/** Deterministic pseudo-random bytes (ChaCha20 keystream of `seed`). */
function randomBytes (length: number, seed = 1): Uint8Array {
  const key = new Uint8Array(32)
  new DataView(key.buffer).setUint32(0, seed, true)
  const out = createCipheriv('chacha20', key, new Uint8Array(16)).update(new Uint8Array(length))
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

function getter (blocks: Map<string, Uint8Array>) {
  return async (ref: Uint8Array): Promise<Uint8Array | undefined> => blocks.get(base32Encode(ref))
}

/** Level and total (non-distinct) block count the tree must have (§4.2 steps 1–5). */
function expectedShape (contentLength: number, blockSize: number): { level: number, blocks: number } {
  const arity = blockSize / 64
  let count = Math.floor(contentLength / blockSize) + 1 // padding always adds at least one byte
  let blocks = count
  let level = 0
  while (count > 1) {
    count = Math.ceil(count / arity)
    blocks += count
    level++
  }
  return { level, blocks }
}

function * pieces (data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size)
}

describe('ERIS round trips', () => {
  const sizes = [
    0, 1, 1023, 1024, 1025, 16 * KiB - 1, 16 * KiB, 16 * KiB + 1, 32 * KiB - 1, 32 * KiB, 32 * KiB + 1,
    256 * KiB - 1, 256 * KiB, 256 * KiB + 1, 16 * 32 * KiB - 1, 16 * 32 * KiB, 16 * 32 * KiB + 1, 3 * MiB + 12345
  ]
  for (const blockSize of [1024, 32768] as ErisBlockSize[]) {
    for (const size of sizes) {
      it(`block size ${blockSize}, ${size} bytes`, async () => {
        const content = randomBytes(size, size + blockSize)
        const result = await encodeErisBytes(content, { blockSize })
        const shape = expectedShape(size, blockSize)
        expect(result.contentLength).toBe(size)
        expect(result.capability.blockSize).toBe(blockSize)
        expect(result.capability.level).toBe(shape.level)
        expect(result.blockCount).toBe(shape.blocks)
        expect(result.blocks.size).toBe(shape.blocks) // random content: no duplicate blocks
        expect(result.urn).toMatch(/^urn:eris:[A-Z2-7]{106}$/)
        for (const block of result.blocks.values()) expect(block.length).toBe(blockSize)

        const chunks: Uint8Array[] = []
        for await (const chunk of decodeEris(result.urn, getter(result.blocks))) chunks.push(chunk)
        for (const chunk of chunks.slice(0, -1)) expect(chunk.length).toBe(blockSize)
        expect(chunks.every(c => c.length > 0)).toBe(true)
        expect(sameBytes(Buffer.concat(chunks), content)).toBe(true)
      })
    }
  }

  it('arity boundary of 32 KiB blocks: 512 × 32 KiB ± 1 (16 MiB)', async () => {
    for (const size of [16 * MiB - 1, 16 * MiB]) {
      const content = randomBytes(size, 7)
      const store = new MemoryBlockStore()
      const result = await encodeEris(pieces(content, 100_000), { blockSize: 32768, onBlock: async (r, b) => { await store.put(r, b) } })
      expect(result.capability.level).toBe(expectedShape(size, 32768).level)
      const decoded = await decodeErisBytes(result.capability, async (r, o) => await store.get(r, o), { prefetch: 8 })
      expect(sameBytes(decoded, content)).toBe(true)
      expect(store.byteLength).toBe(store.size * 32768)
    }
    expect(expectedShape(16 * MiB - 1, 32768).level).toBe(1)
    expect(expectedShape(16 * MiB, 32768).level).toBe(2)
  })

  it('convergence secret: deterministic per secret, different across secrets, decodable without it', async () => {
    const content = randomBytes(5000, 3)
    const nullA = await encodeErisBytes(content, { blockSize: 1024 })
    const nullB = await encodeErisBytes(content, { blockSize: 1024, convergenceSecret: new Uint8Array(32) })
    const secret = randomBytes(32, 99)
    const secretA = await encodeErisBytes(content, { blockSize: 1024, convergenceSecret: secret })
    const secretB = await encodeErisBytes(content, { blockSize: 1024, convergenceSecret: secret })
    expect(nullB.urn).toBe(nullA.urn)
    expect(secretB.urn).toBe(secretA.urn)
    expect(secretA.urn).not.toBe(nullA.urn)
    expect(sameBytes(await decodeErisBytes(secretA.urn, getter(secretA.blocks)), content)).toBe(true)
  })

  it('identical content blocks are deduplicated by reference', async () => {
    const result = await encodeErisBytes(new Uint8Array(64 * KiB), { blockSize: 1024 })
    // 64 zero leaves + 1 padding leaf; 5 level-1 nodes (4 identical), 1 root
    expect(result.blockCount).toBe(65 + 5 + 1)
    expect(result.blocks.size).toBe(2 + 2 + 1)
    expect(sameBytes(await decodeErisBytes(result.urn, getter(result.blocks)), new Uint8Array(64 * KiB))).toBe(true)
  })
})

describe('ERIS encoding is independent of how the input is split', () => {
  it('property: any split gives the same URN and blocks (1 KiB blocks)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: 40 * KiB }),
      fc.array(fc.integer({ min: 0, max: 40 * KiB }), { maxLength: 12 }),
      fc.integer({ min: 0, max: 1000 }),
      async (size, cutPoints, seed) => {
        const content = randomBytes(size, seed)
        const cuts = [...new Set(cutPoints.map(c => c % (size + 1)))].sort((a, b) => a - b)
        const chunks: Uint8Array[] = []
        let previous = 0
        for (const cut of [...cuts, size]) {
          chunks.push(content.subarray(previous, cut)) // empty chunks included
          previous = cut
        }
        const whole = await encodeErisBytes(content, { blockSize: 1024 })
        const seen = new Map<string, Uint8Array>()
        const split = await encodeEris((async function * () { yield * chunks })(), {
          blockSize: 1024,
          onBlock: (r, b) => { seen.set(base32Encode(r), b) }
        })
        expect(split.urn).toBe(whole.urn)
        expect([...seen.keys()].sort()).toEqual([...whole.blocks.keys()].sort())
      }
    ), { numRuns: 60 })
  })

  it('byte-by-byte, odd pieces and one buffer agree (32 KiB blocks)', async () => {
    const content = randomBytes(70_000, 11)
    const whole = await encodeErisBytes(content, { blockSize: 32768 })
    const byByte = await encodeEris(pieces(content, 1), { blockSize: 32768 })
    const odd = await encodeEris(pieces(content, 32769), { blockSize: 32768 })
    expect(byByte.urn).toBe(whole.urn)
    expect(odd.urn).toBe(whole.urn)
  })

  it('push-style ErisEncoder agrees with encodeEris', async () => {
    const content = randomBytes(50_000, 12)
    const encoder = await ErisEncoder.create({ blockSize: 1024 })
    for (const piece of pieces(content, 777)) await encoder.update(piece)
    expect(encoder.contentLength).toBe(50_000)
    const result = await encoder.finish()
    expect(result.urn).toBe((await encodeErisBytes(content, { blockSize: 1024 })).urn)
  })
})

describe('ERIS streaming behaviour', () => {
  it('encoder emits blocks while input is still arriving and waits for an async onBlock', async () => {
    const piece = randomBytes(MiB, 5)
    let emitted = 0
    const emittedBeforeLastPiece: number[] = []
    let inFlight = 0
    let maxInFlight = 0
    async function * source (): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 8; i++) {
        emittedBeforeLastPiece.push(emitted)
        yield piece
      }
    }
    const store = new MemoryBlockStore()
    const result = await encodeEris(source(), {
      blockSize: 32768,
      onBlock: async (ref, block) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise(resolve => setImmediate(resolve))
        await store.put(ref, block)
        emitted++
        inFlight--
      }
    })
    // after each MiB of input, its 32 leaves have already been written
    expect(emittedBeforeLastPiece).toEqual([0, 32, 64, 96, 128, 160, 192, 224])
    expect(maxInFlight).toBe(1)
    expect(result.blockCount).toBe(257 + 1)
    expect(store.size).toBe(33 + 1) // 8 identical MiB: 32 distinct leaves + padding leaf + root
    const decoded = await decodeErisBytes(result.urn, async r => await store.get(r))
    expect(decoded.length).toBe(8 * MiB)
  })

  it('decoder fetches lazily: one block per level before the first chunk', async () => {
    const content = randomBytes(300 * KiB, 6)
    const result = await encodeErisBytes(content, { blockSize: 1024 })
    expect(result.capability.level).toBe(3)
    let fetched = 0
    const iterator = decodeEris(result.urn, async r => { fetched++; return result.blocks.get(base32Encode(r)) })
    const first = await iterator.next()
    expect(first.done).toBe(false)
    expect(sameBytes(first.value as Uint8Array, content.subarray(0, 1024))).toBe(true)
    expect(fetched).toBe(4) // root (level 3), level 2, level 1, first leaf
    await iterator.return(undefined)
    expect(fetched).toBe(4)
  })

  it('prefetch keeps several leaf fetches in flight and still yields in order', async () => {
    const content = randomBytes(200 * KiB, 8)
    const result = await encodeErisBytes(content, { blockSize: 1024 })
    let inFlight = 0
    let maxInFlight = 0
    const decoded = await decodeErisBytes(result.urn, async r => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await new Promise(resolve => setTimeout(resolve, Math.random() * 2))
      inFlight--
      return result.blocks.get(base32Encode(r))
    }, { prefetch: 6 })
    expect(sameBytes(decoded, content)).toBe(true)
    expect(maxInFlight).toBe(6)
  })

  it('passes the abort signal to getBlock and stops when aborted', async () => {
    const content = randomBytes(100 * KiB, 9)
    const result = await encodeErisBytes(content, { blockSize: 1024 })
    const controller = new AbortController()
    const signals: Array<AbortSignal | undefined> = []
    let chunks = 0
    const err = await (async () => {
      for await (const _ of decodeEris(result.urn, async (r, o) => { signals.push(o?.signal); return result.blocks.get(base32Encode(r)) }, { signal: controller.signal })) {
        if (++chunks === 3) controller.abort()
      }
    })().then(() => undefined, (e: unknown) => e)
    expect((err as Error).name).toBe('AbortError')
    expect(chunks).toBe(3)
    expect(signals.every(s => s === controller.signal)).toBe(true)
  })

  it('encoder honours an abort signal', async () => {
    const controller = new AbortController()
    controller.abort()
    const err = await encodeEris([new Uint8Array(10)], { blockSize: 1024, signal: controller.signal }).then(() => undefined, (e: unknown) => e)
    expect((err as Error).name).toBe('AbortError')
  })
})
