/**
 * Partial blobs (castore/partial-blob.ts) and the DHT key scheme.
 */
import { describe, it, expect } from 'vitest'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChunkRanges, hashWithOutboard, loadKernel } from '../src/blake3/index.ts'
import { FsBlobStore } from '../src/castore/index.ts'
import { PartialBlobStore } from '../src/castore/partial-blob.ts'
import { blake3Cid, digestKey, storePathKey } from '../src/p2p/index.ts'
import { pattern, removeDir, fakeHashPart } from './helpers/p2p.ts'

describe('PartialBlobStore', () => {
  it('records verified ranges durably, survives a reopen, and finalises into the BlobStore', async () => {
    await loadKernel()
    const dir = await mkdtemp(join(tmpdir(), 'ss-partial-'))
    try {
      const data = pattern(100 * 1024 + 300, 8)
      const { digest } = hashWithOutboard(data)
      const store = new PartialBlobStore({ root: dir })
      const p = await store.open(digest, data.length)
      await p.writeVerified(32 * 1024, data.subarray(32 * 1024, 64 * 1024))
      await p.writeVerified(96 * 1024, data.subarray(96 * 1024))
      expect(p.verified.equals(ChunkRanges.fromRanges([[32, 64], [96, 101]]))).toBe(true)
      expect(p.durable.isEmpty()).toBe(true)
      await p.close()
      // "restart"
      const again = new PartialBlobStore({ root: dir })
      expect((await again.verifiedRanges(digest, data.length)).equals(ChunkRanges.fromRanges([[32, 64], [96, 101]]))).toBe(true)
      expect((await again.verifiedRanges(digest, data.length + 1)).isEmpty()).toBe(true)
      const q = await again.open(digest, data.length)
      expect(q.complete).toBe(false)
      await q.writeVerified(0, data.subarray(0, 32 * 1024))
      await q.writeVerified(64 * 1024, data.subarray(64 * 1024, 96 * 1024))
      expect(q.complete).toBe(true)
      const blobs = await FsBlobStore.open({ root: dir, fsync: false })
      const r = await q.finalize(blobs)
      expect(r.size).toBe(data.length)
      const parts: Uint8Array[] = []
      for await (const x of blobs.read(digest)) parts.push(x)
      expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true)
      expect((await again.verifiedRanges(digest, data.length)).isEmpty()).toBe(true)
    } finally {
      await removeDir(dir)
    }
  })

  it('refuses unaligned writes and a finalise with wrong bytes keeps nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ss-partial-'))
    try {
      const data = pattern(5000, 9)
      const { digest } = hashWithOutboard(data)
      const store = new PartialBlobStore({ root: dir })
      const p = await store.open(digest, data.length)
      await expect(p.writeVerified(100, data.subarray(100, 2048))).rejects.toThrow(RangeError)
      const wrong = Uint8Array.from(data); wrong[10] ^= 1
      await p.writeVerified(0, wrong)
      const blobs = await FsBlobStore.open({ root: dir, fsync: false })
      await expect(p.finalize(blobs)).rejects.toBeDefined()
      expect(await blobs.has(digest)).toBe(false)
    } finally {
      await removeDir(dir)
    }
  })
})

describe('DHT key scheme', () => {
  it('uses domain-separated sha2-256 aliases, never raw BLAKE3 multihashes', () => {
    const d = pattern(32, 1)
    expect(blake3Cid(d).multihash.code).toBe(0x1e)
    const k = digestKey(d)
    expect(k.multihash.code).toBe(0x12)
    expect(k.version).toBe(1)
    expect(k.equals(digestKey(Uint8Array.from(d)))).toBe(true)
    const h = fakeHashPart(5)
    expect(storePathKey(h).multihash.code).toBe(0x12)
    expect(storePathKey(h).equals(k)).toBe(false)
    expect(() => storePathKey('not-a-hash')).toThrow(RangeError)
  })
})
