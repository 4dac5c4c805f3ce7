/**
 * The swarm service: wires a libp2p host to a castore — serves the fetch and path-info
 * protocols, announces held paths, finds providers through the DHT (and directly connected
 * peers), fetches store paths and digests with the swarm downloader, and offers
 * `substituteFromPeers` for the HTTP / daemon facades' cache misses.
 *
 * A store path becomes valid locally only after: a trusted path info (trust.ts), its castore
 * tree fetched and verified (BLAKE3), the NAR re-rendered from the store matching NarHash and
 * NarSize, and (flat/text CA) the file's hash matching. Then it is announced in turn.
 */
import type { PeerId } from '@libp2p/interface'
import { TypedEventEmitter } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import type { AbortOptions } from '../abort.ts'
import { ChunkRanges } from '../blake3/index.ts'
import type { Castore } from '../castore/store.ts'
import type { PathInfo } from '../castore/path-info.ts'
import { splitStorePath } from '../castore/path-info.ts'
import { PartialBlobStore } from '../castore/partial-blob.ts'
import { toHex } from '../castore/digest.ts'
import type { PublicKey } from '../nix/signing.ts'
import { Announcer } from './announcer.ts'
import type { AnnouncerInit } from './announcer.ts'
import { FETCH_PROTOCOL, MAX_PROVIDERS, PATH_INFO_PROTOCOL, REFERRAL_COPIES, SERVE_WAIT_MS, SERVE_WAIT_POLL_MS, SUBSTITUTE_BUDGET_MS } from './constants.ts'
import { Referrals } from './referrals.ts'
import { Locality } from './locality.ts'
import type { ReferralsInit } from './referrals.ts'
import { digestKey, erisKey, storePathKey } from './dht-keys.ts'
import { Downloader } from './downloader.ts'
import type { DownloaderInit } from './downloader.ts'
import { NoProvidersError, NotHeldError, PeerMisbehavedError, UntrustedPathInfoError } from './errors.ts'
import { fetchBlobOnStream, serveFetch } from './fetch-protocol.ts'
import type { FetchServerInit } from './fetch-protocol.ts'
import type { Host } from './host.ts'
import { PeerScores } from './peer-scores.ts'
import { requestPathInfo, servePathInfo } from './path-info-protocol.ts'
import { checkCaContent } from './trust.ts'
import { ErisPathIndex } from '../eris/store-paths.ts'
import { ERIS_BLOCK_MAX_STREAMS, ERIS_BLOCK_PROTOCOL, serveErisBlocks } from './eris-block-protocol.ts'
import type { ErisBlockServerInit } from './eris-block-protocol.ts'
import { PeerErisBlockStore } from './eris-peer-store.ts'
import type { PeerErisBlockStoreInit } from './eris-peer-store.ts'
import { PeerLimits } from './limits.ts'
import type { PeerLimitsInit, PeerTicket } from './limits.ts'
import type { Stream, Connection } from '@libp2p/interface'

export interface SwarmComponents {
  host: Host
  castore: Castore
  /** partial blobs (default: none → a PartialBlobStore must be given for large blobs) */
  partials: PartialBlobStore
}

export interface SwarmInit {
  /** Nix `trusted-public-keys` for path infos from peers */
  trustedKeys?: PublicKey[]
  /** default lookup budget of `substituteFromPeers` (ms) */
  substituteBudgetMs?: number
  downloader?: DownloaderInit
  fetchServer?: FetchServerInit
  announcer?: AnnouncerInit
  /**
   * also ask directly connected peers (not only DHT providers); default true. `'local'`: only
   * the connected peers on the local network (a node connected to hundreds of peers across the
   * internet, with its LAN peers found by mDNS: a LAN holder is then always among the providers)
   */
  askConnected?: boolean | 'local'
  /** serve ERIS blocks of held paths on `/storeswarm/eris-block/1.0.0` (default true) */
  serveEris?: boolean
  erisBlockServer?: ErisBlockServerInit
  /** per-peer limits on the protocols served (limits.ts); `false` for none (benchmarks) */
  limits?: PeerLimitsInit | PeerLimits | false
  /** refer requests for ranges already sent to enough peers to those peers (referrals.ts); `false` to always serve */
  referrals?: ReferralsInit | false
  /** randomness for fetch order, referral order and ties (default Math.random; simulations pass a seeded one) */
  random?: () => number
}

export interface SwarmEvents {
  /** a trusted path info was found: its tree is being downloaded from `peers` */
  'path:fetching': CustomEvent<{ storePath: string, narSize: number, peers: string[] }>
  'path:fetched': CustomEvent<{ storePath: string, peers: string[], ms: number }>
  'path-info:rejected': CustomEvent<{ peer: string, hashPart: string, reason: string }>
  /** a peer sent an ERIS block that does not hash to its reference (it is banned) */
  'eris:bad-block': CustomEvent<{ peer: string, reference: string, reason: string }>
}

export interface FetchPathOptions extends AbortOptions {
  /** budget for finding a trusted path info (ms); the download itself is not bounded */
  budgetMs?: number
}

export class Swarm extends TypedEventEmitter<SwarmEvents> {
  readonly host: Host
  readonly castore: Castore
  readonly scores: PeerScores
  readonly downloader: Downloader
  readonly announcer: Announcer
  readonly partials: PartialBlobStore
  /** ERIS blocks of held paths, from local data */
  readonly eris: ErisPathIndex
  /** per-peer limits of the served protocols (undefined: unlimited) */
  readonly limits: PeerLimits | undefined
  /** who was sent which blob ranges, for referrals (undefined: always serve) */
  readonly referrals: Referrals | undefined
  /** which peers are near (LAN, same site) */
  readonly locality: Locality
  private readonly init: SwarmInit
  private trustedKeys: PublicKey[]
  private started = false
  private readonly inflight = new Map<string, Promise<PathInfo | undefined>>()

  constructor (components: SwarmComponents, init: SwarmInit = {}) {
    super()
    this.host = components.host
    this.castore = components.castore
    this.partials = components.partials
    this.init = init
    this.trustedKeys = [...(init.trustedKeys ?? [])]
    this.scores = new PeerScores()
    this.limits = init.limits === false ? undefined : init.limits instanceof PeerLimits ? init.limits : new PeerLimits(init.limits)
    this.eris = new ErisPathIndex(this.castore)
    this.locality = new Locality({ connections: () => this.host.getConnections(), connectionsTo: (peer) => this.host.getConnections(this.peerIdOf(peer)) })
    const locality = this.locality
    this.referrals = init.referrals === false
      ? undefined
      : new Referrals({
        isConnected: (peer) => locality.isConnected(peer),
        random: init.random,
        siteOf: (peer) => locality.siteOf(peer),
        isLocal: (peer) => locality.isLocal(peer)
      }, { copies: REFERRAL_COPIES, ...init.referrals })
    this.downloader = new Downloader({
      blobs: this.castore.blobs,
      directories: this.castore.directories,
      partials: this.partials,
      scores: this.scores,
      openStream: async (peer, protocol, options) => await this.host.dialProtocol(this.peerIdOf(peer), protocol, { signal: options?.signal }),
      isLocal: (peer) => locality.isLocal(peer),
      hasLocalPeers: () => locality.hasLocalPeers(),
      localPeers: () => locality.localPeers(),
      self: this.host.peerId.toString()
    }, { ...(init.random !== undefined ? { random: init.random } : {}), ...init.downloader })
    this.downloader.addEventListener('verified', (e) => { this.wakeServable(e.detail.digest) })
    this.downloader.addEventListener('blob:complete', (e) => { this.wakeServable(e.detail.digest) })
    this.announcer = new Announcer({
      pathInfos: this.castore.pathInfos,
      provide: async (key, options) => { await this.host.contentRouting.provide(key, options) },
      events: this.host
    }, init.announcer)
  }

  private readonly peerIds = new Map<string, PeerId>()
  /** requests waiting for ranges of a blob this node is receiving (digest hex → wake-ups) */
  private readonly servableWaiters = new Map<string, Set<() => void>>()

  /** Wakes the requests waiting for blob `hex` (new verified data, or the blob is complete). */
  private wakeServable (hex: string): void {
    const set = this.servableWaiters.get(hex)
    if (set === undefined) return
    for (const wake of [...set]) wake()
  }

  /** Whether `ranges` of blob `digest` can be served now (held whole, or verified in the partial blob). */
  private async servableNow (digest: Uint8Array, ranges: ChunkRanges): Promise<boolean> {
    const p = this.partials.servable(digest)
    if (p !== undefined) {
      const wanted = ranges.truncate(p.size)
      if (!wanted.isEmpty() && p.verified.isSuperset(wanted)) return true
    }
    return await this.castore.blobs.has(digest)
  }

  /**
   * For the fetch server: while this node is receiving `ranges` of `digest`, waits (at most
   * SERVE_WAIT_MS) until they can be served. A requester asking a peer that is about to hold a
   * piece is then served as soon as it does, instead of being told "not held" and asking again
   * after a back-off.
   */
  private async awaitServable (digest: Uint8Array, ranges: ChunkRanges): Promise<boolean> {
    const hex = toHex(digest)
    if (!this.downloader.isReceiving(hex, ranges)) return false
    const until = performance.now() + SERVE_WAIT_MS
    while (true) {
      if (await this.servableNow(digest, ranges)) return true
      const left = until - performance.now()
      if (left <= 0 || !this.started || !this.downloader.isFetching(hex)) return false
      await new Promise<void>(resolve => {
        let set = this.servableWaiters.get(hex)
        if (set === undefined) {
          set = new Set()
          this.servableWaiters.set(hex, set)
        }
        const waiters = set
        const done = (): void => {
          clearTimeout(timer)
          waiters.delete(done)
          if (waiters.size === 0 && this.servableWaiters.get(hex) === waiters) this.servableWaiters.delete(hex)
          resolve()
        }
        const timer = setTimeout(done, Math.min(left, SERVE_WAIT_POLL_MS))
        waiters.add(done)
      })
    }
  }

  /** The PeerId of a peer id string (parsed once: every request names its peer by string). */
  private peerIdOf (peer: string): PeerId {
    let id = this.peerIds.get(peer)
    if (id === undefined) {
      id = peerIdFromString(peer)
      if (this.peerIds.size >= 4096) this.peerIds.delete(this.peerIds.keys().next().value as string)
      this.peerIds.set(peer, id)
    }
    return id
  }

  /** PathInfos as peers see them: a peer asking for a path is about to fetch it (GC's LRU order) */
  private get servedPathInfos (): Castore['pathInfos'] {
    const castore = this.castore
    const view = Object.create(castore.pathInfos) as Castore['pathInfos']
    view.get = async (hashPart, options) => {
      const info = await castore.pathInfos.get(hashPart, options)
      if (info !== undefined) castore.touch?.(hashPart)
      return info
    }
    return view
  }

  get peerId (): string {
    return this.host.peerId.toString()
  }

  setTrustedKeys (keys: PublicKey[]): void {
    this.trustedKeys = [...keys]
  }

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    if (this.started) return
    const components = { blobs: this.castore.blobs, directories: this.castore.directories, partials: this.partials }
    // every served stream first passes the peer's limits: over them, it is reset unread
    const limited = (serve: (stream: Stream, peer: string, ticket: PeerTicket | undefined) => Promise<void>) => async (stream: Stream, connection: Connection): Promise<void> => {
      const peer = connection.remotePeer.toString()
      let ticket: PeerTicket | undefined
      try {
        ticket = this.limits?.admit(peer)
      } catch (err: any) {
        stream.abort(err)
        return
      }
      try { await serve(stream, peer, ticket) } finally { ticket?.release() }
    }
    // one init object for every stream: it also keys the server's outboard cache
    const fetchInit: FetchServerInit = {
      referrals: this.referrals,
      fetching: (hex) => this.downloader.isFetching(hex),
      awaitServable: async (digest, ranges) => await this.awaitServable(digest, ranges),
      ...this.init.fetchServer
    }
    await this.host.handle(FETCH_PROTOCOL, limited(async (stream, peer, ticket) => { await serveFetch(stream, components, fetchInit, peer, ticket?.bytes) }), { maxInboundStreams: 256, maxOutboundStreams: 256 })
    await this.host.handle(PATH_INFO_PROTOCOL, limited(async (stream) => { await servePathInfo(stream, { pathInfos: this.servedPathInfos }) }), { maxInboundStreams: 64, maxOutboundStreams: 64 })
    if (this.init.serveEris ?? true) {
      await this.host.handle(ERIS_BLOCK_PROTOCOL, limited(async (stream, _peer, ticket) => {
        await serveErisBlocks(stream, { getBlock: async (ref, options) => await this.eris.getBlock(ref, options) }, this.init.erisBlockServer, ticket?.bytes)
      }), { maxInboundStreams: ERIS_BLOCK_MAX_STREAMS, maxOutboundStreams: ERIS_BLOCK_MAX_STREAMS })
    }
    await this.announcer.start()
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.announcer.stop()
    await this.host.unhandle(FETCH_PROTOCOL).catch(() => {})
    await this.host.unhandle(PATH_INFO_PROTOCOL).catch(() => {})
    if (this.init.serveEris ?? true) await this.host.unhandle(ERIS_BLOCK_PROTOCOL).catch(() => {})
  }

  /** Announces held store paths (full paths or hash parts); resolves when provided. */
  async announce (paths: string[], options: AbortOptions = {}): Promise<PathInfo[]> {
    const infos: PathInfo[] = []
    for (const p of paths) {
      const info = await this.castore.getPathInfo(p, options)
      if (info === undefined) throw new NotHeldError(`${p} is not valid in this store`)
      infos.push(info)
    }
    await Promise.all(infos.map(async info => { await this.announcer.announce(info) }))
    return infos
  }

  /** Providers of a DHT key (peer id strings, never ourselves), as they are found. */
  async * findProviders (key: CID, options: AbortOptions = {}): AsyncGenerator<string> {
    const self = this.peerId
    const seen = new Set<string>()
    try {
      for await (const prov of this.host.contentRouting.findProviders(key, { signal: options.signal })) {
        const id = prov.id.toString()
        if (id === self || seen.has(id)) continue
        seen.add(id)
        if (prov.multiaddrs.length > 0) {
          await this.host.peerStore.merge(prov.id, { multiaddrs: prov.multiaddrs }).catch(() => {})
        }
        yield id
        if (seen.size >= MAX_PROVIDERS) return
      }
    } catch (err: any) {
      if (options.signal?.aborted === true) return
      if (err?.name === 'NotFoundError' || err?.name === 'NoPeersError') return
      throw err
    }
  }

  /** Providers of ERIS content (its `urn:eris:…` root reference, DHT `erisKey`), as they are found. */
  async * findErisProviders (urn: string, options: AbortOptions = {}): AsyncGenerator<string> {
    yield * this.findProviders(erisKey(urn), options)
  }

  /**
   * An ERIS block store over the peers providing `urn` (found through the DHT, plus connected
   * peers unless `askConnected` is false): `decodeEris(urn, store.get)` fetches the content block
   * by block, verified. A peer sending a wrong block is banned and fires `eris:bad-block`.
   */
  erisBlockStore (urn: string, init: Omit<PeerErisBlockStoreInit, 'urn'> = {}): PeerErisBlockStore {
    return new PeerErisBlockStore({
      openStream: async (peer, protocol, options) => await this.host.dialProtocol(this.peerIdOf(peer), protocol, { signal: options?.signal }),
      findProviders: (u, options) => this.findErisProviders(u, options),
      connectedPeers: () => this.init.askConnected === 'local' ? this.connectedPeers().filter(p => this.locality.isLocal(p)) : this.connectedPeers(),
      scores: this.scores
    }, {
      askConnected: (this.init.askConnected ?? true) !== false,
      ...init,
      urn,
      onBadBlock: (e) => {
        this.safeDispatchEvent('eris:bad-block', { detail: { peer: e.peer, reference: e.reference, reason: e.error.message } })
        init.onBadBlock?.(e)
      }
    })
  }

  /** Resolves once the node has at least one connection (bootstrap / mDNS may still be dialling), or the signal ends. */
  async waitForPeers (signal: AbortSignal): Promise<void> {
    if (this.host.getConnections().length > 0 || signal.aborted) return
    await new Promise<void>(resolve => {
      const done = (): void => {
        this.host.removeEventListener('peer:identify', done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.host.addEventListener('peer:identify', done)
      signal.addEventListener('abort', done)
    })
  }

  private connectedPeers (): string[] {
    return this.host.getConnections().map(c => c.remotePeer.toString()).filter((p, i, a) => a.indexOf(p) === i)
  }

  /**
   * Finds a trusted path info for `hashPart` among providers (DHT) and connected peers within
   * `budgetMs`. Returns the info and every peer known to hold the path, or undefined.
   */
  async lookupPath (hashPart: string, options: FetchPathOptions = {}): Promise<{ info: PathInfo, peers: string[], source: string } | undefined> {
    const budget = AbortSignal.timeout(options.budgetMs ?? this.init.substituteBudgetMs ?? SUBSTITUTE_BUDGET_MS)
    const lookup = new AbortController()
    const signal = AbortSignal.any([budget, lookup.signal, ...(options.signal !== undefined ? [options.signal] : [])])
    const holders = new Set<string>()
    const asked = new Set<string>()
    let found: { info: PathInfo, peer: string } | undefined
    const pending: Array<Promise<void>> = []
    let wake: () => void = () => {}
    const foundP = new Promise<void>(resolve => { wake = resolve })
    const ask = (peer: string): void => {
      if (asked.has(peer) || this.scores.isBanned(peer)) return
      asked.add(peer)
      pending.push((async () => {
        try {
          const stream = await this.host.dialProtocol(this.peerIdOf(peer), PATH_INFO_PROTOCOL, { signal })
          const { info } = await requestPathInfo(stream, hashPart, { signal, trustedKeys: this.trustedKeys })
          holders.add(peer)
          if (found === undefined) {
            found = { info, peer }
            wake()
          }
        } catch (err: any) {
          if (err instanceof UntrustedPathInfoError || err instanceof PeerMisbehavedError) {
            if (err instanceof PeerMisbehavedError) this.scores.ban(peer, err.message)
            this.safeDispatchEvent('path-info:rejected', { detail: { peer, hashPart, reason: `${err.name}: ${err.message}` } })
          }
        }
      })())
    }
    await this.waitForPeers(signal)
    const askConnected = this.init.askConnected ?? true
    if (askConnected !== false) for (const p of this.connectedPeers()) if (askConnected === true || this.locality.isLocal(p)) ask(p)
    const dht = (async () => {
      for await (const peer of this.findProviders(storePathKey(hashPart), { signal })) {
        holders.add(peer)
        ask(peer)
      }
    })().catch(() => {})
    // wait until a trusted answer arrives, or the DHT walk and every question are done, or the budget ends
    const all = (async () => {
      await dht
      let n = 0
      while (n < pending.length) { n = pending.length; await Promise.allSettled(pending) }
    })()
    await Promise.race([
      foundP,
      all,
      new Promise<void>(resolve => { if (signal.aborted) resolve(); else signal.addEventListener('abort', () => { resolve() }, { once: true }) })
    ])
    if (found === undefined) {
      lookup.abort()
      return undefined
    }
    // give the DHT walk the rest of the budget to name more providers (multi-peer download)
    await Promise.race([dht, new Promise<void>(resolve => { if (signal.aborted) resolve(); else signal.addEventListener('abort', () => { resolve() }, { once: true }) })])
    lookup.abort()
    holders.add(found.peer)
    return { info: found.info, peers: [...holders], source: found.peer }
  }

  /**
   * Fetches a store path (full path or hash part) from peers and makes it valid locally.
   * Returns the local PathInfo (immediately if already held); undefined if no peer has it.
   */
  async fetchStorePath (pathOrHashPart: string, options: FetchPathOptions = {}): Promise<PathInfo | undefined> {
    const hashPart = pathOrHashPart.startsWith('/') ? splitStorePath(pathOrHashPart).hashPart : pathOrHashPart
    const local = await this.castore.getPathInfo(hashPart, options)
    if (local !== undefined) return local
    let p = this.inflight.get(hashPart)
    if (p === undefined) {
      p = this.doFetchStorePath(hashPart, options)
      this.inflight.set(hashPart, p)
      p.finally(() => this.inflight.delete(hashPart)).catch(() => {})
    }
    return await p
  }

  private async doFetchStorePath (hashPart: string, options: FetchPathOptions): Promise<PathInfo | undefined> {
    const t0 = performance.now()
    const found = await this.lookupPath(hashPart, options)
    if (found === undefined) return undefined
    const { info, peers, source } = found
    this.safeDispatchEvent('path:fetching', { detail: { storePath: info.storePath, narSize: info.narSize, peers } })
    await this.downloader.fetchTree(info.node, peers, options)
    try {
      // NarHash / NarSize over the bytes now in the store (throws NarHashMismatchError): the
      // castore root is not covered by the signature, so a lying peer is caught here
      for await (const piece of this.castore.renderVerified(info, options)) void piece
      await checkCaContent(info, this.castore)
    } catch (err: any) {
      this.scores.ban(source, `path info for ${info.storePath} does not match its content: ${err.message}`)
      throw err
    }
    await this.castore.blobs.sync?.()
    const local: PathInfo = { ...info, registrationTime: Date.now() }
    // an ERIS capability from a peer is covered by nothing: the node computes its own (backfill)
    delete local.eris
    await this.castore.pathInfos.put(local, options)
    this.safeDispatchEvent('path:fetched', { detail: { storePath: info.storePath, peers, ms: performance.now() - t0 } })
    void this.announcer.announce(local).catch(() => {})
    return local
  }

  /**
   * For the HTTP / daemon facades on a miss: finds `hashPart` among peers within the budget,
   * fetches and verifies it into the castore, and returns its PathInfo; undefined when no peer
   * has it (or on any failure: the facade answers 404 and may fall back upstream).
   */
  async substituteFromPeers (hashPart: string, options: FetchPathOptions = {}): Promise<PathInfo | undefined> {
    try {
      return await this.fetchStorePath(hashPart, options)
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      return undefined
    }
  }

  /**
   * Fetches a castore object (blob or directory tree) by BLAKE3 digest from its DHT providers.
   * A directory is tried first (closure request); otherwise the blob's size is proven with a
   * last-chunk request before the swarm download.
   */
  async fetchDigest (digest: Uint8Array, options: FetchPathOptions = {}): Promise<{ kind: 'blob' | 'directory', size?: number }> {
    if (await this.castore.directories.has(digest, options)) return { kind: 'directory' }
    const held = await this.castore.blobs.stat(digest, options)
    if (held !== undefined) return { kind: 'blob', size: held.size }
    const budget = AbortSignal.any([AbortSignal.timeout(options.budgetMs ?? 10_000), ...(options.signal !== undefined ? [options.signal] : [])])
    const peers: string[] = []
    await this.waitForPeers(budget)
    for await (const p of this.findProviders(digestKey(digest), { signal: budget })) peers.push(p)
    for (const p of this.connectedPeers()) if (!peers.includes(p)) peers.push(p)
    if (peers.length === 0) throw new NoProvidersError(`no provider of ${toHex(digest)} found`)
    try {
      await this.downloader.fetchTree({ type: 'directory', digest, size: 0 }, peers, options)
      return { kind: 'directory' }
    } catch (err) {
      if (!(err instanceof NoProvidersError)) throw err
    }
    for (const peer of this.scores.rank(peers)) {
      try {
        const stream = await this.host.dialProtocol(this.peerIdOf(peer), FETCH_PROTOCOL, { signal: options.signal })
        const { size } = await fetchBlobOnStream(stream, digest, { signal: options.signal, ranges: ChunkRanges.lastChunk(), onData: () => {} })
        await this.downloader.fetchBlob(digest, peers, { ...options, size })
        return { kind: 'blob', size }
      } catch (err: any) {
        if (options.signal?.aborted === true) throw err
        if (err instanceof PeerMisbehavedError) this.scores.ban(peer, err.message)
      }
    }
    throw new NoProvidersError(`no peer delivered ${toHex(digest)}`)
  }

  /** Whether `peer` is on the local network (locality.ts). */
  isLocalPeer (peer: string): boolean {
    return this.locality.isLocal(peer)
  }

  /** Peers currently connected, with their addresses. */
  peers (): Array<{ id: string, addrs: string[] }> {
    const out = new Map<string, string[]>()
    for (const c of this.host.getConnections()) {
      const id = c.remotePeer.toString()
      out.set(id, [...(out.get(id) ?? []), c.remoteAddr.toString()])
    }
    return [...out].map(([id, addrs]) => ({ id, addrs }))
  }
}

export function createSwarm (components: SwarmComponents, init?: SwarmInit): Swarm {
  return new Swarm(components, init)
}

export type { PeerId }
