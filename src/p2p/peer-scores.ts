/**
 * Per-peer bookkeeping shared by every download of a node: measured speed (EWMA of bytes per
 * millisecond) to weight peers, and penalty points (a bad group is a ban; timeouts and broken
 * streams cost a little). Keyed by the peer id string.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { BAN_SCORE } from './constants.ts'

export interface PeerScoreEvents {
  'peer:penalised': CustomEvent<{ peer: string, points: number, total: number, reason: string }>
}

/** Default speed of an unmeasured peer (bytes / ms ≈ 50 MB/s): try newcomers early. */
const DEFAULT_SPEED = 50_000

export class PeerScores extends TypedEventEmitter<PeerScoreEvents> {
  private readonly penalties = new Map<string, number>()
  private readonly speeds = new Map<string, number>()

  penalise (peer: string, points: number, reason: string): void {
    const total = (this.penalties.get(peer) ?? 0) + points
    this.penalties.set(peer, total)
    this.safeDispatchEvent('peer:penalised', { detail: { peer, points, total, reason } })
  }

  /** A peer that sent a bad group or a forged answer: never used again this run. */
  ban (peer: string, reason: string): void {
    this.penalise(peer, BAN_SCORE, reason)
  }

  penalty (peer: string): number {
    return this.penalties.get(peer) ?? 0
  }

  isBanned (peer: string): boolean {
    return this.penalty(peer) >= BAN_SCORE
  }

  recordTransfer (peer: string, bytes: number, ms: number): void {
    if (bytes < 16 * 1024) return
    const s = bytes / Math.max(ms, 1)
    const old = this.speeds.get(peer)
    this.speeds.set(peer, old === undefined ? s : old * 0.6 + s * 0.4)
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
}
