/**
 * Per-peer bookkeeping shared by every download of a node: measured speed (EWMA of bytes per
 * millisecond) to weight peers, round-trip time (EWMA of the wait for a response's first byte)
 * to prefer near peers, and penalties.
 *
 * A peer that sent a bad group or a forged answer is banned for good. Everything else a peer
 * may do wrong without lying — time out, drop a stream, lose a race — costs penalty points that
 * fade (half-life `PENALTY_HALF_LIFE_MS`): on a congested link an honest peer times out now and
 * then, and must not end up shunned for the rest of the run. Keyed by the peer id string.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { BAN_SCORE, PENALTY_HALF_LIFE_MS } from './constants.ts'

export interface PeerScoreEvents {
  'peer:penalised': CustomEvent<{ peer: string, points: number, total: number, reason: string }>
}

/** Default speed of an unmeasured peer (bytes / ms ≈ 50 MB/s): try newcomers early. */
const DEFAULT_SPEED = 50_000

interface Penalty {
  points: number
  /** when `points` was last brought up to date (performance.now()) */
  at: number
}

export class PeerScores extends TypedEventEmitter<PeerScoreEvents> {
  private readonly penalties = new Map<string, Penalty>()
  private readonly banned = new Set<string>()
  private readonly speeds = new Map<string, number>()
  private readonly rtts = new Map<string, number>()

  /** Penalty points that fade (timeouts, broken streams, slowness). */
  penalise (peer: string, points: number, reason: string): void {
    const now = performance.now()
    const total = this.faded(peer, now) + points
    this.penalties.set(peer, { points: total, at: now })
    this.safeDispatchEvent('peer:penalised', { detail: { peer, points, total: total + (this.banned.has(peer) ? BAN_SCORE : 0), reason } })
  }

  /** A peer that sent a bad group or a forged answer: never used again this run. */
  ban (peer: string, reason: string): void {
    const before = this.penalty(peer)
    this.banned.add(peer)
    this.safeDispatchEvent('peer:penalised', { detail: { peer, points: Math.max(0, BAN_SCORE - before), total: Math.max(BAN_SCORE, before + BAN_SCORE), reason } })
  }

  private faded (peer: string, now: number): number {
    const p = this.penalties.get(peer)
    if (p === undefined) return 0
    const v = p.points * Math.pow(0.5, Math.max(0, now - p.at) / PENALTY_HALF_LIFE_MS)
    if (v < 0.01) {
      this.penalties.delete(peer)
      return 0
    }
    return v
  }

  /** Current penalty points (fading ones plus `BAN_SCORE` for a banned peer). */
  penalty (peer: string): number {
    return this.faded(peer, performance.now()) + (this.banned.has(peer) ? BAN_SCORE : 0)
  }

  /** Banned, or (for a while) penalised up to `BAN_SCORE` by repeated failures. */
  isBanned (peer: string): boolean {
    return this.banned.has(peer) || this.faded(peer, performance.now()) >= BAN_SCORE
  }

  recordTransfer (peer: string, bytes: number, ms: number): void {
    if (bytes < 16 * 1024) return
    const s = bytes / Math.max(ms, 1)
    const old = this.speeds.get(peer)
    this.speeds.set(peer, old === undefined ? s : old * 0.6 + s * 0.4)
  }

  /** Records the wait from a request to its first response byte (ms). */
  recordRtt (peer: string, ms: number): void {
    const old = this.rtts.get(peer)
    this.rtts.set(peer, old === undefined ? ms : old * 0.7 + ms * 0.3)
  }

  /** Measured round-trip time (ms), if any. */
  rtt (peer: string): number | undefined {
    return this.rtts.get(peer)
  }

  /** Measured speed in bytes/ms (a default for unmeasured peers), reduced by penalties. */
  speed (peer: string): number {
    const s = this.speeds.get(peer) ?? DEFAULT_SPEED
    return s / (1 + this.penalty(peer) / 10)
  }

  /** Peers usable for downloads, fastest first. */
  rank (peers: Iterable<string>): string[] {
    return [...new Set(peers)].filter(p => !this.isBanned(p)).sort((a, b) => this.speed(b) - this.speed(a))
  }

  /**
   * Peers usable for downloads, nearest first: peers on the local network (`isLocal`) first, then
   * by measured round-trip time, an unmeasured peer counting as the median of the measured ones;
   * ties in random order (`random`).
   */
  nearest (peers: Iterable<string>, random: () => number = Math.random, isLocal: (peer: string) => boolean = () => false): string[] {
    const list = [...new Set(peers)].filter(p => !this.isBanned(p))
    const measured = list.map(p => this.rtts.get(p)).filter((x): x is number => x !== undefined).sort((a, b) => a - b)
    const median = measured[Math.floor(measured.length / 2)] ?? 0
    const keyed = list.map(p => ({ p, local: isLocal(p) ? 0 : 1, rtt: this.rtts.get(p) ?? median, tie: random() }))
    keyed.sort((a, b) => (a.local - b.local) || (a.rtt - b.rtt) || (a.tie - b.tie))
    return keyed.map(k => k.p)
  }
}
