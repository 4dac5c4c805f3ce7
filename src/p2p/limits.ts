/**
 * Per-peer limits on what a remote peer can make this node do (the serving side of the fetch,
 * path-info and ERIS-block protocols):
 *
 * - concurrent inbound streams per peer, across those protocols and across all of the peer's
 *   connections (`maxStreamsPerPeer`): one more is reset at once;
 * - requests per second per peer (token bucket `requestsPerSecond`, burst `requestBurst`): a
 *   request beyond the bucket is reset at once, before anything is read or looked up;
 * - bytes served per peer per second (token bucket `bytesPerSecond`, burst ⅛ s, at least
 *   256 KiB): sends to that peer wait for tokens, so a greedy peer is slowed down and nobody
 *   else waits for it.
 *
 * Refusal is the protocols' own failure signal (the stream is reset, as on any server error),
 * which the honest client treats as a failed request to retry or move on from. Per-connection
 * caps (`maxInboundStreams` of each protocol), the connection manager's limits (max
 * connections, per-IP inbound rate, pending upgrades: `host.ts`) and the request and idle
 * timeouts of each protocol bound the rest.
 */
import type { RateLimiter } from './fetch-protocol.ts'

export interface PeerLimitsInit {
  /** concurrent inbound streams of one peer (default 64) */
  maxStreamsPerPeer?: number
  /** sustained requests per second of one peer (default 500) */
  requestsPerSecond?: number
  /** burst of requests (default 2 × requestsPerSecond) */
  requestBurst?: number
  /** bytes per second served to one peer (default 256 MiB/s; 0 or Infinity: unlimited) */
  bytesPerSecond?: number
  /** peers tracked at most; idle ones are forgotten first (default 4096) */
  maxTrackedPeers?: number
  /** clock, for tests (ms) */
  now?: () => number
}

/**
 * Defaults: far above what an honest peer's downloader asks (8 blobs at once per path, two
 * workers per provider for large blobs, ERIS decoding block by block), so only a greedy or
 * hostile peer meets them. The byte budget is above one Noise stream's measured rate (bench/p2p.ts),
 * so it caps floods, not transfers; lower it to protect a slow uplink.
 */
export const DEFAULT_PEER_LIMITS = {
  maxStreamsPerPeer: 64,
  requestsPerSecond: 500,
  bytesPerSecond: 256 * 1024 * 1024,
  maxTrackedPeers: 4096
} as const

/** Connections the host keeps at most (libp2p prunes beyond; its own default is 300). */
export const DEFAULT_MAX_CONNECTIONS = 256

/** Why a request was refused. */
export type RefusalReason = 'streams' | 'rate'

export interface PeerTicket {
  /** the peer's byte budget (token bucket); shared by all its streams */
  readonly bytes: RateLimiter | undefined
  /** ends the stream's claim on the peer's stream slots (idempotent) */
  release: () => void
}

interface PeerState {
  streams: number
  tokens: number
  last: number
  bytes: RateLimiter | undefined
}

export class PeerLimitError extends Error {
  static override name = 'PeerLimitError'
  override name = 'PeerLimitError'
  readonly reason: RefusalReason
  constructor (message: string, reason: RefusalReason) {
    super(message)
    this.reason = reason
  }
}

/** A token bucket on a clock; `take(n)` resolves once n bytes may be sent. */
export function createByteBucket (bytesPerSecond: number, now: () => number = () => performance.now()): RateLimiter {
  const burst = Math.max(256 * 1024, bytesPerSecond / 8)
  let tokens = burst
  let last = now()
  let chain: Promise<void> = Promise.resolve()
  return {
    take: async (bytes: number) => {
      const run = async (): Promise<void> => {
        const t = now()
        tokens = Math.min(burst, tokens + (t - last) * bytesPerSecond / 1000)
        last = t
        tokens -= bytes
        if (tokens < 0) await new Promise(resolve => setTimeout(resolve, Math.ceil(-tokens / bytesPerSecond * 1000)))
      }
      chain = chain.then(run, run)
      await chain
    }
  }
}

export class PeerLimits {
  readonly maxStreamsPerPeer: number
  readonly requestsPerSecond: number
  readonly requestBurst: number
  readonly bytesPerSecond: number
  private readonly maxTrackedPeers: number
  private readonly now: () => number
  private readonly peers = new Map<string, PeerState>()
  /** refusals so far, by reason (observability) */
  readonly refused = { streams: 0, rate: 0 }

  constructor (init: PeerLimitsInit = {}) {
    this.maxStreamsPerPeer = init.maxStreamsPerPeer ?? DEFAULT_PEER_LIMITS.maxStreamsPerPeer
    this.requestsPerSecond = init.requestsPerSecond ?? DEFAULT_PEER_LIMITS.requestsPerSecond
    this.requestBurst = init.requestBurst ?? 2 * this.requestsPerSecond
    this.bytesPerSecond = init.bytesPerSecond ?? DEFAULT_PEER_LIMITS.bytesPerSecond
    this.maxTrackedPeers = init.maxTrackedPeers ?? DEFAULT_PEER_LIMITS.maxTrackedPeers
    this.now = init.now ?? (() => performance.now())
    for (const [k, v] of Object.entries({ maxStreamsPerPeer: this.maxStreamsPerPeer, requestsPerSecond: this.requestsPerSecond, requestBurst: this.requestBurst })) {
      if (!(v > 0)) throw new RangeError(`${k} must be positive`)
    }
  }

  private state (peer: string): PeerState {
    let s = this.peers.get(peer)
    if (s !== undefined) {
      // most recently used last: idle peers are forgotten first
      this.peers.delete(peer)
      this.peers.set(peer, s)
      return s
    }
    if (this.peers.size >= this.maxTrackedPeers) {
      for (const [key, st] of this.peers) {
        if (this.peers.size < this.maxTrackedPeers) break
        // never forget a peer with streams open: its slots must be released against its entry
        if (st.streams === 0) this.peers.delete(key)
      }
    }
    const unlimited = !(this.bytesPerSecond > 0) || this.bytesPerSecond === Infinity
    s = { streams: 0, tokens: this.requestBurst, last: this.now(), bytes: unlimited ? undefined : createByteBucket(this.bytesPerSecond, this.now) }
    this.peers.set(peer, s)
    return s
  }

  /**
   * Admits one inbound request of `peer`, or throws `PeerLimitError` (the caller resets the
   * stream). The ticket must be released when the stream ends.
   */
  admit (peer: string): PeerTicket {
    const s = this.state(peer)
    if (s.streams >= this.maxStreamsPerPeer) {
      this.refused.streams++
      throw new PeerLimitError(`peer ${peer} has ${s.streams} streams open (at most ${this.maxStreamsPerPeer})`, 'streams')
    }
    const t = this.now()
    s.tokens = Math.min(this.requestBurst, s.tokens + (t - s.last) * this.requestsPerSecond / 1000)
    s.last = t
    if (s.tokens < 1) {
      this.refused.rate++
      throw new PeerLimitError(`peer ${peer} exceeds ${this.requestsPerSecond} requests per second`, 'rate')
    }
    s.tokens -= 1
    s.streams++
    let released = false
    return {
      bytes: s.bytes,
      release: () => {
        if (released) return
        released = true
        s.streams--
      }
    }
  }

  /** Streams the peer has open now (tests, status). */
  openStreams (peer: string): number {
    return this.peers.get(peer)?.streams ?? 0
  }
}

/** Both limiters in turn (global upload limit, then the peer's). */
export function bothLimiters (a: RateLimiter | undefined, b: RateLimiter | undefined): RateLimiter | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return { take: async (n) => { await a.take(n); await b.take(n) } }
}
