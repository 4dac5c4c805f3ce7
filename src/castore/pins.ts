/**
 * Pins: store paths garbage collection never evicts (gc.ts). Kept in the castore's key-value
 * namespace `pins`: hash part → JSON `{ storePath, reasons, pinnedAt }`, where a reason is
 * `self` (pinned by name) or the store path whose closure was pinned (`pin --closure`), so
 * `unpin ROOT` also drops the closure pins it made, but not pins made for other reasons.
 * Paths referenced by a pinned path are kept by GC anyway (a kept path keeps its references).
 */
import type { AbortOptions } from '../abort.ts'
import type { KeyValueStore } from './level-stores.ts'
import type { Castore } from './store.ts'
import { splitStorePath } from './path-info.ts'
import { NotFoundError } from './errors.ts'

export const PINS_NAMESPACE = 'pins'

export interface Pin {
  storePath: string
  /** `self`, or the store path whose closure this pin is part of */
  reasons: string[]
  pinnedAt: number
}

export interface PinOptions extends AbortOptions {
  /** also pin every path in the closure (by references held locally) */
  closure?: boolean
}

const utf8 = new TextEncoder()
const utf8d = new TextDecoder()

export class PinSet {
  private readonly castore: Castore
  private readonly kv: KeyValueStore
  private count: number | undefined

  constructor (castore: Castore) {
    this.castore = castore
    this.kv = castore.kv(PINS_NAMESPACE)
  }

  private async read (hashPart: string, options?: AbortOptions): Promise<Pin | undefined> {
    const raw = await this.kv.get(hashPart, options)
    if (raw === undefined) return undefined
    try { return JSON.parse(utf8d.decode(raw)) as Pin } catch { return undefined }
  }

  /** Pins paths (which must be valid); returns the store paths newly pinned or given a new reason. */
  async pin (storePaths: readonly string[], options: PinOptions = {}): Promise<string[]> {
    const changed = new Map<string, Pin>()
    for (const root of storePaths) {
      const info = await this.castore.getPathInfo(root, options)
      if (info === undefined) throw new NotFoundError(`${root} is not a valid path in this store`)
      const members = options.closure === true ? await this.closure(root, options) : [root]
      for (const p of members) {
        const { hashPart } = splitStorePath(p)
        const pin = changed.get(hashPart) ?? await this.read(hashPart, options) ?? { storePath: p, reasons: [], pinnedAt: Date.now() }
        const reason = p === root ? 'self' : root
        if (!pin.reasons.includes(reason)) {
          pin.reasons = [...pin.reasons, reason].sort()
          changed.set(hashPart, pin)
        }
      }
    }
    const entries = [...changed].map(([key, pin]) => ({ key, value: utf8.encode(JSON.stringify(pin)) }))
    let added = 0
    for (const [key] of changed) if (await this.kv.get(key, options) === undefined) added++
    await this.kv.putMany(entries, options)
    if (this.count !== undefined) this.count += added
    return [...changed.values()].map(p => p.storePath)
  }

  /** Removes the pins of these paths and the closure pins made for them; returns what was unpinned. */
  async unpin (storePaths: readonly string[], options: AbortOptions = {}): Promise<string[]> {
    const roots = new Set(storePaths)
    const removed: string[] = []
    const updates: Array<{ key: string, value: Uint8Array }> = []
    for await (const { key, pin } of this.entries(options)) {
      const reasons = pin.reasons.filter(r => !(r === 'self' ? roots.has(pin.storePath) : roots.has(r)))
      if (reasons.length === pin.reasons.length) continue
      if (reasons.length === 0) {
        await this.kv.delete(key, options)
        removed.push(pin.storePath)
        if (this.count !== undefined) this.count--
      } else {
        updates.push({ key, value: utf8.encode(JSON.stringify({ ...pin, reasons })) })
      }
    }
    await this.kv.putMany(updates, options)
    return removed
  }

  async * entries (options?: AbortOptions): AsyncGenerator<{ key: string, pin: Pin }> {
    if (this.kv.entries === undefined) throw new Error('this key-value store cannot list its entries')
    for await (const { key, value } of this.kv.entries(options)) {
      try { yield { key, pin: JSON.parse(utf8d.decode(value)) as Pin } } catch {}
    }
  }

  async list (options?: AbortOptions): Promise<Pin[]> {
    const out: Pin[] = []
    for await (const { pin } of this.entries(options)) out.push(pin)
    this.count = out.length
    return out
  }

  /** Hash parts of pinned paths. */
  async hashParts (options?: AbortOptions): Promise<Set<string>> {
    const out = new Set<string>()
    for await (const { key } of this.entries(options)) out.add(key)
    this.count = out.size
    return out
  }

  /** Number of pins (known after the first list). */
  get size (): number | undefined {
    return this.count
  }

  /** The closure of a path by the references of the PathInfos held here (missing ones skipped). */
  async closure (root: string, options?: AbortOptions): Promise<string[]> {
    const seen = new Set<string>([root])
    const queue = [root]
    const out: string[] = []
    while (queue.length > 0) {
      const p = queue.shift()!
      const info = await this.castore.getPathInfo(p, options)
      if (info === undefined) continue
      out.push(p)
      for (const r of info.references) if (!seen.has(r)) { seen.add(r); queue.push(r) }
    }
    return out
  }
}
