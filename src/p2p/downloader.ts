/**
 * Swarm downloader: fetches a castore tree (or one blob) from several peers at once.
 *
 * - Directories first: one closure request, every directory verified by digest and linked to
 *   the root (fetch-protocol.ts), stored leaves first only after the blobs are in.
 * - Blobs already held are skipped (dedup across paths and across Nix and Guix).
 * - Blobs, and the pieces of large blobs, are fetched in random order: peers fetching the same
 *   closure at the same time then hold different parts early and can serve each other (the
 *   fetch server serves verified ranges of blobs still being downloaded).
 * - Every request may be answered with a referral (referrals.ts): the peer has sent those
 *   ranges to enough peers already and names them. The downloader asks the referred peers,
 *   nearest first (measured round-trip time), following up to `maxHops` referrals. When the
 *   referred peers do not hold the ranges yet (still receiving them), the blob or piece is put
 *   back and asked for again a little later (at most `maxDefers` times); when none of them can
 *   serve, the downloader insists on the last peer that referred it, which then serves.
 * - A site (several nodes on one LAN) fetches each blob or piece across its WAN link about once:
 *   when the providers are not on the LAN, every blob or piece has a gateway among the LAN
 *   peers and this node (rendezvous hashing of its key). The gateway fetches it first and
 *   from afar; the others ask the gateway (FLAG_WAIT) and wait while it is fetching it, for at
 *   most GATEWAY_PATIENCE turns, then fetch it from afar themselves.
 * - Small blobs (≤ SMALL_BLOB) go in one request. Large blobs are split into fixed
 *   group-aligned pieces fetched by several slots at once; when no piece is left, an idle slot
 *   asks another peer for a piece still in flight (end game): the first verified copy wins and
 *   the other is cancelled.
 * - Per-request idle timeout. A peer that sends one bad group (or a wrong size) is banned;
 *   timeouts and broken streams cost penalty points that fade (peer-scores.ts).
 * - Verified bytes and the parent hashes that prove them go to a PartialBlob
 *   (castore/partial-blob.ts) whose verified ranges are recorded durably, so an interrupted
 *   download — peer gone, node restarted — resumes from its verified ranges; the complete blob
 *   is moved into the BlobStore (re-hashed there).
 */
import type { Stream } from '@libp2p/interface'
import { TypedEventEmitter } from '@libp2p/interface'
import type { AbortOptions } from '../abort.ts'
import { ChunkRanges, chunkCount } from '../blake3/index.ts'
import type { DecodedData } from '../blake3/index.ts'
import type { BlobStore } from '../castore/blob-store.ts'
import type { DirectoryStore } from '../castore/directory-store.ts'
import { directoryEntries } from '../castore/directory.ts'
import type { CastoreNode, Directory } from '../castore/directory.ts'
import { toHex } from '../castore/digest.ts'
import type { PartialBlobStore } from '../castore/partial-blob.ts'
import { BLOB_CONCURRENCY, DEFER_MS, FETCH_PROTOCOL, IDLE_TIMEOUT_MS, MAX_REFERRAL_HOPS, PIECE_GROUPS, SMALL_BLOB } from './constants.ts'
import { NoProvidersError, NotHeldError, PeerMisbehavedError, ReferredError } from './errors.ts'
import { fetchBlobOnStream, fetchDirectoriesOnStream } from './fetch-protocol.ts'
import { shuffle } from './shuffle.ts'
import type { PeerScores } from './peer-scores.ts'

/** Opens a stream to `peer` (a peer id string) on `protocol`. */
export type OpenStream = (peer: string, protocol: string, options?: AbortOptions) => Promise<Stream>

export interface DownloaderComponents {
  blobs: BlobStore
  directories: DirectoryStore
  partials: PartialBlobStore
  scores: PeerScores
  openStream: OpenStream
  /** whether a peer is on the local network (preferred: a LAN peer is asked before a WAN one) */
  isLocal?: (peer: string) => boolean
  /** whether this node has swarm peers on its local network at all */
  hasLocalPeers?: () => boolean
  /** the connected peers on the local network (candidates for a blob's gateway) */
  localPeers?: () => string[]
  /** this node's peer id (it may be a blob's gateway itself) */
  self?: string
}

export interface DownloaderInit {
  /** groups per piece (default 64 = 1 MiB) */
  pieceGroups?: number
  /** concurrent piece requests per peer known to hold a large blob (default 2; 4 to 16 slots per blob) */
  requestsPerPeer?: number
  /** idle timeout per request (default 10 s) */
  idleTimeoutMs?: number
  /** blobs fetched at once (default 8) */
  blobConcurrency?: number
  /** blobs up to this size are fetched whole into memory (default 1 MiB) */
  smallBlob?: number
  /** record verified ranges durably at least every this many bytes (default 16 MiB) */
  flushBytes?: number
  /** ask with referrable requests and follow referrals (default true) */
  referrals?: boolean
  /** referrals followed for one blob or piece before insisting (default MAX_REFERRAL_HOPS) */
  maxHops?: number
  /** first wait before asking again for a blob or piece whose referred peers are still receiving it; doubles each time (default DEFER_MS) */
  deferMs?: number
  /** times a blob or piece is put back before the downloader insists (default 12: about 36 s of waiting) */
  maxDefers?: number
  /** randomness for the fetch order and ties between peers (default Math.random) */
  random?: () => number
  /**
   * blob requests in flight at once across all downloads (default 32). Bounded, so that a node
   * does not ask for a whole closure at once: the first copies of each piece then go to
   * different peers, not always to the nearest ones. Referral answers take slots too, and from
   * busy peers they wait behind the data those peers send: in the 50-node flash-crowd
   * simulation half of the slots' time went to them; 32 slots rather than 16 finished 4 %
   * sooner (332 s rather than 347 s).
   */
  maxRequests?: number
}

export interface DownloadEvents {
  /** verified blob bytes received from a peer */
  'verified': CustomEvent<{ peer: string, digest: string, offset: number, bytes: number }>
  'blob:complete': CustomEvent<{ digest: string, size: number }>
  'peer:dropped': CustomEvent<{ peer: string, digest: string, reason: string }>
}

/** Times a blob or piece is put back, rather than fetched from a remote peer, while LAN peers may bring it soon. */
const LOCAL_PATIENCE = 2

/**
 * Turns a blob or piece waits for its LAN gateway while the gateway says it is fetching it
 * (about 3 minutes with the wait capped at GATEWAY_WAIT_MS), before fetching it from afar.
 */
const GATEWAY_PATIENCE = 48
const GATEWAY_WAIT_MS = 4000
/**
 * Turns a blob or piece waits for a gateway that neither holds nor fetches it yet (about 12 s:
 * the site's nodes go through a closure in about the same order, not in step), unless that peer
 * answered so GATEWAY_MISSES times running: it is not fetching what we fetch.
 */
const GATEWAY_NOT_HELD_TURNS = 6
const GATEWAY_MISSES = 32

/** Most blobs or pieces whose referred peers are remembered for the next attempt. */
const MAX_HINTS = 65_536

/** Largest contiguous run of verified data written at once. */
const WRITE_RUN = 1024 * 1024

export interface FetchBlobOptions extends AbortOptions {
  /** the blob's size (from a verified directory entry or path info) */
  size: number
}

/** What one request to one peer came to: the wanted ranges are in, or the peers it was referred to. */
type Attempt = 'ok' | string[]

/** One request for a blob (or a piece of it) to `peer`; throws when the peer failed. `wait`: FLAG_WAIT. */
type AttemptFn = (peer: string, insist: boolean, signal: AbortSignal | undefined, wait?: boolean) => Promise<Attempt>

/**
 * How chasing a blob or piece ended: in; put back because the referred peers are still
 * receiving it; or put back because its LAN gateway is fetching it.
 */
type Outcome = 'ok' | 'deferred' | 'waiting'

interface ObtainOptions {
  signal?: AbortSignal
  /** peers not to ask (already fetching this piece) */
  exclude?: Iterable<string>
  /** may end 'deferred' instead of insisting */
  allowDefer: boolean
  /** rather put back than fetch across the WAN while peers on the local network may get it soon */
  patient?: boolean
  /** never insist (an end-game duplicate) */
  noInsist?: boolean
  /** only peers on the LAN (an end-game duplicate of a site's node: never a second copy across the WAN) */
  localOnly?: boolean
  /**
   * turns already waited for the LAN gateway of `key`, when it is to be asked before a peer afar
   * (undefined: never); ends 'waiting' while the gateway fetches it
   */
  gatewayTurns?: number
  what: string
  /** key of the blob or piece: the peers last referred to for it are asked first next time */
  key: string
  /** its size (for `afarBytes`) */
  bytes?: number
}

interface Piece extends PutBack {
  start: number
  end: number
  /** requests running for this piece, by the peer asked */
  active: Map<AbortController, string>
  /** slots chasing this piece (one, or two in the end game) */
  claims: number
  done: boolean
  failures: number
  /** an end-game duplicate was tried (once per piece) */
  duplicated: boolean
}

interface QueuedBlob extends PutBack {
  digest: Uint8Array
  size: number
}

/** What is counted for a blob or piece that gets put back. */
interface PutBack {
  /** turns put back because referred peers were still receiving it */
  defers: number
  /** turns waited for the LAN gateway */
  waits: number
  /** not to be asked for again before (performance.now()) */
  notBefore: number
}

/**
 * Puts `item` back after `outcome` ('deferred' or 'waiting'): counts the turn and sets when to
 * ask again — doubling from `deferMs`, gateway waits capped at GATEWAY_WAIT_MS.
 */
function putBack (item: PutBack, outcome: Outcome, deferMs: number): void {
  const waiting = outcome === 'waiting'
  const ms = deferMs * 2 ** Math.min(4, waiting ? item.waits : item.defers)
  item.notBefore = performance.now() + (waiting ? Math.min(ms, GATEWAY_WAIT_MS) : ms)
  if (waiting) item.waits++
  else item.defers++
}

/** FNV-1a of `key` and `peer`: the rendezvous-hashing weight of a peer for a key. */
function rendezvous (key: string, peer: string): number {
  let h = 0x811c9dc5
  for (const s of [key, '\0', peer]) {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i)
      h = Math.imul(h, 0x01000193) >>> 0
    }
  }
  return h
}

/**
 * A signal of its own following `signal`: listeners go on it, not on a long-lived caller's signal
 * (thousands of requests adding and removing listeners on one signal made removal quadratic).
 */
function follow (signal: AbortSignal | undefined): AbortSignal | undefined {
  return signal === undefined ? undefined : AbortSignal.any([signal])
}

/** Resolves after `ms` (or at once when the signal ends). */
async function sleep (ms: number, parent?: AbortSignal): Promise<void> {
  if (ms <= 0 || parent?.aborted === true) return
  const signal = follow(parent)
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

export class Downloader extends TypedEventEmitter<DownloadEvents> {
  private readonly components: DownloaderComponents
  private readonly pieceGroups: number
  private readonly requestsPerPeer: number
  private readonly idleTimeoutMs: number
  private readonly blobConcurrency: number
  private readonly smallBlob: number
  private readonly flushBytes: number
  private readonly referrals: boolean
  private readonly maxHops: number
  private readonly deferMs: number
  private readonly maxDefers: number
  private readonly random: () => number
  private readonly maxRequests: number
  private inRequests = 0
  private readonly requestWaiters: Array<() => void> = []
  private readonly active = new Map<string, number>()
  /** blob or piece key → peers referred to that did not hold it yet (asked first next time) */
  private readonly hints = new Map<string, string[]>()
  private readonly running = new Map<string, Promise<Outcome>>()
  /** blobs fetched whole whose data is arriving (digest hex → responses) */
  private readonly wholeInFlight = new Map<string, number>()
  /** the pieces of the large blobs being fetched (digest hex → pieces) */
  private readonly pieces = new Map<string, Piece[]>()
  /** blobs being fetched (digest hex → fetches wanting it): a LAN peer waiting for them is told "later" */
  private readonly fetching = new Map<string, number>()
  /** LAN peers' "not held" answers to gateway requests in a row */
  private readonly gatewayMisses = new Map<string, number>()
  /** counters (observability, simulations) */
  readonly stats = { requests: 0, referrals: 0, notHeld: 0, deferred: 0, insisted: 0, failed: 0, gatewayWaits: 0, okMs: 0, referralMs: 0, errorMs: 0 }
  /**
   * Bytes of blobs and pieces delivered by peers not on the LAN while this node has LAN peers
   * (what a site pulls across its WAN link), by why they were asked (observability, simulations).
   */
  readonly afarBytes: Record<string, number> = {}

  constructor (components: DownloaderComponents, init: DownloaderInit = {}) {
    super()
    this.components = components
    this.pieceGroups = init.pieceGroups ?? PIECE_GROUPS
    this.requestsPerPeer = init.requestsPerPeer ?? 2
    this.idleTimeoutMs = init.idleTimeoutMs ?? IDLE_TIMEOUT_MS
    this.blobConcurrency = init.blobConcurrency ?? BLOB_CONCURRENCY
    this.smallBlob = init.smallBlob ?? SMALL_BLOB
    this.flushBytes = init.flushBytes ?? 16 * 1024 * 1024
    this.referrals = init.referrals ?? true
    this.maxHops = init.maxHops ?? MAX_REFERRAL_HOPS
    this.deferMs = init.deferMs ?? DEFER_MS
    this.maxDefers = init.maxDefers ?? 12
    this.random = init.random ?? Math.random
    this.maxRequests = init.maxRequests ?? 32
  }

  /** Waits for one of `maxRequests` request slots; returns its release. */
  private async requestSlot (signal?: AbortSignal): Promise<() => void> {
    while (this.inRequests >= this.maxRequests) {
      signal?.throwIfAborted()
      await new Promise<void>(resolve => { this.requestWaiters.push(resolve) })
    }
    this.inRequests++
    let released = false
    return () => {
      if (released) return
      released = true
      this.inRequests--
      this.requestWaiters.shift()?.()
    }
  }

  /**
   * Makes the whole castore tree of `node` present locally: directories (verified closure) and
   * every missing blob. Throws `NoProvidersError` when some object could not be fetched from
   * any of `peers` (what was verified stays, for a resume).
   */
  async fetchTree (node: CastoreNode, peers: string[], options: AbortOptions = {}): Promise<void> {
    if (node.type === 'symlink') return
    if (node.type === 'file') {
      await this.fetchBlob(node.digest, peers, { ...options, size: node.size })
      return
    }
    let dirs: Directory[] = []
    if (!(await this.components.directories.has(node.digest, options))) {
      dirs = await this.fetchDirectories(node.digest, peers, options)
    } else {
      for await (const { directory } of this.components.directories.getRecursive(node.digest, options)) dirs.push(directory)
    }
    const files = new Map<string, { digest: Uint8Array, size: number }>()
    for (const dir of dirs) {
      for (const { node: child } of directoryEntries(dir)) {
        if (child.type === 'file') files.set(toHex(child.digest), { digest: child.digest, size: child.size })
      }
    }
    const queue: QueuedBlob[] = []
    for (const f of files.values()) {
      if (!(await this.components.blobs.has(f.digest, options))) queue.push({ ...f, defers: 0, waits: 0, notBefore: 0 })
    }
    // random order: peers fetching the same tree at the same time hold different blobs early
    this.shuffle(queue)
    // fetching from afar with LAN peers: first what this node is the site's gateway for
    const site = this.fetchesFromAfar(peers)
    if (site) this.gatewayFirst(queue, q => toHex(q.digest))
    const wanted = queue.map(q => toHex(q.digest))
    let failure: unknown
    this.want(wanted, 1)
    try {
      let inFlight = 0
      const worker = async (): Promise<void> => {
        while (failure === undefined && (queue.length > 0 || inFlight > 0)) {
          options.signal?.throwIfAborted()
          const now = performance.now()
          const i = queue.findIndex(q => q.notBefore <= now)
          if (i < 0) {
            // everything left is put back for a while, or in other workers' hands
            const due = queue.length > 0 ? Math.min(...queue.map(q => q.notBefore)) - now : this.deferMs
            await sleep(Math.max(1, Math.min(due, this.deferMs)), options.signal)
            continue
          }
          const item = queue.splice(i, 1)[0]
          inFlight++
          try {
            const outcome = await this.fetchBlobOnce(item.digest, peers, { ...options, size: item.size, allowDefer: item.defers < this.maxDefers, patient: item.defers < LOCAL_PATIENCE, gatewayTurns: site ? item.waits : undefined })
            if (outcome !== 'ok') {
              putBack(item, outcome, this.deferMs)
              queue.push(item)
            }
          } catch (err) {
            failure ??= err
          } finally {
            inFlight--
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(this.blobConcurrency, queue.length) }, worker))
    } finally {
      this.want(wanted, -1)
    }
    if (failure !== undefined) throw failure
    // all blobs are in: directories can be committed (leaves first, as received)
    if (!(await this.components.directories.has(node.digest, options))) {
      await (this.components.blobs as BlobStore & { sync?: () => Promise<void> }).sync?.()
      await this.components.directories.put(dirs, options)
    }
  }

  /** Fetches the verified directory closure of `root` from the first peer that has it (not stored yet). */
  async fetchDirectories (root: Uint8Array, peers: string[], options: AbortOptions = {}): Promise<Directory[]> {
    const errors: string[] = []
    for (const peer of this.components.scores.rank(peers)) {
      options.signal?.throwIfAborted()
      try {
        const stream = await this.components.openStream(peer, FETCH_PROTOCOL, options)
        return await fetchDirectoriesOnStream(stream, root, {
          ...options,
          idleTimeoutMs: this.idleTimeoutMs,
          have: async d => await this.components.directories.has(d, options)
        })
      } catch (err: any) {
        options.signal?.throwIfAborted()
        this.judge(peer, toHex(root), err)
        errors.push(`${peer}: ${err.name}: ${err.message}`)
      }
    }
    throw new NoProvidersError(`no peer delivered directory ${toHex(root)}${errors.length > 0 ? ` (${errors.join('; ')})` : ''}`)
  }

  /** Fetches one blob into the BlobStore (no-op if held). Concurrent calls for one digest share the work. */
  async fetchBlob (digest: Uint8Array, peers: string[], options: FetchBlobOptions): Promise<void> {
    const hex = toHex(digest)
    const site = this.fetchesFromAfar(peers)
    this.want([hex], 1)
    try {
      const turns: PutBack = { defers: 0, waits: 0, notBefore: 0 }
      while (true) {
        const outcome = await this.fetchBlobOnce(digest, peers, { ...options, allowDefer: turns.defers < this.maxDefers, patient: turns.defers < LOCAL_PATIENCE, gatewayTurns: site ? turns.waits : undefined })
        if (outcome === 'ok') return
        putBack(turns, outcome, this.deferMs)
        await sleep(turns.notBefore - performance.now(), options.signal)
        options.signal?.throwIfAborted()
      }
    } finally {
      this.want([hex], -1)
    }
  }

  /**
   * Whether this node is receiving `ranges` of blob `hex` now: a request for a piece of it is
   * running (or, for a blob fetched whole, a request for the blob).
   */
  isReceiving (hex: string, ranges: ChunkRanges): boolean {
    const pieces = this.pieces.get(hex)
    if (pieces === undefined) return (this.wholeInFlight.get(hex) ?? 0) > 0
    for (const p of pieces) if (!p.done && p.active.size > 0 && ranges.intersects(p.start, p.end)) return true
    return false
  }

  /** Whether this node is fetching blob `hex` (for FLAG_WAIT requests: "later"). */
  isFetching (hex: string): boolean {
    return this.fetching.has(hex)
  }

  private want (hexes: string[], delta: number): void {
    for (const h of hexes) {
      const n = (this.fetching.get(h) ?? 0) + delta
      if (n > 0) this.fetching.set(h, n)
      else this.fetching.delete(h)
    }
  }

  /**
   * Whether every one of `peers` is afar while this node has peers on its LAN: a site fetching
   * through its WAN link. (With a provider on the LAN the site is not fetching from afar: the
   * LAN provider is asked first and refers within the LAN.)
   */
  private fetchesFromAfar (peers: string[]): boolean {
    if (this.components.self === undefined || this.components.localPeers === undefined) return false
    if (this.components.hasLocalPeers?.() !== true) return false
    return peers.length > 0 && peers.every(p => !this.isLocal(p))
  }

  /**
   * The LAN gateway of `key`: of this node and its LAN peers, the one `key` hashes highest with
   * (rendezvous hashing, so the site's nodes agree without talking). Undefined without LAN peers.
   */
  private gatewayOf (key: string): string | undefined {
    const self = this.components.self
    const local = this.components.localPeers?.() ?? []
    if (self === undefined || local.length === 0) return undefined
    let best = self
    let bestScore = rendezvous(key, self)
    for (const p of local) {
      const score = rendezvous(key, p)
      if (score > bestScore || (score === bestScore && p > best)) {
        best = p
        bestScore = score
      }
    }
    return best
  }

  /** Moves the items this node is the gateway of to the front (stable: the random order stays within each part). */
  private gatewayFirst<T> (items: T[], keyOf: (item: T) => string): void {
    const self = this.components.self
    const mine: T[] = []
    const others: T[] = []
    for (const it of items) (this.gatewayOf(keyOf(it)) === self ? mine : others).push(it)
    items.splice(0, items.length, ...mine, ...others)
  }

  private async fetchBlobOnce (digest: Uint8Array, peers: string[], options: FetchBlobOptions & { allowDefer: boolean, patient?: boolean, gatewayTurns?: number }): Promise<Outcome> {
    const hex = toHex(digest)
    const running = this.running.get(hex)
    if (running !== undefined) return await running
    const p = (async (): Promise<Outcome> => {
      if (await this.components.blobs.has(digest, options)) return 'ok'
      if (options.size <= this.smallBlob) {
        const outcome = await this.obtain(hex, peers, this.smallAttempt(digest, hex, options.size), { signal: options.signal, allowDefer: options.allowDefer, patient: options.patient, gatewayTurns: options.gatewayTurns, what: 'blob', key: hex, bytes: options.size })
        if (outcome !== 'ok') return outcome
      } else {
        await this.fetchLarge(digest, hex, peers, options)
      }
      this.safeDispatchEvent('blob:complete', { detail: { digest: hex, size: options.size } })
      return 'ok'
    })()
    this.running.set(hex, p)
    try {
      return await p
    } finally {
      this.running.delete(hex)
    }
  }

  private judge (peer: string, digest: string, err: any): 'drop' | 'retry' | 'abort' {
    if (err?.name === 'AbortError' || err?.name === 'TimeoutError') {
      // our own cancellation (end game, caller) is not the peer's fault
      return 'abort'
    }
    if (err instanceof PeerMisbehavedError) {
      this.components.scores.ban(peer, err.message)
      this.safeDispatchEvent('peer:dropped', { detail: { peer, digest, reason: err.message } })
      return 'drop'
    }
    if (err instanceof NotHeldError) return 'drop'
    // a reset is what a peer at its per-peer limits does (limits.ts): back off, do not shun it
    this.components.scores.penalise(peer, err?.name === 'StreamResetError' ? 1 : 5, `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`)
    return 'retry'
  }

  private readonly isLocal = (peer: string): boolean => this.components.isLocal?.(peer) ?? false

  /** Remembers the peers referred to for `key` that were still receiving it: asked first next time. */
  private hint (key: string, receiving: string[]): void {
    if (this.hints.size >= MAX_HINTS) this.hints.delete(this.hints.keys().next().value as string)
    this.hints.set(key, receiving)
  }

  /** Counts a delivery from afar (see `afarBytes`): why, and in which mode (gateway, duplicate, no site). */
  private countAfar (peer: string, o: ObtainOptions, why: string): void {
    if (o.bytes === undefined || this.isLocal(peer) || this.components.hasLocalPeers?.() !== true) return
    const mode = o.gatewayTurns === undefined
      ? (o.noInsist === true ? 'duplicate' : 'no site')
      : this.gatewayOf(o.key) === this.components.self ? 'gateway' : `member (turn ${o.gatewayTurns >= GATEWAY_PATIENCE ? 'past patience' : o.gatewayTurns >= GATEWAY_NOT_HELD_TURNS ? 'past not-held' : 'early'})`
    const k = `${mode}: ${why}`
    this.afarBytes[k] = (this.afarBytes[k] ?? 0) + o.bytes
  }

  /**
   * The provider to ask first. On the local network: the least busy for its speed. Otherwise the
   * one `key` hashes to (rendezvous hashing): every node of a site then enters through the same
   * provider for a given blob or piece, which sends one copy into the site and refers the
   * site's other nodes to it (referrals.ts), while different blobs spread over the providers.
   */
  private pickPeer (peers: string[], tried: Set<string>, key: string = ''): string | undefined {
    let best: string | undefined
    let bestCost = Infinity
    let remote: string | undefined
    let remoteScore = -1
    // one pass, no sort: a pick is made per request, among up to hundreds of providers
    const scores = this.components.scores
    for (const p of peers) {
      if (tried.has(p) || scores.isBanned(p)) continue
      if (this.isLocal(p)) {
        const cost = ((this.active.get(p) ?? 0) + 1) / this.components.scores.speed(p)
        if (cost < bestCost) {
          best = p
          bestCost = cost
        }
      } else {
        const score = rendezvous(key, p)
        if (score > remoteScore) {
          remote = p
          remoteScore = score
        }
      }
    }
    return best ?? remote
  }

  private busy (peer: string, delta: number): void {
    this.active.set(peer, (this.active.get(peer) ?? 0) + delta)
  }

  private shuffle<T> (a: T[]): T[] {
    return shuffle(a, this.random)
  }

  /**
   * Gets a blob or piece through `attempt`: from the least busy fast provider, then from the
   * peers it refers to (nearest first, up to `maxHops` referrals deep), then from the other
   * providers. When nobody served without being insisted on: 'deferred' if some referred peer
   * did not hold it yet (it is still receiving it: ask again later), else insist on the peers
   * that referred, last first. Throws `NoProvidersError` when no peer delivered.
   */
  private async obtain (hex: string, peers: string[], attempt: AttemptFn, o: ObtainOptions): Promise<Outcome> {
    const tried = new Set<string>(o.exclude)
    const referrers: string[] = []
    // asked again after a deferral: straight to the peers referred to last time
    let referred: string[] = this.hints.get(o.key) ?? []
    this.hints.delete(o.key)
    let hinted = referred.length
    const receiving: string[] = []
    let hops = 0
    let stillReceiving = 0
    let gatewayAsked = false
    // a LAN peer is receiving it, or told us to come back later: rather wait for it than cross the WAN
    let localBusy = false
    const errors: string[] = []
    while (true) {
      o.signal?.throwIfAborted()
      let peer: string | undefined
      let viaReferral = false
      while (peer === undefined && referred.length > 0) {
        const p = referred.shift() as string
        if (!tried.has(p) && !this.components.scores.isBanned(p)) {
          peer = p
          viaReferral = true
        }
      }
      if (peer === undefined && hinted > 0) {
        // the hinted peers were all still receiving: wait for them rather than ask around again
        hinted = 0
        if (o.allowDefer && receiving.length > 0 && referrers.length === 0) {
          this.stats.deferred++
          this.hints.set(o.key, receiving)
          return 'deferred'
        }
      }
      if (peer !== undefined && viaReferral && o.patient === true && o.allowDefer && !this.isLocal(peer) && this.components.hasLocalPeers?.() === true) {
        // only remote holders so far, but this node has LAN peers in the swarm: one of them
        // will likely bring it across soon, so wait a little rather than cross the WAN again
        this.stats.deferred++
        return 'deferred'
      }
      peer ??= this.pickPeer(peers, tried, o.key)
      if (peer === undefined) break
      if (o.localOnly === true && !this.isLocal(peer)) break
      if (localBusy && !this.isLocal(peer)) {
        if (o.allowDefer) {
          this.stats.deferred++
          if (receiving.length > 0) this.hint(o.key, receiving)
          return 'deferred'
        }
        // waited long enough: insist on the LAN peers that referred (below), not a peer afar
        if (referrers.some(this.isLocal)) break
      }
      let askGateway = false
      if (o.gatewayTurns !== undefined && o.gatewayTurns < GATEWAY_PATIENCE && !gatewayAsked && !this.isLocal(peer)) {
        // about to cross the WAN: the site's gateway for this key first (unless it is us)
        gatewayAsked = true
        const gw = this.gatewayOf(o.key)
        if (gw !== undefined && gw !== this.components.self && !tried.has(gw) && !this.components.scores.isBanned(gw)) {
          if (viaReferral) referred.unshift(peer)
          peer = gw
          viaReferral = false
          askGateway = true
        }
      }
      tried.add(peer)
      const release = await this.requestSlot(o.signal)
      this.busy(peer, 1)
      this.stats.requests++
      const t0 = performance.now()
      try {
        const r = await attempt(peer, false, follow(o.signal), askGateway)
        if (r !== 'ok') this.stats.referralMs += performance.now() - t0
        else {
          this.stats.okMs += performance.now() - t0
          this.countAfar(peer, o, viaReferral ? 'referred' : gatewayAsked ? 'past gateway' : 'asked')
          return 'ok'
        }
        if (askGateway) this.gatewayMisses.delete(peer)
        if (askGateway && r.length === 0) {
          // the gateway is fetching it from afar: wait for its copy
          this.stats.gatewayWaits++
          return 'waiting'
        }
        this.stats.referrals++
        referrers.unshift(peer)
        // an empty referral: "come back later" (the peer serves others first)
        if (r.length === 0) {
          stillReceiving++
          if (this.isLocal(peer)) localBusy = true
        }
        referred = hops < this.maxHops ? this.components.scores.nearest(r.filter(p => !tried.has(p)), this.random, this.isLocal) : []
        hops++
      } catch (err: any) {
        this.stats.errorMs += performance.now() - t0
        o.signal?.throwIfAborted()
        this.judge(peer, hex, err)
        if (err instanceof NotHeldError) this.stats.notHeld++
        else this.stats.failed++
        if (viaReferral && err instanceof NotHeldError) {
          stillReceiving++
          receiving.push(peer)
          if (this.isLocal(peer)) localBusy = true
        }
        if (askGateway && err instanceof NotHeldError) {
          // the gateway has not come to it yet: wait a little, unless it never fetches what we do
          const misses = (this.gatewayMisses.get(peer) ?? 0) + 1
          this.gatewayMisses.set(peer, misses)
          if (this.gatewayMisses.size > 4096) this.gatewayMisses.delete(this.gatewayMisses.keys().next().value as string)
          if (misses < GATEWAY_MISSES && (o.gatewayTurns ?? Infinity) < GATEWAY_NOT_HELD_TURNS) {
            this.stats.gatewayWaits++
            return 'waiting'
          }
        }
        errors.push(`${peer}: ${err.name}: ${err.message}`)
      } finally {
        this.busy(peer, -1)
        release()
      }
    }
    if (referrers.length > 0 && o.noInsist !== true) {
      if (o.allowDefer && stillReceiving > 0) {
        this.stats.deferred++
        if (receiving.length > 0) this.hint(o.key, receiving)
        return 'deferred'
      }
      // insist on one of the peers that referred, at random (always the last one would make
      // the first holders the swarm's bottleneck); the first one asked — the provider every
      // node starts from, the seeder in a flash crowd — only when none of the others serves
      // (LAN peers before any peer afar)
      const first = referrers[referrers.length - 1]
      const order = [...this.shuffle(referrers.slice(0, -1)), first]
      for (const peer of [...order.filter(this.isLocal), ...order.filter(p => !this.isLocal(p))]) {
        if (this.components.scores.isBanned(peer)) continue
        o.signal?.throwIfAborted()
        const release = await this.requestSlot(o.signal)
        this.busy(peer, 1)
        this.stats.insisted++
        try {
          if (await attempt(peer, true, follow(o.signal)) === 'ok') {
            this.countAfar(peer, o, 'insisted')
            return 'ok'
          }
        } catch (err: any) {
          o.signal?.throwIfAborted()
          this.judge(peer, hex, err)
          errors.push(`${peer} (insisting): ${err.name}: ${err.message}`)
        } finally {
          this.busy(peer, -1)
          release()
        }
      }
    }
    if (o.noInsist === true && referrers.length > 0) return 'deferred'
    throw new NoProvidersError(`no peer delivered ${o.what} ${hex}${errors.length > 0 ? ` (${errors.join('; ')})` : ''}`)
  }

  /** One whole-blob request (small blobs: fetched into memory, then stored). */
  private smallAttempt (digest: Uint8Array, hex: string, size: number): AttemptFn {
    return async (peer, insist, signal, wait) => {
      const buf = new Uint8Array(size)
      const t0 = performance.now()
      const stream = await this.components.openStream(peer, FETCH_PROTOCOL, { signal })
      let arriving = false
      try {
        const result = await fetchBlobOnStream(stream, digest, {
          signal,
          size,
          idleTimeoutMs: this.idleTimeoutMs,
          ...(this.referrals ? { referrable: { insist, wait } } : {}),
          onSize: () => {
            this.components.scores.recordRtt(peer, performance.now() - t0)
            arriving = true
            this.wholeInFlight.set(hex, (this.wholeInFlight.get(hex) ?? 0) + 1)
          },
          onData: (item: DecodedData) => {
            buf.set(item.data, item.offset)
            this.safeDispatchEvent('verified', { detail: { peer, digest: hex, offset: item.offset, bytes: item.data.byteLength } })
          }
        })
        if (!result.verified.covers(0, chunkCount(size))) throw new PeerMisbehavedError('response did not cover the blob')
        this.components.scores.recordTransfer(peer, result.bytes, performance.now() - t0)
      } catch (err) {
        if (err instanceof ReferredError) {
          this.components.scores.recordRtt(peer, performance.now() - t0)
          return err.peers
        }
        throw err
      } finally {
        if (arriving) {
          const n = (this.wholeInFlight.get(hex) ?? 1) - 1
          if (n > 0) this.wholeInFlight.set(hex, n)
          else this.wholeInFlight.delete(hex)
        }
      }
      await this.components.blobs.put([buf], { size, expected: digest, signal })
      return 'ok'
    }
  }

  private async fetchLarge (digest: Uint8Array, hex: string, peers: string[], options: FetchBlobOptions): Promise<void> {
    const size = options.size
    const chunks = chunkCount(size)
    const partial = await this.components.partials.open(digest, size, options)
    let finalized = false
    try {
      // fixed pieces (the same boundaries on every node, so that referrals match), in random order
      const unit = 16 * Math.max(1, this.pieceGroups)
      const pieces: Piece[] = []
      for (let s = 0; s < chunks; s += unit) {
        const e = Math.min(s + unit, chunks)
        pieces.push({ start: s, end: e, active: new Map(), claims: 0, done: partial.verified.covers(s, e), defers: 0, waits: 0, notBefore: 0, failures: 0, duplicated: false })
      }
      this.shuffle(pieces)
      this.pieces.set(hex, pieces)
      const site = this.fetchesFromAfar(peers)
      if (site) this.gatewayFirst(pieces, p => `${hex}:${p.start}`)
      // chunks verified and received (possibly still being written): what no one needs to fetch again
      const state = { unflushed: 0, lastFlush: performance.now(), received: partial.verified }
      let changed: () => void = () => {}
      let changedP = new Promise<void>(resolve => { changed = resolve })
      const signalChange = (): void => {
        const c = changed
        changedP = new Promise<void>(resolve => { changed = resolve })
        c()
      }
      const remaining = (): boolean => pieces.some(p => !p.done)
      let failure: unknown

      const take = (): Piece | undefined => {
        const now = performance.now()
        for (const p of pieces) if (!p.done && p.claims === 0 && p.notBefore <= now) return p
        // end game: a second copy of a piece in flight, from another peer
        for (const p of pieces) if (!p.done && !p.duplicated && p.claims === 1 && p.active.size > 0) return p
        return undefined
      }

      const pieceAttempt = (piece: Piece, ctl: AbortController): AttemptFn => async (peer, insist, signal, wait) => {
        const want = ChunkRanges.from(piece.start, piece.end).difference(state.received)
        if (want.isEmpty()) return 'ok'
        piece.active.set(ctl, peer)
        const t0 = performance.now()
        let delivered = 0
        // verified data is coalesced into contiguous runs of up to WRITE_RUN bytes and written
        // while decoding goes on (one write in flight per request): awaiting a thread-pool write
        // per 16 KiB group stalled the decoder
        let run: Uint8Array[] = []
        let runStart = -1
        let runLen = 0
        let writing: Promise<void> = Promise.resolve()
        const writeRun = async (): Promise<void> => {
          if (runLen === 0) return
          const data = run.length === 1 ? run[0] : Buffer.concat(run, runLen)
          const offset = runStart
          run = []
          runLen = 0
          runStart = -1
          await writing
          writing = partial.writeVerified(offset, data).then(async () => {
            state.unflushed += data.byteLength
            if (state.unflushed >= this.flushBytes || performance.now() - state.lastFlush > 1000) {
              state.unflushed = 0
              state.lastFlush = performance.now()
              await partial.flush()
            }
          })
        }
        try {
          const stream = await this.components.openStream(peer, FETCH_PROTOCOL, { signal })
          const result = await fetchBlobOnStream(stream, digest, {
            signal,
            size,
            ranges: want,
            idleTimeoutMs: this.idleTimeoutMs,
            ...(this.referrals ? { referrable: { insist, wait } } : {}),
            onSize: () => { this.components.scores.recordRtt(peer, performance.now() - t0) },
            onParent: (p) => { partial.writeParent(p.offset, p.pair) },
            onData: async (item: DecodedData) => {
              const c0 = item.offset / 1024
              const c1 = c0 + Math.ceil(item.data.byteLength / 1024)
              if (state.received.covers(c0, c1)) return
              state.received = state.received.union(ChunkRanges.from(c0, c1))
              delivered += item.data.byteLength
              this.safeDispatchEvent('verified', { detail: { peer, digest: hex, offset: item.offset, bytes: item.data.byteLength } })
              if (runLen > 0 && (runStart + runLen !== item.offset || runLen >= WRITE_RUN)) await writeRun()
              if (runLen === 0) runStart = item.offset
              run.push(item.data)
              runLen += item.data.byteLength
            }
          })
          this.components.scores.recordTransfer(peer, result.bytes, performance.now() - t0)
          if (!result.verified.isSuperset(want.truncate(size))) throw new PeerMisbehavedError('response did not cover the requested ranges')
          return 'ok'
        } catch (err) {
          if (err instanceof ReferredError) {
            this.components.scores.recordRtt(peer, performance.now() - t0)
            return err.peers
          }
          if (ctl.signal.aborted && options.signal?.aborted !== true) {
            // lost an end-game race: another peer delivered this piece first. A slow peer
            // (or a slow drip) pays with its measured speed and a light penalty.
            this.components.scores.recordTransfer(peer, Math.max(delivered, 16 * 1024), (performance.now() - t0) * Math.max(1, (piece.end - piece.start) * 1024 / Math.max(delivered, 1)))
            this.components.scores.penalise(peer, 1, 'lost an end-game race (slow)')
          }
          throw err
        } finally {
          // what was verified is kept, whatever happened to the stream
          await writeRun().catch(() => {})
          await writing.catch(() => {})
          piece.active.delete(ctl)
          if (state.received.covers(piece.start, piece.end)) {
            piece.done = true
            // the piece is in: cancel duplicates still fetching it
            for (const other of piece.active.keys()) other.abort()
          }
          signalChange()
        }
      }

      const slot = async (): Promise<void> => {
        while (failure === undefined && remaining()) {
          options.signal?.throwIfAborted()
          const piece = take()
          if (piece === undefined) {
            // nothing to do now: wait for a piece to finish or fail, or a put-back one to be due
            const now = performance.now()
            const due = pieces.filter(p => !p.done && p.claims === 0).map(p => p.notBefore - now)
            const ctl = new AbortController()
            await Promise.race([changedP, due.length > 0 ? sleep(Math.max(1, Math.min(...due)), ctl.signal) : new Promise<void>(() => {})])
            ctl.abort()
            continue
          }
          const duplicate = piece.claims > 0
          if (duplicate) piece.duplicated = true
          piece.claims++
          const ctl = new AbortController()
          const signal = options.signal === undefined ? ctl.signal : AbortSignal.any([ctl.signal, options.signal])
          try {
            const outcome = await this.obtain(hex, peers, pieceAttempt(piece, ctl), {
              signal,
              exclude: [...piece.active.values()],
              allowDefer: duplicate || piece.defers < this.maxDefers,
              patient: !duplicate && piece.defers < LOCAL_PATIENCE,
              noInsist: duplicate,
              localOnly: duplicate && this.components.hasLocalPeers?.() === true,
              gatewayTurns: site && !duplicate ? piece.waits : undefined,
              what: `blob ${hex} chunks [${piece.start}, ${piece.end}) of`,
              key: `${hex}:${piece.start}`,
              bytes: Math.min(piece.end * 1024, size) - piece.start * 1024
            })
            if (outcome !== 'ok' && !duplicate && !piece.done) putBack(piece, outcome, this.deferMs)
          } catch (err) {
            options.signal?.throwIfAborted()
            if (!piece.done && !ctl.signal.aborted && !duplicate) {
              piece.failures++
              if (piece.failures >= 3) failure ??= err
              else piece.notBefore = performance.now() + this.deferMs
            }
          } finally {
            piece.claims--
            signalChange()
          }
        }
        signalChange()
      }

      if (remaining()) {
        const live = Math.max(1, this.components.scores.rank(peers).length)
        const slots = Math.min(pieces.filter(p => !p.done).length, 16, Math.max(4, this.requestsPerPeer * live))
        // allSettled: on abort every slot must have stopped writing before the partial closes
        await Promise.allSettled(Array.from({ length: slots }, slot))
      }
      options.signal?.throwIfAborted()
      if (failure !== undefined && !partial.complete) throw failure
      if (!partial.complete) {
        throw new NoProvidersError(`blob ${hex}: ${partial.verified.count()} of ${chunks} chunks verified; no peer left to fetch the rest`)
      }
      await partial.flush()
      await partial.finalize(this.components.blobs, options)
      finalized = true
    } finally {
      this.pieces.delete(hex)
      if (!finalized) await partial.close()
    }
  }
}

export function createDownloader (components: DownloaderComponents, init?: DownloaderInit): Downloader {
  return new Downloader(components, init)
}
