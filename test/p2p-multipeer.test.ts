/**
 * Multi-peer download of a large blob held by three seeders (loopback, one process):
 * ranges come from all three; a seeder killed mid-transfer does not stop the download; a
 * fetching node restarted mid-transfer resumes without re-downloading verified ranges.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { loadKernel, ChunkRanges } from '../src/blake3/index.ts'
import { makeNode, removeDir, pattern } from './helpers/p2p.ts'
import type { TestNode } from './helpers/p2p.ts'

const SIZE = 24 * 1024 * 1024 + 5000
const blob = pattern(SIZE, 42)
let digest: Uint8Array
const nodes: TestNode[] = []

async function seeders (n: number): Promise<TestNode[]> {
  const out: TestNode[] = []
  for (let i = 0; i < n; i++) {
    const s = await makeNode()
    nodes.push(s)
    const r = await s.castore.blobs.put([blob], { size: SIZE })
    digest = r.digest
    out.push(s)
  }
  return out
}

async function readAll (node: TestNode): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of node.castore.blobs.read(digest)) parts.push(p)
  return Buffer.concat(parts)
}

beforeAll(async () => { await loadKernel() })
afterAll(async () => { for (const n of nodes) { await n.stop(); await removeDir(n.dir) } })

describe('multi-peer fetch', () => {
  it('fetches ranges from all three seeders', async () => {
    const seeds = await seeders(3)
    const client = await makeNode({ swarm: { downloader: { pieceGroups: 16 } } }); nodes.push(client)
    for (const s of seeds) await client.host.dial(multiaddr(s.addr))
    const bytesFrom = new Map<string, number>()
    client.swarm.downloader.addEventListener('verified', (e) => { bytesFrom.set(e.detail.peer, (bytesFrom.get(e.detail.peer) ?? 0) + e.detail.bytes) })
    await client.swarm.downloader.fetchBlob(digest, seeds.map(s => s.host.peerId.toString()), { size: SIZE })
    expect((await readAll(client)).equals(Buffer.from(blob))).toBe(true)
    for (const s of seeds) expect(bytesFrom.get(s.host.peerId.toString()) ?? 0).toBeGreaterThan(0)
    expect([...bytesFrom.values()].reduce((a, b) => a + b, 0)).toBe(SIZE)
  })

  it('completes when one seeder is killed mid-transfer', async () => {
    const seeds = await seeders(3)
    const client = await makeNode({ swarm: { downloader: { pieceGroups: 16, idleTimeoutMs: 2000 } } }); nodes.push(client)
    for (const s of seeds) await client.host.dial(multiaddr(s.addr))
    const victim = seeds[0]
    const victimId = victim.host.peerId.toString()
    let got = 0
    let killedAt = -1
    client.swarm.downloader.addEventListener('verified', (e) => {
      got += e.detail.bytes
      // killed while it delivers, or (if the other seeders happened to take every piece so far)
      // halfway through anyway: the download must finish from the others
      if (killedAt < 0 && got > SIZE / 5 && (e.detail.peer === victimId || got > SIZE / 2)) {
        killedAt = got
        void victim.stop()
      }
    })
    await client.swarm.downloader.fetchBlob(digest, seeds.map(s => s.host.peerId.toString()), { size: SIZE })
    expect(killedAt).toBeGreaterThan(0)
    expect(killedAt).toBeLessThan(SIZE)
    expect((await readAll(client)).equals(Buffer.from(blob))).toBe(true)
  })

  it('resumes after the fetching node restarts, without re-downloading verified ranges', async () => {
    const seeds = await seeders(2)
    const ids = seeds.map(s => s.host.peerId.toString())
    const first = await makeNode({ swarm: { downloader: { pieceGroups: 16 } } })
    for (const s of seeds) await first.host.dial(multiaddr(s.addr))
    const ctl = new AbortController()
    let got = 0
    first.swarm.downloader.addEventListener('verified', (e) => {
      got += e.detail.bytes
      if (got > SIZE * 0.4) ctl.abort()
    })
    await expect(first.swarm.downloader.fetchBlob(digest, ids, { size: SIZE, signal: ctl.signal })).rejects.toBeDefined()
    const dir = first.dir
    await first.stop()
    // "restart": a new node process state on the same data directory
    const second = await makeNode({ dir, swarm: { downloader: { pieceGroups: 16 } } }); nodes.push(second)
    const durable = await second.swarm.partials.verifiedRanges(digest, SIZE)
    expect(durable.count()).toBeGreaterThan(0)
    expect(await second.castore.blobs.has(digest)).toBe(false)
    for (const s of seeds) await second.host.dial(multiaddr(s.addr))
    let again = 0
    let overlap = false
    second.swarm.downloader.addEventListener('verified', (e) => {
      again += e.detail.bytes
      const c0 = e.detail.offset / 1024
      if (durable.intersects(c0, c0 + Math.ceil(e.detail.bytes / 1024))) overlap = true
    })
    await second.swarm.downloader.fetchBlob(digest, ids, { size: SIZE })
    expect(overlap).toBe(false)
    const durableBytes = Math.min(durable.count() * 1024, SIZE) - (durable.has(Math.ceil(SIZE / 1024) - 1) ? Math.ceil(SIZE / 1024) * 1024 - SIZE : 0)
    expect(again).toBe(SIZE - durableBytes)
    expect((await readAll(second)).equals(Buffer.from(blob))).toBe(true)
    expect((await second.swarm.partials.verifiedRanges(digest, SIZE)).equals(ChunkRanges.empty())).toBe(true)
  })
})
