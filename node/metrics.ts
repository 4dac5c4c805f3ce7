/**
 * The running node's metrics and status (issue 7): one `NodeMetrics` per node collects what the
 * facades, the swarm and the upstream / GC components report through their hooks, exposes it
 * as Prometheus metrics (`/metrics`) and builds the status snapshot (`/status.json`, the status
 * page, `storeswarm status` over the control socket).
 *
 * Hooks used: the binary caches' `onRequest`; the daemon's `onEvent` (ops) and `onNarServed`;
 * the swarm's `path:fetching` / `path:fetched` / `path-info:rejected` / `eris:bad-block`
 * events, the downloader's `verified` events, the peer scores' `peer:penalised` events and the
 * fetch server's `onSent`; the upstream substituter's `fetched` events and `stats()`, and the
 * garbage collector's `stats()` — the last two read optionally, so the node works with or
 * without them.
 *
 * Substitutions: a path fetched from peers or an upstream is recorded when it arrives (source
 * `peer` / `upstream`, bytes received, time taken); a path served to a client (a full NAR over
 * HTTP, NarFromPath on the daemon socket) that was already held is recorded as `local`. Bytes by
 * source are the same split: received from peers / upstreams, or served from local data.
 */
import type { UpstreamStats } from '../src/upstream/types.ts'
import { createRequire } from 'node:module'
import type { Castore } from '../src/castore/index.ts'
import { createRegistry } from '../src/metrics/index.ts'
import type { Registry, Counter, Histogram, StatusSnapshot, SubstitutionSource } from '../src/metrics/index.ts'
import { route } from '../src/http/index.ts'
import type { RequestEvent } from '../src/http/index.ts'
import type { DaemonServerEvent } from '../src/daemon/index.ts'
import type { Substitute, SwarmInit } from '../src/p2p/index.ts'
import { BAN_SCORE } from '../src/p2p/index.ts'
import type { P2PHandle } from './p2p.ts'

const RECENT = 50
const ATTRIBUTION_ENTRIES = 10_000
/** a transfer without progress for this long is dropped from the list */
const STALE_TRANSFER_MS = 120_000
/** the NarSize sum of the store is recomputed at most this often */
const STORE_REFRESH_MS = 10_000
const SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

/** What the upstream substituter offers (read optionally: it may not be there). */
interface UpstreamLike {
  stats?: () => { upstreams: UpstreamStats[] }
  addEventListener?: (type: string, listener: (evt: Event) => void) => void
  /** NARs being pulled now (optional: shown as transfers when the substituter offers it) */
  inFlight?: () => Array<{ storePath: string, bytes: number, total?: number, startedAt: number }>
}

/** What the garbage collector offers (read optionally). */
interface GcLike {
  stats?: () => { storeBytes: number, maxBytes?: number, paths: number, pinned: number, lastRun?: { at: number, evictedPaths: number, freedBytes: number, ms: number } }
}

/** The parts of a running node the status reads (a `RunningNode` fits). */
export interface NodeView {
  nix?: { url?: string }
  guix?: { url?: string }
  daemon?: { path: string }
  guixDaemon?: { path: string }
  p2p?: P2PHandle
  upstream?: unknown
  gc?: unknown
}

export interface NodeMetricsInit {
  dataDir: string
  /** the node's own castore (not the peer-substituting view) */
  castore: Castore
  keys?: { nixPublic?: string, guixPublic?: string }
  version?: string
}

interface Transfer {
  target: string
  source: 'peer' | 'upstream'
  bytes: number
  total?: number
  startedAt: number
  lastAt: number
}

type Facade = 'nix' | 'guix'

function packageVersion (): string {
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function statusClass (status: number): string {
  return `${Math.floor(status / 100)}xx`
}

function routeKind (facade: Facade, url: string): 'narinfo' | 'nar' | 'other' {
  const k = route(facade, url).kind
  return k === 'narinfo' ? 'narinfo' : k === 'nar' || k === 'guix-nar' ? 'nar' : 'other'
}

export class NodeMetrics {
  readonly registry: Registry
  readonly startedAt = Date.now()
  private readonly init: NodeMetricsInit
  private readonly version: string
  private node?: NodeView

  private readonly httpRequests: Counter
  private readonly httpBytes: Counter
  private readonly servedBytes: Counter
  private readonly daemonOps: Counter
  private readonly daemonOpErrors: Counter
  private readonly narinfo: Counter
  private readonly substitutions: Counter
  private readonly fetchedBytes: Counter
  private readonly substitutionSeconds: Histogram
  private readonly dhtLookups: Counter
  private readonly dhtLookupFailures: Counter
  private readonly verificationFailures: Counter

  private readonly recent: StatusSnapshot['substitutions'] = []
  /** hash part → where a path fetched during this run came from */
  private readonly attribution = new Map<string, SubstitutionSource>()
  private readonly transfers = new Map<string, Transfer>()
  private readonly peerBytes = new Map<string, { from: number, to: number }>()
  private store: { bytes: number, paths: number, at: number } | undefined
  private storeRefresh: Promise<void> | undefined
  private readonly stopping = new AbortController()

  constructor (init: NodeMetricsInit) {
    this.init = init
    this.version = init.version ?? packageVersion()
    const r = this.registry = createRegistry()
    r.gauge({ name: 'storeswarm_build_info', help: 'Version of the running node (always 1).', labelNames: ['version'], collect: () => [{ labels: { version: this.version }, value: 1 }] })
    r.gauge({ name: 'storeswarm_uptime_seconds', help: 'Seconds since the node started.', collect: () => (Date.now() - this.startedAt) / 1000 })
    this.httpRequests = r.counter({ name: 'storeswarm_http_requests_total', help: 'HTTP requests answered, by facade (nix, guix), route kind (narinfo, nar, other) and status class.', labelNames: ['facade', 'route', 'status'] })
    this.httpBytes = r.counter({ name: 'storeswarm_http_response_bytes_total', help: 'HTTP response body bytes (GET), by facade and route kind.', labelNames: ['facade', 'route'] })
    this.servedBytes = r.counter({ name: 'storeswarm_served_bytes_total', help: 'Bytes served, by way: http (response bodies), daemon (NARs on the daemon socket), peer (fetch protocol).', labelNames: ['via'] })
    this.daemonOps = r.counter({ name: 'storeswarm_daemon_operations_total', help: 'Daemon-protocol operations received, by op.', labelNames: ['op'] })
    this.daemonOpErrors = r.counter({ name: 'storeswarm_daemon_operation_errors_total', help: 'Daemon-protocol operations that failed, by op.', labelNames: ['op'] })
    this.narinfo = r.counter({ name: 'storeswarm_narinfo_requests_total', help: 'narinfo lookups over HTTP: hit (200) or miss (404).', labelNames: ['result'] })
    this.substitutions = r.counter({ name: 'storeswarm_substitutions_total', help: 'Store paths substituted, by source: local (served from data held), peer, upstream.', labelNames: ['source'] })
    this.fetchedBytes = r.counter({ name: 'storeswarm_fetched_bytes_total', help: 'Bytes by source: local (NARs served from data held), peer (verified from peers), upstream (received from upstream caches).', labelNames: ['source'] })
    this.substitutionSeconds = r.histogram({ name: 'storeswarm_substitution_duration_seconds', help: 'Time to fetch a store path from peers or an upstream.', labelNames: ['source'], buckets: SECONDS_BUCKETS })
    this.dhtLookups = r.counter({ name: 'storeswarm_dht_lookups_total', help: 'Peer lookups of missing store paths (DHT and connected peers).' })
    this.dhtLookupFailures = r.counter({ name: 'storeswarm_dht_lookup_failures_total', help: 'Peer lookups that found no peer with the path, or failed.' })
    this.verificationFailures = r.counter({ name: 'storeswarm_verification_failures_total', help: 'Data refused by verification: peer_data (bad group, peer banned), peer_path_info, eris_block, upstream, upload.', labelNames: ['kind'] })
    r.gauge({ name: 'storeswarm_peers_connected', help: 'Peers with an open connection.', collect: () => this.connectedPeers().length })
    r.gauge({
      name: 'storeswarm_transfers_in_progress',
      help: 'Store paths being fetched, by source.',
      labelNames: ['source'],
      collect: () => {
        this.pruneTransfers()
        const n = { peer: 0, upstream: 0 }
        for (const t of this.transfers.values()) n[t.source]++
        n.upstream += this.upstreamTransfers().length
        return [{ labels: { source: 'peer' }, value: n.peer }, { labels: { source: 'upstream' }, value: n.upstream }]
      }
    })
    r.gauge({ name: 'storeswarm_store_bytes', help: 'Size of the store: bytes on disk as the GC measures them, else (before its first measurement, or without GC) the sum of NarSizes.', collect: () => this.storeNumbers().bytes ?? [] })
    r.gauge({ name: 'storeswarm_store_paths', help: 'Valid store paths held.', collect: () => this.storeNumbers().paths ?? [] })
    r.gauge({ name: 'storeswarm_store_pinned_paths', help: 'Pinned store paths (GC).', collect: () => this.gcStats()?.pinned ?? [] })
    r.gauge({ name: 'storeswarm_store_max_bytes', help: 'Configured store size limit (GC).', collect: () => this.gcStats()?.maxBytes ?? [] })
    r.gauge({ name: 'storeswarm_gc_last_freed_bytes', help: 'Bytes freed by the last GC run.', collect: () => this.gcStats()?.lastRun?.freedBytes ?? [] })
    r.gauge({ name: 'storeswarm_gc_last_evicted_paths', help: 'Paths evicted by the last GC run.', collect: () => this.gcStats()?.lastRun?.evictedPaths ?? [] })
    const upstreamCounter = (name: string, help: string, pick: (u: NonNullable<ReturnType<NodeMetrics['upstreamStats']>>[number]) => number): void => {
      r.counter({ name, help, labelNames: ['upstream'], collect: () => (this.upstreamStats() ?? []).map(u => ({ labels: { upstream: u.url }, value: pick(u) })) })
    }
    upstreamCounter('storeswarm_upstream_requests_total', 'narinfo requests sent to each upstream.', u => u.requests)
    upstreamCounter('storeswarm_upstream_hits_total', 'narinfos found and verified, per upstream.', u => u.hits)
    upstreamCounter('storeswarm_upstream_misses_total', 'narinfos an upstream does not have (404).', u => u.misses)
    upstreamCounter('storeswarm_upstream_failures_total', 'Upstream errors (connection, bad answers, bad signatures, NAR verification).', u => u.failures)
    upstreamCounter('storeswarm_upstream_timeouts_total', 'Upstream requests that timed out.', u => u.timeouts)
    upstreamCounter('storeswarm_upstream_fetched_bytes_total', 'Compressed NAR bytes received from each upstream.', u => u.bytesFetched)
    r.gauge({
      name: 'storeswarm_upstream_circuit_state',
      help: 'Circuit-breaker state of each upstream (1 for the current state).',
      labelNames: ['upstream', 'state'],
      collect: () => (this.upstreamStats() ?? []).map(u => ({ labels: { upstream: u.url, state: u.state }, value: 1 }))
    })
    void this.refreshStore()
  }

  /* ------------------------------------------------------------ hooks */

  /** For `createBinaryCache({ onRequest })`. */
  httpRequest (facade: Facade, e: RequestEvent): void {
    const kind = routeKind(facade, e.url)
    this.httpRequests.inc({ facade, route: kind, status: statusClass(e.status) })
    if (e.method === 'GET') {
      this.httpBytes.inc({ facade, route: kind }, e.length)
      this.servedBytes.inc({ via: 'http' }, e.length)
    }
    if (kind === 'narinfo' && (e.status === 200 || e.status === 404)) this.narinfo.inc({ result: e.status === 200 ? 'hit' : 'miss' })
    if (e.method === 'PUT' && (e.status === 400 || e.status === 422)) this.verificationFailures.inc({ kind: 'upload' })
    if (kind === 'nar' && e.method === 'GET' && (e.status === 200 || e.status === 206)) {
      const path = (() => { try { return decodeURIComponent(e.url.split('?')[0]) } catch { return e.url } })()
      const base = path.slice(path.lastIndexOf('/') + 1)
      const hashPart = base.slice(0, 32)
      this.servedLocal(hashPart, undefined, e.length, e.status === 200)
    }
  }

  /** For the daemon socket's `onEvent`. */
  daemonEvent (e: DaemonServerEvent): void {
    // op codes we do not know are one label value: a client cannot grow the series at will
    if (e.type === 'op') this.daemonOps.inc({ op: typeof e.op === 'string' ? e.op : 'unknown' })
    else if (e.type === 'op-error') this.daemonOpErrors.inc({ op: typeof e.op === 'string' ? e.op : 'unknown' })
  }

  /** For the daemon socket's `onNarServed`. */
  daemonNarServed (e: { storePath: string, bytes: number }): void {
    this.servedBytes.inc({ via: 'daemon' }, e.bytes)
    const base = e.storePath.slice(e.storePath.lastIndexOf('/') + 1)
    this.servedLocal(base.slice(0, 32), e.storePath, e.bytes, true)
  }

  /** For the fetch server's `onSent`: bytes served to a peer. */
  peerSent (bytes: number, peer: string | undefined): void {
    this.servedBytes.inc({ via: 'peer' }, bytes)
    if (peer !== undefined) this.peerEntry(peer).to += bytes
  }

  /** The swarm's init with the fetch server's `onSent` counting bytes served to peers. */
  swarmInit (init: SwarmInit = {}): SwarmInit {
    const inner = init.fetchServer?.onSent
    return {
      ...init,
      fetchServer: {
        ...init.fetchServer,
        onSent: (bytes, peer) => { this.peerSent(bytes, peer); inner?.(bytes, peer) }
      }
    }
  }

  /** Wraps the swarm's `substituteFromPeers` to count lookups. */
  wrapSubstitute (substitute: Substitute): Substitute {
    return async (hashPart, options) => {
      this.dhtLookups.inc()
      try {
        const info = await substitute(hashPart, options)
        if (info === undefined) this.dhtLookupFailures.inc()
        return info
      } catch (err) {
        this.dhtLookupFailures.inc()
        throw err
      } finally {
        for (const [k, t] of this.transfers) if (t.source === 'peer' && k.includes(`/${hashPart}-`)) this.transfers.delete(k)
      }
    }
  }

  /** Starts following the node's components (swarm, upstream); call once they are running. */
  attach (node: NodeView): void {
    this.node = node
    const swarm = node.p2p?.swarm
    if (swarm !== undefined) {
      swarm.addEventListener('path:fetching', (evt) => {
        const now = Date.now()
        this.transfers.set(`peer:${evt.detail.storePath}`, { target: evt.detail.storePath, source: 'peer', bytes: 0, total: evt.detail.narSize, startedAt: now, lastAt: now })
      })
      swarm.addEventListener('path:fetched', (evt) => {
        const key = `peer:${evt.detail.storePath}`
        const t = this.transfers.get(key)
        this.transfers.delete(key)
        const bytes = t?.total ?? t?.bytes ?? 0
        this.fetched('peer', evt.detail.storePath, bytes, evt.detail.ms)
      })
      swarm.addEventListener('path-info:rejected', () => { this.verificationFailures.inc({ kind: 'peer_path_info' }) })
      swarm.addEventListener('eris:bad-block', () => { this.verificationFailures.inc({ kind: 'eris_block' }) })
      swarm.scores.addEventListener('peer:penalised', (evt) => {
        if (evt.detail.points >= BAN_SCORE) this.verificationFailures.inc({ kind: 'peer_data' })
      })
      swarm.downloader.addEventListener('verified', (evt) => {
        const { peer, bytes } = evt.detail
        this.fetchedBytes.inc({ source: 'peer' }, bytes)
        this.peerEntry(peer).from += bytes
        // a transfer is a store path, the event a blob: credit the oldest unfinished peer transfer
        let target: Transfer | undefined
        for (const t of this.transfers.values()) {
          if (t.source !== 'peer') continue
          target ??= t
          if (t.total === undefined || t.bytes < t.total) { target = t; break }
        }
        if (target !== undefined) {
          target.bytes += bytes
          target.lastAt = Date.now()
        }
      })
    }
    const upstream = node.upstream as UpstreamLike | undefined
    upstream?.addEventListener?.('fetched', (evt) => {
      const d = (evt as CustomEvent<{ storePath: string, url: string, bytes: number, ms: number }>).detail
      if (d === undefined || typeof d.storePath !== 'string') return
      this.fetchedBytes.inc({ source: 'upstream' }, d.bytes)
      this.fetched('upstream', d.storePath, d.bytes, d.ms)
    })
  }

  stop (): void {
    this.stopping.abort()
  }

  /* ------------------------------------------------------------ outputs */

  /** The Prometheus text exposition. */
  expose (): string {
    if (this.gcStore() === undefined && (this.store === undefined || Date.now() - this.store.at > STORE_REFRESH_MS)) void this.refreshStore()
    return this.registry.expose()
  }

  async snapshot (): Promise<StatusSnapshot> {
    if (this.gcStore() === undefined && (this.store === undefined || Date.now() - this.store.at > STORE_REFRESH_MS)) await this.refreshStore()
    const now = Date.now()
    const node = this.node ?? {}
    const p2p = node.p2p
    const gc = this.gcStats()
    const store = this.storeNumbers()
    const bySource = (c: Counter): Record<SubstitutionSource, number> => ({ local: c.get({ source: 'local' }), peer: c.get({ source: 'peer' }), upstream: c.get({ source: 'upstream' }) })
    const bytesBySource = bySource(this.fetchedBytes)
    const totalBytes = bytesBySource.local + bytesBySource.peer + bytesBySource.upstream
    const hits = this.narinfo.get({ result: 'hit' })
    const misses = this.narinfo.get({ result: 'miss' })
    let httpRequests = 0
    for (const s of this.httpRequests.samples()) httpRequests += s.value
    let daemonOps = 0
    for (const s of this.daemonOps.samples()) daemonOps += s.value
    let failures = 0
    for (const s of this.verificationFailures.samples()) failures += s.value
    this.pruneTransfers()
    const peers = p2p === undefined
      ? []
      : p2p.swarm.peers().map(p => {
        const b = this.peerBytes.get(p.id)
        return {
          id: p.id,
          addrs: p.addrs,
          ...(b !== undefined && b.from > 0 ? { speed: Math.round(p2p.swarm.scores.speed(p.id) * 1000) } : {}),
          bytesFrom: b?.from ?? 0,
          bytesTo: b?.to ?? 0
        }
      })
    return {
      version: this.version,
      now,
      startedAt: this.startedAt,
      uptimeMs: now - this.startedAt,
      identity: {
        ...(p2p !== undefined ? { peerId: p2p.peerId } : {}),
        listenAddrs: p2p === undefined ? [] : p2p.node.getMultiaddrs().map(a => a.toString()),
        http: { ...(node.nix?.url !== undefined ? { nix: node.nix.url } : {}), ...(node.guix?.url !== undefined ? { guix: node.guix.url } : {}) },
        ...(node.daemon !== undefined ? { daemonSocket: node.daemon.path } : {}),
        ...(node.guixDaemon !== undefined ? { guixDaemonSocket: node.guixDaemon.path } : {}),
        dataDir: this.init.dataDir
      },
      keys: {
        ...(this.init.keys?.nixPublic !== undefined ? { nix: `trusted-public-keys = ${this.init.keys.nixPublic}`, nixPublicKey: this.init.keys.nixPublic } : {}),
        ...(this.init.keys?.guixPublic !== undefined ? { guix: this.init.keys.guixPublic } : {})
      },
      peers,
      transfers: [...this.transfers.values(), ...this.upstreamTransfers()].map(t => ({
        target: t.target,
        source: t.source,
        bytes: t.bytes,
        ...(t.total !== undefined ? { total: t.total } : {}),
        rate: Math.round(t.bytes / Math.max((now - t.startedAt) / 1000, 0.001)),
        startedAt: t.startedAt
      })),
      store: {
        ...(store.bytes !== undefined ? { bytes: store.bytes } : {}),
        ...(store.paths !== undefined ? { paths: store.paths } : {}),
        ...(gc !== undefined ? { pinned: gc.pinned } : {}),
        ...(gc?.maxBytes !== undefined ? { maxBytes: gc.maxBytes } : {}),
        basis: this.gcStore() !== undefined ? 'gc' : store.bytes !== undefined ? 'nar-size' : 'unknown'
      },
      ...(gc !== undefined ? { gc } : {}),
      upstreams: (this.upstreamStats() ?? []).map(u => ({ ...u })),
      substitutions: [...this.recent].reverse(),
      counts: {
        httpRequests,
        httpBytes: this.servedBytes.get({ via: 'http' }),
        daemonOps,
        daemonBytes: this.servedBytes.get({ via: 'daemon' }),
        peerBytesServed: this.servedBytes.get({ via: 'peer' }),
        narinfoHits: hits,
        narinfoMisses: misses,
        substitutions: bySource(this.substitutions),
        bytesBySource,
        verificationFailures: failures
      },
      ratios: {
        ...(hits + misses > 0 ? { narinfoHit: hits / (hits + misses) } : {}),
        ...(totalBytes > 0 ? { bytesBySource: { local: bytesBySource.local / totalBytes, peer: bytesBySource.peer / totalBytes, upstream: bytesBySource.upstream / totalBytes } } : {})
      }
    }
  }

  /* ------------------------------------------------------------ internals */

  private peerEntry (peer: string): { from: number, to: number } {
    let e = this.peerBytes.get(peer)
    if (e === undefined) {
      if (this.peerBytes.size >= 10_000) this.peerBytes.clear()
      e = { from: 0, to: 0 }
      this.peerBytes.set(peer, e)
    }
    return e
  }

  private connectedPeers (): string[] {
    const host = this.node?.p2p?.node
    if (host === undefined) return []
    return [...new Set(host.getConnections().map(c => c.remotePeer.toString()))]
  }

  private upstreamStats (): ReturnType<NonNullable<UpstreamLike['stats']>>['upstreams'] | undefined {
    const u = this.node?.upstream as UpstreamLike | undefined
    try {
      return u?.stats?.().upstreams
    } catch {
      return undefined
    }
  }

  private upstreamTransfers (): Transfer[] {
    const u = this.node?.upstream as UpstreamLike | undefined
    try {
      return (u?.inFlight?.() ?? []).map(t => ({ target: t.storePath, source: 'upstream' as const, bytes: t.bytes, ...(t.total !== undefined ? { total: t.total } : {}), startedAt: t.startedAt, lastAt: t.startedAt }))
    } catch {
      return []
    }
  }

  private gcStats (): ReturnType<NonNullable<GcLike['stats']>> | undefined {
    const gc = this.node?.gc as GcLike | undefined
    try {
      return gc?.stats?.()
    } catch {
      return undefined
    }
  }

  /** The GC's store figures once it has measured the store (it reports zeros until then). */
  private gcStore (): { bytes: number, paths: number } | undefined {
    const gc = this.gcStats()
    return gc === undefined || (gc.storeBytes === 0 && gc.paths === 0) ? undefined : { bytes: gc.storeBytes, paths: gc.paths }
  }

  private storeNumbers (): { bytes?: number, paths?: number } {
    return this.gcStore() ?? (this.store === undefined ? {} : { bytes: this.store.bytes, paths: this.store.paths })
  }

  /** Recomputes the NarSize sum and path count (one walk of the path infos at a time). */
  private async refreshStore (): Promise<void> {
    if (this.storeRefresh !== undefined) return await this.storeRefresh
    this.storeRefresh = (async () => {
      let bytes = 0
      let paths = 0
      try {
        for await (const info of this.init.castore.pathInfos.list({ signal: this.stopping.signal })) {
          bytes += info.narSize
          paths++
        }
        this.store = { bytes, paths, at: Date.now() }
      } catch {
        // store closing: keep the last numbers
      }
    })().finally(() => { this.storeRefresh = undefined })
    return await this.storeRefresh
  }

  private pruneTransfers (): void {
    const now = Date.now()
    for (const [k, t] of this.transfers) if (now - t.lastAt > STALE_TRANSFER_MS) this.transfers.delete(k)
  }

  private record (storePath: string, source: SubstitutionSource, bytes: number, ms: number | undefined): void {
    this.substitutions.inc({ source })
    this.recent.push({ storePath, source, bytes, ...(ms !== undefined ? { ms: Math.round(ms) } : {}), at: Date.now() })
    if (this.recent.length > RECENT) this.recent.shift()
  }

  private fetched (source: 'peer' | 'upstream', storePath: string, bytes: number, ms: number): void {
    const base = storePath.slice(storePath.lastIndexOf('/') + 1)
    if (this.attribution.size >= ATTRIBUTION_ENTRIES) this.attribution.clear()
    this.attribution.set(base.slice(0, 32), source)
    this.substitutionSeconds.observe({ source }, ms / 1000)
    this.record(storePath, source, bytes, ms)
    if (this.store !== undefined) this.store.at = 0 // stale: a path was added
  }

  /**
   * A NAR served to a client: `local` when the path was held already — not when it was fetched
   * from elsewhere in this run, nor when it is still arriving from an upstream (streamed to the
   * client while it is stored: the castore does not hold it yet when the response starts).
   */
  private servedLocal (hashPart: string, storePath: string | undefined, bytes: number, whole: boolean): void {
    if (this.attribution.has(hashPart)) return
    const count = (path: string): void => {
      this.fetchedBytes.inc({ source: 'local' }, bytes)
      if (whole) this.record(path, 'local', bytes, undefined)
    }
    if (storePath !== undefined) { count(storePath); return }
    void this.init.castore.getPathInfo(hashPart).then(info => {
      if (info !== undefined && !this.attribution.has(hashPart)) count(info.storePath)
    }, () => {})
  }
}

export function createNodeMetrics (init: NodeMetricsInit): NodeMetrics {
  return new NodeMetrics(init)
}
