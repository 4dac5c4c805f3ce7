/**
 * Virtual time for simulations (discrete-event): `install()` replaces the process's timers
 * (`setTimeout`, `setInterval`, `performance.now`, `Date.now`, `AbortSignal.timeout`) with ones
 * driven by a virtual clock, so the unmodified `src/` code (idle timeouts, lookup budgets,
 * speed measurements, retry timers) runs on simulated time. `run()` lets every pending
 * promise settle (one real `setImmediate` turn), then jumps the clock to the next timer.
 *
 * Only for a process that runs a simulation (`simulations/run.ts`): everything it touches must
 * be in memory (a real file or socket would complete in real time, unseen by the clock).
 */
import { installFastAbortListeners } from './fast-abort.ts'

interface Timer {
  id: number
  at: number
  seq: number
  fn: (...args: any[]) => void
  args: any[]
  every: number | undefined
  delay: number
  cancelled: boolean
}

const realSetImmediate = globalThis.setImmediate
const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout
const realSetInterval = globalThis.setInterval
const realClearInterval = globalThis.clearInterval
const realPerfNow = performance.now.bind(performance)
const realDateNow = Date.now
const realAbortTimeout = AbortSignal.timeout.bind(AbortSignal)

/** A timer handle that looks enough like Node's `Timeout` for libraries (`unref`, `ref`, …). */
class Handle {
  timer: Timer
  readonly clock: VirtualClock
  constructor (timer: Timer, clock: VirtualClock) { this.timer = timer; this.clock = clock }
  ref (): this { return this }
  unref (): this { return this }
  hasRef (): boolean { return true }
  refresh (): this {
    if (!this.timer.cancelled) this.timer = this.clock.reschedule(this.timer)
    return this
  }
  close (): this { this.timer.cancelled = true; return this }
  [Symbol.toPrimitive] (): number { this.clock.track(this.timer); return this.timer.id }
}

export class VirtualClock {
  /** virtual milliseconds since the start of the run */
  now = 0
  /** wall-clock epoch the virtual time is added to (for `Date.now`) */
  readonly epoch: number
  private heap: Timer[] = []
  private seq = 0
  private nextId = 1
  /** live timers whose id was taken as a number (`clearTimeout(+handle)`); others are found by handle */
  private readonly byId = new Map<number, Timer>()
  private installed = false
  /** timers fired so far (a measure of the simulation's work) */
  fired = 0
  /** timers due within this many ms of each other fire in one batch before promises settle */
  quantum = 1

  constructor (epoch: number = Date.UTC(2026, 0, 1)) {
    this.epoch = epoch
  }

  setTimeout (fn: (...args: any[]) => void, ms: number = 0, ...args: any[]): Handle {
    return this.add(fn, ms, args, undefined)
  }

  setInterval (fn: (...args: any[]) => void, ms: number = 0, ...args: any[]): Handle {
    return this.add(fn, ms, args, Math.max(1, Number(ms) || 0))
  }

  clear (handle: unknown): void {
    if (handle instanceof Handle) { handle.timer.cancelled = true; if (this.byId.size > 0) this.byId.delete(handle.timer.id); return }
    if (typeof handle === 'number') {
      const t = this.byId.get(handle)
      if (t !== undefined) { t.cancelled = true; this.byId.delete(handle) }
    }
  }

  /** @internal the handle's id was taken as a number: keep it findable by id while it is live */
  track (timer: Timer): void {
    if (!timer.cancelled) this.byId.set(timer.id, timer)
  }

  /**
   * A one-shot timer without a handle (for the simulated network's own events): the same
   * ordering as `setTimeout(fn, ms)`, fewer objects.
   */
  schedule (fn: () => void, ms: number): void {
    const delay = Math.max(0, Number(ms) || 0)
    this.push({ id: 0, at: this.now + delay, seq: this.seq++, fn, args: noArgs, every: undefined, delay, cancelled: false })
  }

  /** Resolves after `ms` virtual milliseconds (rejects with the signal's reason when aborted). */
  async sleep (ms: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const h = this.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
      const onAbort = (): void => { this.clear(h); reject(signal?.reason) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** @internal */
  reschedule (timer: Timer): Timer {
    timer.cancelled = true
    const fresh: Timer = { id: timer.id, at: this.now + (timer.every ?? timer.delay), seq: this.seq++, fn: timer.fn, args: timer.args, every: timer.every, delay: timer.delay, cancelled: false }
    if (this.byId.has(timer.id)) this.byId.set(timer.id, fresh)
    this.push(fresh)
    return fresh
  }

  private add (fn: (...args: any[]) => void, ms: number, args: any[], every: number | undefined): Handle {
    const delay = Math.max(0, Number(ms) || 0)
    const t: Timer = { id: this.nextId++, at: this.now + delay, seq: this.seq++, fn, args, every, delay, cancelled: false }
    this.push(t)
    return new Handle(t, this)
  }

  private push (t: Timer): void {
    const h = this.heap
    let i = h.length
    h.push(t)
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p]
      if (less(parent, t)) break
      h[i] = parent
      i = p
    }
    h[i] = t
  }

  private pop (): Timer | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop() as Timer
    const n = h.length
    if (n > 0) {
      let i = 0
      while (true) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && less(h[r], h[l]) ? r : l
        if (!less(h[c], last)) break
        h[i] = h[c]
        i = c
      }
      h[i] = last
    }
    return top
  }

  /** Time of the next live timer, or undefined. */
  private peekLive (): Timer | undefined {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop()
    return this.heap[0]
  }

  /** Lets every pending promise chain settle (real event-loop turns; virtual time stands still). */
  async settle (): Promise<void> {
    await new Promise<void>(resolve => { realSetImmediate(resolve) })
  }

  /**
   * Runs until `done()` is true, no timer is left (`'idle'`), or the next timer lies beyond
   * `limitMs` (`'limit'`).
   */
  async run (done: () => boolean, limitMs: number): Promise<'done' | 'idle' | 'limit'> {
    while (true) {
      await this.settle()
      if (done()) return 'done'
      const next = this.peekLive()
      if (next === undefined) return 'idle'
      if (next.at > limitMs) return 'limit'
      // fire every timer due within `quantum` ms (each at its own time, in order), then settle once
      const horizon = Math.max(this.now, next.at) + this.quantum
      let n = 0
      while (true) {
        const t = this.peekLive()
        if (t === undefined || t.at > horizon || n > 10_000) break
        this.pop()
        this.now = Math.max(this.now, t.at)
        if (t.every !== undefined) {
          // the same timer object again (its handle still points at it)
          t.seq = this.seq++
          t.at = this.now + t.every
          this.push(t)
        } else {
          if (this.byId.size > 0) this.byId.delete(t.id)
        }
        n++
        this.fired++
        try {
          if (t.args.length === 0) t.fn()
          else t.fn(...t.args)
        } catch (err) {
          queueMicrotask(() => { throw err })
        }
      }
    }
  }

  /** Replaces the global timers with this clock's. */
  install (): void {
    if (this.installed) return
    this.installed = true
    installFastAbortListeners()
    const g = globalThis as any
    g.setTimeout = (fn: any, ms?: number, ...args: any[]) => this.setTimeout(fn, ms, ...args)
    g.setInterval = (fn: any, ms?: number, ...args: any[]) => this.setInterval(fn, ms, ...args)
    g.clearTimeout = (h: unknown) => { this.clear(h) }
    g.clearInterval = (h: unknown) => { this.clear(h) }
    performance.now = () => this.now
    Date.now = () => this.epoch + Math.floor(this.now)
    ;(AbortSignal as any).timeout = (ms: number) => {
      const ctl = new AbortController()
      this.setTimeout(() => { ctl.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')) }, ms)
      return ctl.signal
    }
  }

  /** Puts the real timers back. */
  uninstall (): void {
    if (!this.installed) return
    this.installed = false
    const g = globalThis as any
    g.setTimeout = realSetTimeout
    g.setInterval = realSetInterval
    g.clearTimeout = realClearTimeout
    g.clearInterval = realClearInterval
    performance.now = realPerfNow
    Date.now = realDateNow
    ;(AbortSignal as any).timeout = realAbortTimeout
  }
}

const noArgs: any[] = []

function less (a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** Real wall-clock milliseconds (unaffected by `install`). */
export function wallNow (): number {
  return realPerfNow()
}
