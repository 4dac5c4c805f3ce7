/**
 * Referrals: a node that has already sent some ranges of a blob to `copies` peers (or is sending
 * them now) answers a further request for those ranges with the list of those peers instead of
 * the data ("ask them"). Each piece then leaves a node at most `copies` times and spreads as a
 * tree through the swarm, so a seeder's upload stays a small multiple of what it holds however
 * many peers fetch at once (the aim of BitTorrent's super-seeding, without its per-peer
 * bitfields).
 *
 * Copies nobody else can give yet go first to requesters that have had less than their share
 * of this node's sends; one clearly over its share gets an empty referral ("come back later").
 * A requester that finds none of the referred peers able to serve (gone, evicted, still
 * receiving) may come back with `insist`, and is then served: a referral never makes content
 * unreachable. Only ranges sent to peers that are still connected count.
 *
 * A referral first names up to `copies` peers that asked this node for the same ranges at least
 * `askedHoldAfterMs` ago (least often named first): they were after them too and most likely
 * got them since (from whoever they were referred to); else the peers that hold them; else the
 * peers receiving them, which answer once they are in. Measured in
 * the flash-crowd simulation, naming only the recipients made every request walk the tree of
 * copies from its root, one round trip per level through ever busier peers: two thirds of a
 * downloader's request time went to waiting for referral answers. Named askers spread the
 * requests over every holder, and the walk stays two or three hops deep; one that does not
 * hold the ranges yet answers "not held" and the requester tries the next.
 */
import { ChunkRanges } from '../blake3/index.ts'
import { shuffle } from './shuffle.ts'

export interface ReferralsInit {
  /** copies of a range sent before further requesters are referred (default 2; 0 disables referrals) */
  copies?: number
  /** blobs remembered (least recently served are forgotten first; default 8192) */
  maxBlobs?: number
  /** recipients (peers) remembered per blob (default 256) */
  perBlob?: number
  /** peers named in one referral (default 8) */
  maxReferred?: number
  /** peers that asked for the same ranges at least this long ago are named too (ms; default 5000; negative: never) */
  askedHoldAfterMs?: number
}

export interface ReferralsComponents {
  /** whether `peer` is still connected (a departed peer is not worth referring to) */
  isConnected?: (peer: string) => boolean
  /** randomness for the order of referred peers (default Math.random) */
  random?: () => number
  /**
   * The public network a peer connects from (its address), if known and shared with other
   * connected peers — a site of several nodes behind one gateway. Requesters from such a site
   * are referred to holders in the same site; the first copy into the site is served.
   */
  siteOf?: (peer: string) => string | undefined
  /** whether a peer is on this node's local network: a local requester is only referred to local holders */
  isLocal?: (peer: string) => boolean
}

/** A requester gets fresh copies while it has had at most this × the average, plus `SHARE_MIN`. */
const SHARE_SLACK = 1.25
const SHARE_MIN = 8
/** Distinct requested ranges remembered per blob (a blob's pieces, plus odd ranges of resumed downloads). */
const MAX_RANGE_KEYS = 1024
/** How often the average share is recomputed (ms). */
const SHARE_REFRESH_MS = 250

interface Recipient {
  peer: string
  /** ranges sent completely */
  held: ChunkRanges
  /** ranges of the sends still running */
  pending: ChunkRanges[]
}

/** What is known about one blob: who was sent which ranges, and who asked for which ranges when. */
interface BlobRecord {
  recipients: Recipient[]
  /** ranges key → peers that asked for exactly those ranges (oldest first) */
  askers: Map<string, Map<string, Asker>>
  /** ranges key → LAN peers that asked this node, as their gateway, for ranges it did not hold */
  waiters: Map<string, Map<string, Asker>>
}

interface Asker {
  /** when it asked (performance.now()) */
  at: number
  /** times it was named in a referral since */
  named: number
}

/** A pending send: call `done(true)` when every byte went out, `done(false)` when it failed. */
export interface ReferralTicket {
  done: (complete: boolean) => void
}

export class Referrals {
  readonly copies: number
  private readonly maxBlobs: number
  private readonly perBlob: number
  private readonly maxReferred: number
  private readonly isConnected: (peer: string) => boolean
  private readonly random: () => number
  private readonly siteOf: (peer: string) => string | undefined
  private readonly isLocal: (peer: string) => boolean
  private readonly askedHoldAfterMs: number
  /** digest hex → what is known of it (Map order = least recently used first) */
  private readonly blobs = new Map<string, BlobRecord>()
  /** requests served, by peer (the share rule) */
  private readonly sends = new Map<string, number>()
  /** referrals given (observability) */
  referred = 0
  private shareAt = -Infinity
  private shareAvg = 0
  private shareN = 0

  constructor (components: ReferralsComponents = {}, init: ReferralsInit = {}) {
    this.copies = init.copies ?? 2
    this.maxBlobs = init.maxBlobs ?? 8192
    this.perBlob = init.perBlob ?? 256
    this.maxReferred = init.maxReferred ?? 8
    this.isConnected = components.isConnected ?? (() => true)
    this.random = components.random ?? Math.random
    this.siteOf = components.siteOf ?? (() => undefined)
    this.isLocal = components.isLocal ?? (() => false)
    this.askedHoldAfterMs = init.askedHoldAfterMs ?? 5000
  }

  /** The record of blob `hex`, made most recently used (created when `create`). */
  private record (hex: string, create: boolean): BlobRecord | undefined {
    let rec = this.blobs.get(hex)
    if (rec === undefined) {
      if (!create) return undefined
      rec = { recipients: [], askers: new Map(), waiters: new Map() }
    } else {
      this.blobs.delete(hex)
    }
    this.blobs.set(hex, rec)
    while (this.blobs.size > this.maxBlobs) this.blobs.delete(this.blobs.keys().next().value as string)
    return rec
  }

  /**
   * The peers to refer `requester` to for `ranges` of blob `hex` (truncated to the blob), or
   * undefined when this node should serve: fewer than `copies` live recipients hold or are
   * receiving those ranges. Peers that already hold them come first.
   */
  refer (hex: string, ranges: ChunkRanges, requester: string | undefined): string[] | undefined {
    if (this.copies <= 0) return undefined
    const list = this.blobs.get(hex)?.recipients ?? []
    const site = requester === undefined ? undefined : this.siteOf(requester)
    if (site !== undefined) {
      // a requester from a site of several peers: keep the copies inside the site
      const near = list.filter(r => r.peer !== requester && this.isConnected(r.peer) && this.siteOf(r.peer) === site)
      const holdingNear = near.filter(r => r.held.isSuperset(ranges)).map(r => r.peer)
      if (holdingNear.length > 0) {
        this.referred++
        return this.shuffle(holdingNear).slice(0, this.maxReferred)
      }
      // none holds them yet: the ones receiving them (they answer once they have them)
      const receivingNear = near.filter(r => r.pending.reduce((a, b) => a.union(b), r.held).isSuperset(ranges)).map(r => r.peer)
      if (receivingNear.length > 0) {
        this.referred++
        return this.shuffle(receivingNear).slice(0, this.maxReferred)
      }
      return undefined
    }
    const holding: string[] = []
    const receiving: string[] = []
    // a requester on our LAN is never sent across the WAN: only LAN holders count for it
    const lanOnly = requester !== undefined && this.isLocal(requester)
    for (const r of list) {
      if (r.peer === requester || !this.isConnected(r.peer)) continue
      if (lanOnly && !this.isLocal(r.peer)) continue
      if (r.held.isSuperset(ranges)) holding.push(r.peer)
      else if (r.pending.reduce((a, b) => a.union(b), r.held).isSuperset(ranges)) receiving.push(r.peer)
    }
    if (holding.length + receiving.length < this.copies) {
      // a copy others cannot give yet: hand it to a requester that has had less than its share,
      // so that the first copies of different pieces reach different peers (else the peers
      // that ask first get everything first, and their uplinks carry the whole swarm). A
      // requester over its share is told to come back later (an empty referral).
      return requester !== undefined && this.overShare(requester) ? [] : undefined
    }
    this.referred++
    // peers that asked for the ranges a while ago, else peers that hold them, else the peers
    // receiving them from us: a peer asked for ranges it is receiving answers once they are in
    // (fetch-protocol.ts `awaitServable`), which beats "come back later" and a back-off
    const likely = requester === undefined ? [] : this.likelyHolders(hex, ranges, requester, new Set([...holding, ...receiving]), lanOnly)
    if (likely.length > 0) return likely
    return this.shuffle(holding.length > 0 ? holding : receiving).slice(0, this.maxReferred)
  }

  /**
   * For a LAN peer that asks this node, as the site's gateway for blob `hex`, for `ranges` it
   * neither holds nor fetches (FLAG_WAIT): the LAN peers that asked it so before (earliest
   * first; they went on to fetch the ranges from afar themselves), to wait for rather than
   * fetch them across the WAN once more. Records `requester`.
   */
  lanWaiters (hex: string, ranges: ChunkRanges, requester: string | undefined): string[] {
    if (requester === undefined || !this.isLocal(requester)) return []
    return this.remember(this.record(hex, true) as BlobRecord, 'waiters', ranges, requester, Infinity, true, new Set(), this.maxReferred).map(([peer]) => peer)
  }

  /**
   * Up to `n` peers that asked for exactly `ranges` of blob `hex` at least `askedHoldAfterMs`
   * ago (connected, on the LAN when `lanOnly`, not in `skip`), at random; records `requester`
   * as asking now.
   */
  private likelyHolders (hex: string, ranges: ChunkRanges, requester: string, skip: Set<string>, lanOnly: boolean): string[] {
    if (this.askedHoldAfterMs < 0) return []
    const found = this.remember(this.record(hex, true) as BlobRecord, 'askers', ranges, requester, this.askedHoldAfterMs, lanOnly, skip, Infinity)
    // the ones named least often first: each is likely to serve about `copies` requesters
    const order = shuffle(found, this.random).sort(([, a], [, b]) => a.named - b.named).slice(0, this.copies)
    for (const [, a] of order) a.named++
    return order.map(([peer]) => peer)
  }

  /**
   * The peers in `rec[which]` for `ranges` that asked at least `ageMs` ago (connected, local when
   * `lanOnly`, not `requester` or in `skip`; earliest first, at most `n`); then records `requester`.
   */
  private remember (rec: BlobRecord, which: 'askers' | 'waiters', ranges: ChunkRanges, requester: string, ageMs: number, lanOnly: boolean, skip: Set<string>, n: number): Array<[string, Asker]> {
    const byKey = rec[which]
    const key = ranges.toString()
    let askers = byKey.get(key)
    if (askers === undefined) {
      askers = new Map()
      byKey.set(key, askers)
      if (byKey.size > MAX_RANGE_KEYS) byKey.delete(byKey.keys().next().value as string)
    }
    const now = performance.now()
    const found: Array<[string, Asker]> = []
    for (const [peer, a] of askers) {
      if (found.length >= n || (ageMs !== Infinity && a.at > now - ageMs)) break
      if (peer !== requester && !skip.has(peer) && this.isConnected(peer) && (!lanOnly || this.isLocal(peer))) found.push([peer, a])
    }
    if (!askers.has(requester)) {
      askers.set(requester, { at: now, named: 0 })
      if (askers.size > this.perBlob) askers.delete(askers.keys().next().value as string)
    }
    return found
  }

  /**
   * Whether `peer` has been sent clearly more requests than the average connected requester.
   * The average is taken at most once per SHARE_REFRESH_MS: asked on every request, it would
   * cost a pass over every requester each time.
   */
  private overShare (peer: string): boolean {
    const now = performance.now()
    if (now - this.shareAt > SHARE_REFRESH_MS) {
      this.shareAt = now
      let total = 0
      let n = 0
      for (const [p, c] of this.sends) {
        if (!this.isConnected(p)) continue
        total += c
        n++
      }
      this.shareAvg = n > 0 ? total / n : 0
      this.shareN = n
    }
    const mine = this.sends.get(peer) ?? 0
    if (this.shareN + (mine === 0 ? 1 : 0) < 2) return false
    return mine > this.shareAvg * SHARE_SLACK + SHARE_MIN
  }

  /** Records that `ranges` of blob `hex` are being sent to `peer`. */
  sending (hex: string, ranges: ChunkRanges, peer: string | undefined): ReferralTicket {
    if (peer === undefined || this.copies <= 0) return { done: () => {} }
    this.sends.set(peer, (this.sends.get(peer) ?? 0) + 1)
    const list = (this.record(hex, true) as BlobRecord).recipients
    let r = list.find(x => x.peer === peer)
    if (r === undefined) {
      r = { peer, held: ChunkRanges.empty(), pending: [] }
      list.push(r)
      if (list.length > this.perBlob) list.splice(0, list.length - this.perBlob)
    }
    const entry = r
    entry.pending.push(ranges)
    let settled = false
    return {
      done: (complete: boolean) => {
        if (settled) return
        settled = true
        const i = entry.pending.indexOf(ranges)
        if (i >= 0) entry.pending.splice(i, 1)
        if (complete) entry.held = entry.held.union(ranges)
        if (entry.held.isEmpty() && entry.pending.length === 0) {
          const l = this.blobs.get(hex)?.recipients
          const k = l?.indexOf(entry) ?? -1
          if (l !== undefined && k >= 0) l.splice(k, 1)
        }
      }
    }
  }

  private shuffle (a: string[]): string[] {
    return shuffle(a, this.random)
  }
}

export function createReferrals (components?: ReferralsComponents, init?: ReferralsInit): Referrals {
  return new Referrals(components, init)
}
