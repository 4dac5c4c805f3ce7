/**
 * Per-peer limits (src/p2p/limits.ts): a greedy peer opening many streams or hammering requests
 * is refused (its streams reset) and throttled, while an honest peer keeps being served.
 */
import { describe, it, expect, vi, afterEach } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { PeerLimits, PeerLimitError, createByteBucket } from '../src/p2p/limits.ts'
import { FETCH_PROTOCOL, PATH_INFO_PROTOCOL, fetchBlobOnStream, requestPathInfo, NotHeldError } from '../src/p2p/index.ts'
import { makeNode, pattern, removeDir } from './helpers/p2p.ts'
import type { TestNode } from './helpers/p2p.ts'

afterEach(() => { vi.useRealTimers() })

describe('PeerLimits', () => {
  it('caps concurrent streams per peer, independently for each peer', () => {
    const limits = new PeerLimits({ maxStreamsPerPeer: 2, requestsPerSecond: 1000 })
    const a1 = limits.admit('A')
    const a2 = limits.admit('A')
    expect(() => limits.admit('A')).toThrow(PeerLimitError)
    const b = limits.admit('B') // another peer is not affected
    expect(limits.openStreams('A')).toBe(2)
    a1.release()
    a1.release() // idempotent
    expect(limits.openStreams('A')).toBe(1)
    limits.admit('A').release()
    a2.release(); b.release()
    expect(limits.refused.streams).toBe(1)
  })

  it('refuses requests beyond the per-peer token bucket and refills with time', () => {
    let now = 0
    const limits = new PeerLimits({ requestsPerSecond: 10, requestBurst: 5, now: () => now })
    for (let i = 0; i < 5; i++) limits.admit('A').release()
    expect(() => limits.admit('A')).toThrow(/requests per second/)
    limits.admit('B').release()
    now += 300 // 3 tokens back
    for (let i = 0; i < 3; i++) limits.admit('A').release()
    expect(() => limits.admit('A')).toThrow(PeerLimitError)
    expect(limits.refused.rate).toBe(2)
  })

  it('the byte bucket lets a burst through at once and holds back the rest', async () => {
    vi.useFakeTimers()
    let now = 0
    const bucket = createByteBucket(1024 * 1024, () => now) // burst 256 KiB
    let done = false
    await bucket.take(256 * 1024)
    const next = bucket.take(512 * 1024).then(() => { done = true })
    await vi.advanceTimersByTimeAsync(100)
    expect(done).toBe(false)
    now = 600
    await vi.advanceTimersByTimeAsync(600)
    await next
    expect(done).toBe(true)
  })
})

describe('per-peer limits on the served protocols', () => {
  it('a greedy peer is limited while an honest peer keeps being served', async () => {
    const nodes: TestNode[] = []
    try {
      // slow enough per peer (512 KiB/s) that the greedy peer's streams stay open
      const server = await makeNode({ swarm: { limits: { maxStreamsPerPeer: 4, requestsPerSecond: 1000, bytesPerSecond: 512 * 1024 } } })
      nodes.push(server)
      const greedy = await makeNode()
      nodes.push(greedy)
      const honest = await makeNode()
      nodes.push(honest)
      const data = pattern(512 * 1024, 7)
      const { digest } = await server.castore.blobs.put([data], { size: data.length })
      await greedy.host.dial(multiaddr(server.addr))
      await honest.host.dial(multiaddr(server.addr))

      // 12 concurrent fetches from one peer: at most 4 are admitted at a time
      const storm = Array.from({ length: 12 }, async () => {
        const stream = await greedy.host.dialProtocol(server.host.peerId, FETCH_PROTOCOL)
        let n = 0
        await fetchBlobOnStream(stream, digest, { idleTimeoutMs: 30_000, onData: (item: any) => { n += item.data?.byteLength ?? 0 } })
        return n
      })
      const stormDone = Promise.allSettled(storm)
      // meanwhile the honest peer fetches the same blob, completely and verified
      const stream = await honest.host.dialProtocol(server.host.peerId, FETCH_PROTOCOL)
      let received = 0
      const got = await fetchBlobOnStream(stream, digest, { idleTimeoutMs: 30_000, onData: (item: any) => { received += item.data?.byteLength ?? 0 } })
      expect(got.size).toBe(data.length)
      expect(received).toBe(data.length)
      const results = await stormDone
      const ok = results.filter(r => r.status === 'fulfilled').length
      expect(ok).toBeGreaterThan(0)
      expect(ok).toBeLessThanOrEqual(8)
      expect(server.swarm.limits!.refused.streams).toBeGreaterThanOrEqual(4)
      expect(server.swarm.limits!.openStreams(greedy.host.peerId.toString())).toBe(0)
    } finally {
      for (const n of nodes) { await n.stop(); await removeDir(n.dir) }
    }
  }, 60_000)

  it('hammering path-info requests is cut off by the request rate; others are still answered', async () => {
    const nodes: TestNode[] = []
    try {
      const server = await makeNode({ swarm: { limits: { requestsPerSecond: 5, requestBurst: 10 } } })
      nodes.push(server)
      const greedy = await makeNode()
      nodes.push(greedy)
      const honest = await makeNode()
      nodes.push(honest)
      await greedy.host.dial(multiaddr(server.addr))
      await honest.host.dial(multiaddr(server.addr))
      const hashPart = '0'.repeat(32)
      let answered = 0
      let refused = 0
      for (let i = 0; i < 40; i++) {
        const stream = await greedy.host.dialProtocol(server.host.peerId, PATH_INFO_PROTOCOL)
        try {
          await requestPathInfo(stream, hashPart, { trustedKeys: [], idleTimeoutMs: 10_000 })
        } catch (err) {
          if (err instanceof NotHeldError) answered++
          else refused++
        }
      }
      expect(answered).toBeGreaterThanOrEqual(10)
      expect(answered).toBeLessThan(30)
      expect(refused).toBe(40 - answered)
      expect(server.swarm.limits!.refused.rate).toBe(refused)
      // the honest peer has its own bucket: answered (not held) as usual
      const stream = await honest.host.dialProtocol(server.host.peerId, PATH_INFO_PROTOCOL)
      await expect(requestPathInfo(stream, hashPart, { trustedKeys: [], idleTimeoutMs: 10_000 })).rejects.toThrow(NotHeldError)
    } finally {
      for (const n of nodes) { await n.stop(); await removeDir(n.dir) }
    }
  }, 60_000)
})
