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
/** How often the average share is recomputed (ms). */
const SHARE_REFRESH_MS = 250

interface Recipient {
  peer: string
  /** ranges sent completely */
  held: ChunkRanges
  /** ranges of the sends still running */
  pending: ChunkRanges[]
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
  /** digest hex → recipients (Map order = least recently served first) */
  private readonly blobs = new Map<string, Recipient[]>()
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
  }

  /**
   * The peers to refer `requester` to for `ranges` of blob `hex` (truncated to the blob), or
   * undefined when this node should serve: fewer than `copies` live recipients hold or are
   * receiving those ranges. Peers that already hold them come first.
   */
  refer (hex: string, ranges: ChunkRanges, requester: string | undefined): string[] | undefined {
    if (this.copies <= 0) return undefined
    const list = this.blobs.get(hex) ?? []
    const site = requester === undefined ? undefined : this.siteOf(requester)
    if (site !== undefined) {
      // a requester from a site of several peers: keep the copies inside the site
      const near = list.filter(r => r.peer !== requester && this.isConnected(r.peer) && this.siteOf(r.peer) === site)
      const holdingNear = near.filter(r => r.held.isSuperset(ranges)).map(r => r.peer)
      if (holdingNear.length > 0) {
        this.referred++
        return this.shuffle(holdingNear).slice(0, this.maxReferred)
      }
      if (near.some(r => r.pending.reduce((a, b) => a.union(b), r.held).isSuperset(ranges))) return []
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
    // only peers that hold the ranges are named: one still receiving them would answer "not
    // held"; with none holding yet, "come back later"
    return this.shuffle(holding).slice(0, this.maxReferred)
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
    let list = this.blobs.get(hex)
    if (list === undefined) {
      list = []
    } else {
      this.blobs.delete(hex)
    }
    this.blobs.set(hex, list)
    while (this.blobs.size > this.maxBlobs) this.blobs.delete(this.blobs.keys().next().value as string)
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
          const l = this.blobs.get(hex)
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
