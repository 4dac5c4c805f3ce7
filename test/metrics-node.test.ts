/**
 * NodeMetrics wiring against stand-ins for the components it follows (the swarm and its
 * downloader / peer scores, an upstream substituter, the garbage collector): transfers in
 * progress, per-peer bytes, verification failures, upstream and GC numbers, attribution of
 * substitutions to their source. The real components are exercised in status.test.ts.
 */
import { describe, it, expect } from 'vitest'
import { createNodeMetrics } from '../node/metrics.ts'
import type { NodeView } from '../node/metrics.ts'
import type { Castore } from '../src/castore/index.ts'
import { sample } from './status-node.ts'

const H1 = '0123456789abcdfghijklmnpqrsvwxyz'
const H2 = 'zyxwvsrqpnmlkjihgfdcba9876543210'
const H3 = '11111111111111111111111111111111'
const NARHASH = '0'.repeat(52)
const P1 = `/nix/store/${H1}-from-peer`
const P2 = `/nix/store/${H2}-from-upstream`

const emptyCastore = {
  pathInfos: { list: async function * () {} },
  getPathInfo: async () => undefined
} as unknown as Castore

function fakeNode (): { view: NodeView, swarm: any, upstream: any, gc: any } {
  const scores = Object.assign(new EventTarget(), { speed: (_peer: string) => 2_000 })
  const downloader = new EventTarget()
  const swarm = Object.assign(new EventTarget(), { scores, downloader, peers: () => [{ id: 'peerA', addrs: ['/ip4/192.0.2.1/tcp/4001'] }] })
  const node = { getMultiaddrs: () => [{ toString: () => '/ip4/127.0.0.1/tcp/4001' }], getConnections: () => [{ remotePeer: { toString: () => 'peerA' } }, { remotePeer: { toString: () => 'peerA' } }] }
  const upstreamStats = [{ url: 'https://cache.example', state: 'closed', requests: 7, hits: 2, misses: 4, failures: 1, timeouts: 0, bytesFetched: 700 }]
  const inFlight: Array<{ storePath: string, bytes: number, total?: number, startedAt: number }> = []
  const upstream = Object.assign(new EventTarget(), { stats: () => ({ upstreams: upstreamStats }), inFlight: () => inFlight })
  const gc = { stats: () => ({ storeBytes: 5000, maxBytes: 10_000, paths: 3, pinned: 1, lastRun: { at: 1, evictedPaths: 2, freedBytes: 300, ms: 4 } }) }
  return { view: { p2p: { swarm, node, peerId: 'self', addrs: [] } as any, upstream, gc }, swarm, upstream, gc }
}

describe('NodeMetrics with its components', () => {
  it('follows peer transfers, per-peer bytes, verification failures, upstream fetches and GC numbers', async () => {
    const m = createNodeMetrics({ dataDir: '/data', castore: emptyCastore, version: '9.9.9' })
    const { view, swarm, upstream } = fakeNode()
    m.attach(view)
    try {
      // a peer transfer in flight
      swarm.dispatchEvent(new CustomEvent('path:fetching', { detail: { storePath: P1, narSize: 1000, peers: ['peerA'] } }))
      swarm.downloader.dispatchEvent(new CustomEvent('verified', { detail: { peer: 'peerA', digest: 'd1', offset: 0, bytes: 400 } }))
      let s = await m.snapshot()
      expect(s.version).toBe('9.9.9')
      expect(s.transfers).toHaveLength(1)
      expect(s.transfers[0]).toMatchObject({ target: P1, source: 'peer', bytes: 400, total: 1000 })
      expect(s.peers).toEqual([{ id: 'peerA', addrs: ['/ip4/192.0.2.1/tcp/4001'], speed: 2_000_000, bytesFrom: 400, bytesTo: 0 }])
      let text = m.expose()
      expect(sample(text, 'storeswarm_transfers_in_progress', { source: 'peer' })).toBe(1)
      expect(sample(text, 'storeswarm_peers_connected')).toBe(1)
      expect(sample(text, 'storeswarm_fetched_bytes_total', { source: 'peer' })).toBe(400)

      swarm.downloader.dispatchEvent(new CustomEvent('verified', { detail: { peer: 'peerA', digest: 'd1', offset: 400, bytes: 600 } }))
      swarm.dispatchEvent(new CustomEvent('path:fetched', { detail: { storePath: P1, peers: ['peerA'], ms: 250 } }))
      // bytes served to a peer
      m.swarmInit().fetchServer!.onSent!(1234, 'peerA')
      // a forged group bans the peer; a timeout only costs points
      swarm.scores.dispatchEvent(new CustomEvent('peer:penalised', { detail: { peer: 'peerB', points: 100, total: 100, reason: 'bad group' } }))
      swarm.scores.dispatchEvent(new CustomEvent('peer:penalised', { detail: { peer: 'peerA', points: 5, total: 5, reason: 'timeout' } }))
      swarm.dispatchEvent(new CustomEvent('path-info:rejected', { detail: { peer: 'peerB', hashPart: H1, reason: 'untrusted' } }))
      // a path pulled through from an upstream: in flight, then done
      upstream.inFlight().push({ storePath: P2, bytes: 300, total: 700, startedAt: Date.now() })
      const pulling = await m.snapshot()
      expect(pulling.transfers).toHaveLength(1)
      expect(pulling.transfers[0]).toMatchObject({ target: P2, source: 'upstream', bytes: 300, total: 700 })
      expect(sample(m.expose(), 'storeswarm_transfers_in_progress', { source: 'upstream' })).toBe(1)
      upstream.inFlight().length = 0
      upstream.dispatchEvent(new CustomEvent('fetched', { detail: { storePath: P2, url: 'https://cache.example', bytes: 700, ms: 30 } }))
      // a client downloads both NARs: neither is a local substitution
      m.httpRequest('nix', { method: 'GET', url: `/nar/${H1}-${NARHASH}.nar`, status: 200, length: 1000 })
      m.httpRequest('nix', { method: 'GET', url: `/nar/${H2}-${NARHASH}.nar`, status: 200, length: 2000 })
      // nor is a NAR still arriving from an upstream (the castore does not hold it yet)
      m.httpRequest('nix', { method: 'GET', url: `/nar/${H3}-${NARHASH}.nar`, status: 200, length: 3000 })
      await new Promise(resolve => setImmediate(resolve))

      s = await m.snapshot()
      expect(s.transfers).toEqual([])
      expect(s.substitutions.map(r => [r.storePath, r.source, r.bytes, r.ms])).toEqual([[P2, 'upstream', 700, 30], [P1, 'peer', 1000, 250]])
      expect(s.counts.substitutions).toEqual({ local: 0, peer: 1, upstream: 1 })
      expect(s.counts.bytesBySource).toEqual({ local: 0, peer: 1000, upstream: 700 })
      expect(s.ratios.bytesBySource?.peer).toBeCloseTo(1000 / 1700)
      expect(s.counts.httpBytes).toBe(6000)
      expect(s.counts.peerBytesServed).toBe(1234)
      expect(s.peers[0]).toMatchObject({ bytesFrom: 1000, bytesTo: 1234 })
      expect(s.counts.verificationFailures).toBe(2)
      expect(s.upstreams).toEqual([{ url: 'https://cache.example', state: 'closed', requests: 7, hits: 2, misses: 4, failures: 1, timeouts: 0, bytesFetched: 700 }])
      expect(s.store).toEqual({ bytes: 5000, paths: 3, pinned: 1, maxBytes: 10_000, basis: 'gc' })
      expect(s.gc?.lastRun).toEqual({ at: 1, evictedPaths: 2, freedBytes: 300, ms: 4 })

      text = m.expose()
      expect(sample(text, 'storeswarm_verification_failures_total', { kind: 'peer_data' })).toBe(1)
      expect(sample(text, 'storeswarm_verification_failures_total', { kind: 'peer_path_info' })).toBe(1)
      expect(sample(text, 'storeswarm_substitution_duration_seconds_count', { source: 'peer' })).toBe(1)
      expect(sample(text, 'storeswarm_substitution_duration_seconds_sum', { source: 'upstream' })).toBe(0.03)
      expect(sample(text, 'storeswarm_upstream_requests_total', { upstream: 'https://cache.example' })).toBe(7)
      expect(sample(text, 'storeswarm_upstream_circuit_state', { upstream: 'https://cache.example', state: 'closed' })).toBe(1)
      expect(sample(text, 'storeswarm_store_bytes')).toBe(5000)
      expect(sample(text, 'storeswarm_store_pinned_paths')).toBe(1)
      expect(sample(text, 'storeswarm_gc_last_freed_bytes')).toBe(300)
      expect(sample(text, 'storeswarm_served_bytes_total', { via: 'peer' })).toBe(1234)
      expect(sample(text, 'storeswarm_build_info', { version: '9.9.9' })).toBe(1)
    } finally {
      m.stop()
    }
  })

  it('counts peer lookups and drops the transfer of a fetch that failed', async () => {
    const m = createNodeMetrics({ dataDir: '/data', castore: emptyCastore })
    const { view, swarm } = fakeNode()
    m.attach(view)
    const substitute = m.wrapSubstitute(async (hashPart) => {
      swarm.dispatchEvent(new CustomEvent('path:fetching', { detail: { storePath: `/nix/store/${hashPart}-x`, narSize: 10, peers: ['peerA'] } }))
      expect((await m.snapshot()).transfers).toHaveLength(1)
      throw new Error('peer went away')
    })
    await expect(substitute(H1, {})).rejects.toThrow('peer went away')
    expect(await m.wrapSubstitute(async () => undefined)(H2, {})).toBeUndefined()
    const text = m.expose()
    expect(sample(text, 'storeswarm_dht_lookups_total')).toBe(2)
    expect(sample(text, 'storeswarm_dht_lookup_failures_total')).toBe(2)
    expect((await m.snapshot()).transfers).toEqual([])
    m.stop()
  })
})
