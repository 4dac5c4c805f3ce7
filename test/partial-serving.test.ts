/**
 * Serving verified ranges of partially downloaded blobs: parents recorded through `onParent`
 * into a PartialBlob's sparse outboard, served by `serveFetch` only where verified, never as
 * unverified bytes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { ChunkRanges, RangeDecoder, encodeBytes, encodeRanges, hashWithOutboard, loadKernel } from '../src/blake3/index.ts'
import type { DecodedData, DecodedParent } from '../src/blake3/index.ts'
import { MemoryBlobStore, createMemoryDirectoryStore } from '../src/castore/index.ts'
import { MAX_SPARSE_OUTBOARD, PartialBlobStore, SparseOutboard } from '../src/castore/partial-blob.ts'
import type { PartialBlob } from '../src/castore/partial-blob.ts'
import { FETCH_PROTOCOL, fetchBlobOnStream, openServable, receiveBlob } from '../src/p2p/index.ts'
import type { FetchBlobOptions } from '../src/p2p/fetch-protocol.ts'
import { MemoryPartialBlobStore } from '../simulations/nodes.ts'
import { makeNode, removeDir } from './helpers/p2p.ts'
import type { TestNode } from './helpers/p2p.ts'

beforeAll(async () => { await loadKernel() })

/** The response to a request for `ranges` of `data` (size prefix and encoding). */
async function encoded (data: Uint8Array, ranges: ChunkRanges): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const p of encodeBytes(data, ranges, { sizePrefix: true })) out.push(p)
  return out
}

/** Receives `ranges` of `data` from an honest encoding into `partial` (parents first). */
async function feed (partial: { writeParent: (o: number, p: Uint8Array) => void, writeVerified: (o: number, d: Uint8Array) => Promise<void> }, data: Uint8Array, digest: Uint8Array, ranges: ChunkRanges, parents = true): Promise<void> {
  await receiveBlob(await encoded(data, ranges), {
    digest,
    size: data.length,
    ranges,
    onParent: parents ? (p) => { partial.writeParent(p.offset, p.pair) } : undefined,
    onData: async (i) => { await partial.writeVerified(i.offset, i.data) }
  })
}

describe('SparseOutboard / PartialBlob.writeParent', () => {
  it('bounds-checks offsets and pair lengths', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ss-pserve-'))
    try {
      const data = randomBytes(100 * 1024 + 5) // 7 groups: 6 pairs
      const { digest } = hashWithOutboard(data)
      const store = new PartialBlobStore({ root: dir, fsync: false })
      const p = await store.open(digest, data.length)
      const pair = new Uint8Array(64)
      for (const bad of [-64, 3, 65, 6 * 64, 7 * 64, Number.NaN, 1.5, Infinity]) {
        expect(() => { p.writeParent(bad, pair) }).toThrow(RangeError)
      }
      expect(() => { p.writeParent(0, new Uint8Array(63)) }).toThrow(RangeError)
      expect(store.servable(digest)).toBeUndefined()
      p.writeParent(5 * 64, pair)
      expect(store.servable(digest)?.verified.isEmpty()).toBe(true)
      await p.close()
      expect(store.servable(digest)).toBeUndefined()
      // a single group has no parents at all
      const small = new SparseOutboard(digest, 16 * 1024)
      expect(() => { small.write(0, pair) }).toThrow(RangeError)
    } finally {
      await removeDir(dir)
    }
  })

  it('keeps no outboard over the limit (blobs over 4 GiB are not served)', () => {
    const pair = new Uint8Array(64)
    const big = new SparseOutboard(new Uint8Array(32), (MAX_SPARSE_OUTBOARD / 64 + 1) * 16 * 1024 + 1)
    expect(big.geometry.outboardSize).toBeGreaterThan(MAX_SPARSE_OUTBOARD)
    big.write(0, pair)
    expect(big.kept).toBe(false)
    expect(big.outboard()).toBeUndefined()
    expect(() => { big.write(big.geometry.outboardSize, pair) }).toThrow(RangeError)
    const edge = new SparseOutboard(new Uint8Array(32), (MAX_SPARSE_OUTBOARD / 64 + 1) * 16 * 1024)
    expect(edge.geometry.outboardSize).toBe(MAX_SPARSE_OUTBOARD)
    edge.write(64, pair)
    expect(edge.kept).toBe(true)
  })

  it('serves only whole groups whose parents came first, not restored or parentless ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ss-pserve-'))
    try {
      const data = randomBytes(300 * 1024 + 77) // 19 groups, 301 chunks
      const { digest } = hashWithOutboard(data)
      const store = new PartialBlobStore({ root: dir, fsync: false })
      const first = await store.open(digest, data.length)
      // written without parents: stays unservable even after parents arrive elsewhere
      await feed(first, data, digest, ChunkRanges.from(0, 32), false)
      await feed(first, data, digest, ChunkRanges.from(64, 96))
      expect(store.servable(digest)!.verified.equals(ChunkRanges.from(64, 96))).toBe(true)
      // a partly written group is not servable until it is whole
      await feed(first, data, digest, ChunkRanges.from(96, 100))
      expect(store.servable(digest)!.verified.equals(ChunkRanges.from(64, 96))).toBe(true)
      await feed(first, data, digest, ChunkRanges.from(100, 112))
      expect(store.servable(digest)!.verified.equals(ChunkRanges.from(64, 112))).toBe(true)
      await first.close()
      // after a restart the restored ranges are verified but not servable
      const again = new PartialBlobStore({ root: dir, fsync: false })
      const second = await again.open(digest, data.length)
      expect(second.verified.equals(ChunkRanges.fromRanges([[0, 32], [64, 112]]))).toBe(true)
      // two downloads of the same blob writing at once (the store shares one PartialBlob)
      const third = await again.open(digest, data.length)
      expect(third).toBe(second)
      await Promise.all([
        feed(second, data, digest, ChunkRanges.from(112, 240)),
        feed(third, data, digest, ChunkRanges.from(160, Infinity))
      ])
      const s = again.servable(digest)!
      expect(s.verified.equals(ChunkRanges.from(112, 301))).toBe(true)
      expect(second.verified.isSuperset(s.verified)).toBe(true)
      // what is servable encodes and verifies
      const parts: Uint8Array[] = []
      for await (const piece of encodeRanges(s.outboard, s.reader, s.verified)) parts.push(piece)
      const got: DecodedData[] = []
      for await (const item of new RangeDecoder(parts, { root: digest, size: data.length, ranges: s.verified })) {
        if (item.type === 'data') got.push(item)
      }
      expect(Buffer.concat(got.map(g => g.data)).equals(data.subarray(112 * 1024))).toBe(true)
      await second.close()
      await third.close()
      expect(again.servable(digest)).toBeUndefined()
    } finally {
      await removeDir(dir)
    }
  })

  it('the simulation store serves the same way (openServable)', async () => {
    const data = randomBytes(200 * 1024)
    const { digest } = hashWithOutboard(data)
    const partials = new MemoryPartialBlobStore()
    const components = { blobs: new MemoryBlobStore(), directories: createMemoryDirectoryStore(), partials }
    const p = await partials.open(digest, data.length)
    await feed(p, data, digest, ChunkRanges.from(16, 80))
    expect(await openServable(components, digest, ChunkRanges.from(0, 20))).toBeUndefined()
    expect(await openServable(components, digest, ChunkRanges.from(500, 600))).toBeUndefined() // the last chunk
    const held = await openServable(components, digest, ChunkRanges.from(20, 70))
    expect(held?.partial).toBe(true)
    const parts: Uint8Array[] = []
    for await (const piece of encodeRanges(held!.outboard, held!.reader, ChunkRanges.from(20, 70))) parts.push(piece)
    const got: DecodedData[] = []
    for await (const item of new RangeDecoder(parts, { root: digest, size: data.length, ranges: ChunkRanges.from(20, 70) })) {
      if (item.type === 'data') got.push(item)
    }
    expect(Buffer.concat(got.map(g => g.data)).equals(data.subarray(20 * 1024, 70 * 1024))).toBe(true)
    await feed(p, data, digest, ChunkRanges.all())
    await p.finalize(components.blobs)
    expect(partials.servable(digest)).toBeUndefined()
    expect((await openServable(components, digest, ChunkRanges.all()))?.partial).toBe(false)
  })
})

describe('serving a blob while it is being downloaded (loopback)', () => {
  const nodes: TestNode[] = []
  afterAll(async () => { for (const n of nodes) { await n.stop(); await removeDir(n.dir) } })

  it('serves verified ranges, refuses the rest, never sends unverified bytes', async () => {
    const a = await makeNode(); nodes.push(a)
    const b = await makeNode(); nodes.push(b)
    const c = await makeNode(); nodes.push(c)
    const data = randomBytes(400 * 1024 + 321) // 26 groups, 401 chunks
    const size = data.length
    const { digest } = await a.castore.blobs.put([data], { size })
    await b.host.dial(multiaddr(a.addr))
    await c.host.dial(multiaddr(b.addr))
    const fetchFrom = async (from: TestNode, to: TestNode, options: Omit<FetchBlobOptions, 'size'>): Promise<Awaited<ReturnType<typeof fetchBlobOnStream>>> => {
      const stream = await from.host.dialProtocol(to.host.peerId, FETCH_PROTOCOL)
      return await fetchBlobOnStream(stream, digest, { size, ...options })
    }
    // C asks B for a range: every delivered byte is the blob's
    const ask = async (ranges: ChunkRanges): Promise<{ got: DecodedData[], err?: any }> => {
      const got: DecodedData[] = []
      try {
        await fetchFrom(c, b, { ranges, onData: (i) => { got.push(i) } })
      } catch (err: any) {
        for (const g of got) expect(Buffer.from(g.data).equals(data.subarray(g.offset, g.offset + g.data.byteLength))).toBe(true)
        return { got, err }
      }
      for (const g of got) expect(Buffer.from(g.data).equals(data.subarray(g.offset, g.offset + g.data.byteLength))).toBe(true)
      return { got }
    }

    // B downloads chunks [0, 128) from A, recording parents before the data they cover
    const partial: PartialBlob = await b.swarm.partials.open(digest, size)
    const events: Array<DecodedParent | DecodedData> = []
    await fetchFrom(b, a, {
      ranges: ChunkRanges.from(0, 128),
      onParent: (p) => { events.push(p); partial.writeParent(p.offset, p.pair) },
      onData: async (i) => { events.push(i); await partial.writeVerified(i.offset, i.data) }
    })
    expect(events[0].type).toBe('parent')
    expect(events.filter(e => e.type === 'parent').length).toBeGreaterThan(3)
    expect(b.swarm.partials.servable(digest)!.verified.equals(ChunkRanges.from(0, 128))).toBe(true)
    expect(await b.castore.blobs.has(digest)).toBe(false)

    // (a) verified ranges are served (whole groups, and chunks inside a group)
    for (const [s, e] of [[32, 96], [0, 128], [5, 20]]) {
      const { got, err } = await ask(ChunkRanges.from(s, e))
      expect(err).toBeUndefined()
      expect(Buffer.concat(got.map(g => g.data)).equals(data.subarray(s * 1024, e * 1024))).toBe(true)
    }

    // (b) anything not wholly verified is not held
    for (const ranges of [ChunkRanges.from(100, 200), ChunkRanges.all(), ChunkRanges.lastChunk(), ChunkRanges.from(300, 310)]) {
      const { got, err } = await ask(ranges)
      expect(err?.name).toBe('NotHeldError')
      expect(got).toEqual([])
    }

    // (d) a tampered sparse outboard: the request fails, and no unverified byte reaches C
    const pairs = (partial as any).parents.pairs as Uint8Array
    const received = (partial as any).parents.received as Uint8Array
    let tampered = 0
    for (let index = 0; index < received.length; index++) {
      if (received[index] !== 1) continue
      pairs[index * 64 + 7] ^= 0x10
      const { got, err } = await ask(ChunkRanges.from(0, 128))
      pairs[index * 64 + 7] ^= 0x10
      expect(err).toBeDefined()
      expect(Buffer.concat(got.map(g => g.data)).byteLength).toBeLessThan(128 * 1024)
      tampered++
    }
    expect(tampered).toBeGreaterThan(3)
    // restored: served again
    expect((await ask(ChunkRanges.from(0, 128))).err).toBeUndefined()

    // (c) the rest, finalised: the complete blob is served from the BlobStore
    await fetchFrom(b, a, {
      ranges: ChunkRanges.from(128, Infinity),
      onParent: (p) => { partial.writeParent(p.offset, p.pair) },
      onData: async (i) => { await partial.writeVerified(i.offset, i.data) }
    })
    expect(b.swarm.partials.servable(digest)!.verified.equals(ChunkRanges.from(0, 401))).toBe(true)
    await partial.finalize(b.castore.blobs)
    expect(b.swarm.partials.servable(digest)).toBeUndefined()
    const { got, err } = await ask(ChunkRanges.all())
    expect(err).toBeUndefined()
    expect(Buffer.concat(got.map(g => g.data)).equals(data)).toBe(true)
  })
})
