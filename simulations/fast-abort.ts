/**
 * A faster registry for `'abort'` listeners of `AbortSignal`s, installed with the virtual clock
 * (simulation process only). Same behaviour as Node's `EventTarget`, other costs.
 *
 * Why: Node keeps an `EventTarget`'s listeners in a linked list that `addEventListener` (the
 * duplicate check) and `removeEventListener` walk from the start. In a simulation every node's
 * jobs share one long-lived signal, and src code adds an abort listener to it for each stream
 * read and each retry sleep (hundreds at once per node, added and removed all the time): those
 * two walks were half of the simulation's CPU time.
 *
 * How: plain function listeners (options absent, or only `once`) for `'abort'` go into an
 * insertion-ordered `Map` per signal (O(1) add, duplicate check and remove); the signal gets one
 * real listener, registered at the first of them and removed after the last, that calls them in
 * order when the signal aborts. Node's dispatch semantics are kept: registration order,
 * duplicates ignored, `once` listeners removed before they are called, listeners removed during
 * the dispatch are skipped and ones added during it are called (a `Map` iterates live, like
 * Node's list), `this` is the signal, a throwing listener (or a rejected promise it returns) is
 * rethrown on the next tick and the others still run, `stopImmediatePropagation()` stops the
 * rest. Anything else (capture, `signal`/`passive` options, Node's internal symbols, listener
 * objects, other event types) goes to Node's own code unchanged.
 *
 * One difference is possible: the relative order between a fast listener and a listener that took
 * Node's path on the same signal (all the fast ones run where the first of them was added). The
 * simulation's code adds none of the latter to abort signals.
 */

type Fn = (this: AbortSignal, event: Event) => unknown

interface Registry {
  listeners: Map<Fn, boolean>
  dispatch: (event: Event) => void
}

const kRegistry = Symbol('sim.fastAbortListeners')
const proto = EventTarget.prototype
const realAdd = proto.addEventListener
const realRemove = proto.removeEventListener
let installed = false

function rethrowLater (err: unknown): void {
  process.nextTick(() => { throw err })
}

/** `once` when `options` has no other property (an ordinary `{ once: true }`), else undefined. */
function simpleOnce (options: unknown): boolean | undefined {
  if (options === undefined) return false
  if (typeof options !== 'object' || options === null || Object.getPrototypeOf(options) !== Object.prototype) return undefined
  const keys = Reflect.ownKeys(options)
  if (keys.length === 0) return false
  if (keys.length === 1 && keys[0] === 'once') return Boolean((options as { once?: unknown }).once)
  return undefined
}

function registry (signal: AbortSignal): Registry {
  let reg = (signal as any)[kRegistry] as Registry | undefined
  if (reg === undefined) {
    const listeners = new Map<Fn, boolean>()
    const dispatch = function (this: AbortSignal, event: Event): void {
      let stopped = false
      const stop = event.stopImmediatePropagation
      event.stopImmediatePropagation = function (this: Event) { stopped = true; stop.call(this) }
      try {
        for (const [fn, once] of listeners) {
          if (once) remove(signal, reg as Registry, fn)
          try {
            const result: any = fn.call(signal, event)
            if (result !== undefined && result !== null && typeof result.then === 'function') result.then(undefined, rethrowLater)
          } catch (err) {
            rethrowLater(err)
          }
          if (stopped) break
        }
      } finally {
        event.stopImmediatePropagation = stop
      }
    }
    reg = { listeners, dispatch }
    Object.defineProperty(signal, kRegistry, { value: reg, enumerable: false, configurable: true })
  }
  return reg
}

function remove (signal: AbortSignal, reg: Registry, fn: Fn): void {
  if (!reg.listeners.delete(fn)) return
  if (reg.listeners.size === 0) realRemove.call(signal, 'abort', reg.dispatch as (event: Event) => void)
}

function add (this: EventTarget, type: string, listener: any, options?: any): void {
  if (type === 'abort' && typeof listener === 'function' && this instanceof AbortSignal) {
    const once = simpleOnce(options)
    if (once !== undefined) {
      const reg = registry(this)
      if (reg.listeners.has(listener)) return
      reg.listeners.set(listener, once)
      if (reg.listeners.size === 1) realAdd.call(this, 'abort', reg.dispatch as (event: Event) => void)
      return
    }
  }
  realAdd.call(this, type, listener, options)
}

function del (this: EventTarget, type: string, listener: any, options?: any): void {
  if (type === 'abort' && typeof listener === 'function' && options !== true && (options as { capture?: unknown } | undefined)?.capture !== true) {
    const reg = (this as any)[kRegistry] as Registry | undefined
    if (reg !== undefined && reg.listeners.has(listener)) { remove(this as AbortSignal, reg, listener); return }
  }
  realRemove.call(this, type, listener, options)
}

/**
 * Installs the registry for the rest of the process (not undone with the clock: a listener
 * registered here must stay removable by `removeEventListener`).
 */
export function installFastAbortListeners (): void {
  if (installed) return
  installed = true
  proto.addEventListener = add as typeof proto.addEventListener
  proto.removeEventListener = del as typeof proto.removeEventListener
}

