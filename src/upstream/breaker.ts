/**
 * Health of one upstream: a circuit breaker fed by requests and by a background probe of
 * `/nix-cache-info`.
 *
 *   unknown ──probe ok / request ok──▶ closed ──`threshold` consecutive failures──▶ open
 *      │                                  ▲                                         │ cool-down
 *      └──probe fails / request fails──▶ open ◀──probe fails (cool-down × 2)── half-open ◀┘
 *                                         closed ◀──────────probe ok──────────────┘
 *
 * Requests only go to a `closed` upstream, or to an `unknown` one that no request has given up
 * on yet (with a small budget, see `UpstreamSubstituterInit.unknownBudgetMs`); `open` and
 * `half-open` upstreams are skipped without waiting — the half-open trial is the probe, never a
 * client's request. A failure in `closed` state also triggers a probe at once, so a dead
 * upstream is found by the probe rather than by `threshold` requests each waiting their timeout;
 * a timeout also puts a `closed` upstream back to `unknown` meanwhile, so that requests wait on
 * it for the small budget only, and only until one of them gave up.
 */
import type { UpstreamState } from './types.ts'

export interface BreakerInit {
  threshold: number
  coolDownMs: number
  maxCoolDownMs: number
  probeIntervalMs: number
  /** resolves true when the upstream answers its probe (never rejects) */
  probe: () => Promise<boolean>
  /** told about every state change (for logs) */
  onChange?: (from: UpstreamState, to: UpstreamState) => void
}

export class Breaker {
  private current: UpstreamState = 'unknown'
  /** an `unknown` upstream a request gave up waiting on: skipped until shown healthy */
  suspect = false
  private consecutive = 0
  private coolDown: number
  private readonly init: BreakerInit
  private timer: NodeJS.Timeout | undefined
  private probing = false
  private stopped = true

  get state (): UpstreamState {
    return this.current
  }

  private set state (to: UpstreamState) {
    const from = this.current
    if (from === to) return
    this.current = to
    this.init.onChange?.(from, to)
  }

  constructor (init: BreakerInit) {
    this.init = init
    this.coolDown = init.coolDownMs
  }

  /** Starts the background probe (the first one at once). */
  start (): void {
    this.stopped = false
    this.schedule(0)
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** May a request use this upstream now? */
  get usable (): boolean {
    return this.state === 'closed' || (this.state === 'unknown' && !this.suspect)
  }

  succeeded (): void {
    this.consecutive = 0
    this.suspect = false
    if (this.state !== 'closed') {
      this.state = 'closed'
      this.coolDown = this.init.coolDownMs
      this.schedule(this.init.probeIntervalMs)
    }
  }

  /**
   * A request failed. A timeout of a `closed` upstream puts its health in doubt (`unknown`:
   * the next request waits at most the small budget, and after it nobody waits) until the
   * probe, run at once, decides.
   */
  failed (timeout = false): void {
    this.consecutive++
    if (this.state === 'open') return
    if (this.state !== 'closed' || this.consecutive >= this.init.threshold) {
      this.open()
      return
    }
    if (timeout) {
      this.state = 'unknown'
      this.suspect = false
    }
    // closed, below the threshold: let the probe decide at once
    this.schedule(0)
  }

  private open (): void {
    this.state = 'open'
    this.suspect = false
    const wait = this.coolDown
    this.coolDown = Math.min(this.coolDown * 2, this.init.maxCoolDownMs)
    this.schedule(wait)
  }

  private schedule (ms: number): void {
    if (this.stopped || this.probing) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { void this.runProbe() }, ms)
    this.timer.unref()
  }

  private async runProbe (): Promise<void> {
    if (this.stopped || this.probing) return
    this.probing = true
    const before = this.state
    if (before === 'open') this.state = 'half-open'
    let ok = false
    try {
      ok = await this.init.probe()
    } finally {
      this.probing = false
    }
    if (this.stopped) return
    if (ok) {
      // a healthy probe closes the breaker; it does not clear request failures of a closed one
      if (this.state !== 'closed') this.succeeded()
      this.schedule(this.init.probeIntervalMs)
    } else if (this.state === 'closed') {
      this.failed()
      if (this.state === 'closed') this.schedule(this.init.probeIntervalMs)
    } else {
      this.open()
    }
  }
}
