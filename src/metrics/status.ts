/**
 * The node's status snapshot: what `/status.json`, the status page and `storeswarm status`
 * show. Plain JSON (numbers, strings, arrays); times are epoch milliseconds.
 */
import type { UpstreamStats } from '../upstream/types.ts'

export type SubstitutionSource = 'local' | 'peer' | 'upstream'

export interface StatusSnapshot {
  version: string
  /** epoch ms of the snapshot */
  now: number
  startedAt: number
  uptimeMs: number
  identity: {
    peerId?: string
    listenAddrs: string[]
    http: { nix?: string, guix?: string }
    daemonSocket?: string
    guixDaemonSocket?: string
    dataDir: string
  }
  keys: {
    /** `trusted-public-keys = name:base64` (nix.conf line) */
    nix?: string
    nixPublicKey?: string
    /** the Guix key s-expression (`guix archive --authorize`) */
    guix?: string
  }
  peers: Array<{
    id: string
    addrs: string[]
    /** measured download speed from this peer, bytes/s (absent until measured) */
    speed?: number
    bytesFrom: number
    bytesTo: number
  }>
  transfers: Array<{
    target: string
    source: 'peer' | 'upstream'
    bytes: number
    total?: number
    /** bytes/s since the transfer started */
    rate: number
    startedAt: number
  }>
  store: {
    bytes?: number
    paths?: number
    pinned?: number
    maxBytes?: number
    /** where the numbers come from: the garbage collector, or the sum of NarSizes */
    basis: 'gc' | 'nar-size' | 'unknown'
  }
  gc?: {
    storeBytes: number
    maxBytes?: number
    paths: number
    pinned: number
    lastRun?: { at: number, evictedPaths: number, freedBytes: number, ms: number }
  }
  upstreams: UpstreamStats[]
  substitutions: Array<{
    storePath: string
    source: SubstitutionSource
    bytes: number
    ms?: number
    at: number
  }>
  counts: {
    httpRequests: number
    httpBytes: number
    daemonOps: number
    daemonBytes: number
    peerBytesServed: number
    narinfoHits: number
    narinfoMisses: number
    substitutions: Record<SubstitutionSource, number>
    bytesBySource: Record<SubstitutionSource, number>
    verificationFailures: number
  }
  ratios: {
    /** narinfo hits / (hits + misses), undefined before the first narinfo */
    narinfoHit?: number
    /** share of bytes by source (0..1 each), undefined before any byte */
    bytesBySource?: Record<SubstitutionSource, number>
  }
}
