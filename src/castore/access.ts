/**
 * Last-access times of store paths, for least-recently-used eviction (gc.ts).
 *
 * Recording is cheap: `record` only sets an entry in a map; `flush` writes what changed in one
 * LevelDB batch (GC flushes before it reads, the GC service every minute, `Castore.close` at the
 * end, and `record` itself once `FLUSH_ENTRIES` are pending). A path never accessed counts from
 * its registration time. Times are kept at a resolution of `RESOLUTION_MS`: a path served
 * a thousand times a minute costs one write a minute.
 *
 * Memory: one entry (hash part + number, ≈ 100 B) per path accessed since the last flush.
 */
import type { AbortOptions } from '../abort.ts'
import type { KeyValueStore } from './level-stores.ts'

export const ACCESS_NAMESPACE = 'atime'
const FLUSH_ENTRIES = 10_000
const RESOLUTION_MS = 60_000

export class AccessLog {
  private readonly kv: KeyValueStore
  private pending = new Map<string, number>()
  /** last time written per path, to skip rewrites within RESOLUTION_MS (bounded) */
  private readonly written = new Map<string, number>()
  private flushing: Promise<void> | undefined
  private readonly now: () => number

  constructor (kv: KeyValueStore, now: () => number = Date.now) {
    this.kv = kv
    this.now = now
  }

  record (hashPart: string, at = this.now()): void {
    const last = this.written.get(hashPart)
    if (last !== undefined && at - last < RESOLUTION_MS) return
    const p = this.pending.get(hashPart)
    if (p === undefined || p < at) this.pending.set(hashPart, at)
    if (this.pending.size >= FLUSH_ENTRIES && this.flushing === undefined) void this.flush().catch(() => {})
  }

  /** Writes pending times (one batch). */
  async flush (options?: AbortOptions): Promise<void> {
    while (this.flushing !== undefined) await this.flushing
    if (this.pending.size === 0) return
    const batch = this.pending
    this.pending = new Map()
    const entries: Array<{ key: string, value: Uint8Array }> = []
    for (const [key, at] of batch) entries.push({ key, value: encodeTime(at) })
    this.flushing = (async () => {
      try {
        await this.kv.putMany(entries, options)
      } catch (err) {
        // keep them for the next flush
        for (const [k, v] of batch) if ((this.pending.get(k) ?? 0) < v) this.pending.set(k, v)
        throw err
      }
      if (this.written.size > 100_000) this.written.clear()
      for (const [k, v] of batch) this.written.set(k, v)
    })()
    try { await this.flushing } finally { this.flushing = undefined }
  }

  /** Last recorded access (pending or stored), or undefined. */
  async get (hashPart: string, options?: AbortOptions): Promise<number | undefined> {
    const p = this.pending.get(hashPart)
    const stored = await this.kv.get(hashPart, options)
    const s = stored === undefined ? undefined : decodeTime(stored)
    if (p === undefined) return s
    return s === undefined ? p : Math.max(p, s)
  }

  async forget (hashPart: string, options?: AbortOptions): Promise<void> {
    this.pending.delete(hashPart)
    this.written.delete(hashPart)
    await this.kv.delete(hashPart, options)
  }
}

function encodeTime (ms: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setFloat64(0, ms)
  return out
}

function decodeTime (bytes: Uint8Array): number | undefined {
  if (bytes.byteLength !== 8) return undefined
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0)
}
