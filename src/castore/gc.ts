/**
 * Garbage collection: keeps the store under a size limit by evicting the least recently used
 * unpinned paths, then deletes every blob and directory no remaining path reaches (including
 * orphans an interrupted import or an earlier interrupted GC left).
 *
 * A pass:
 * 1. reads every PathInfo (hash part, references, NAR size, castore root) and its last access
 *    (access.ts; the registration time when never accessed);
 * 2. while the store is over the limit, evicts the least recently used path that is not pinned
 *    and that no remaining path refers to (a kept path keeps its references, as in Nix);
 * 3. deletes the evicted PathInfos (each an atomic, synced write): from here they are gone;
 * 4. collects the objects of the evicted trees (candidates), marks from every remaining path
 *    (removing candidates, adding each reached digest to a Bloom filter), lists the blobs and
 *    directories (their sizes are the store size) and adds those the filter has not seen
 *    (orphans); a directory that is kept protects its children (a stored directory always has
 *    its whole closure);
 * 5. deletes candidates in batches under the sweep lock (lease.ts): directories parents first,
 *    then blobs. Before each batch, objects touched since the pass began (imports that found
 *    them present, PathInfos committed) and trees leased by NARs in flight are taken off the
 *    list, with their subtrees.
 *
 * A crash anywhere leaves at most unreferenced objects (PathInfos go first; a tree's root goes
 * before what is below it), which the next pass removes. ERIS index entries of evicted paths are
 * left (the index is advisory: `getBlock` answers undefined for a path that is gone).
 *
 * Memory per pass: the path table (≈ 300 B per path plus its references), the Bloom filter
 * (fixed, `BLOOM_BITS` / 8 bytes; false positives only keep an orphan one more pass), the
 * candidates (≈ 150 B per object to delete), and a bounded cache of visited directories.
 */
import type { AbortOptions } from '../abort.ts'
import type { Castore } from './store.ts'
import { splitStorePath } from './path-info.ts'
import type { CastoreNode, Directory } from './directory.ts'
import { encodeDirectory } from './directory.ts'
import { fromHex, toHex } from './digest.ts'
import { PinSet } from './pins.ts'
import { SWEEP_BATCH } from './lease.ts'

/** Bits of the reachability filter (8 MiB; ≈ 1e-5 false positives at a million objects). */
export const BLOOM_BITS = 1 << 26
const VISITED_CACHE = 200_000
const MAX_ROUNDS = 10
const PARALLEL_DELETES = 16
export const DEFAULT_GC_INTERVAL_MS = 10 * 60 * 1000
const ACCESS_FLUSH_MS = 60_000
/** the ERIS index namespace (src/eris/store-paths.ts ERIS_INDEX_NAMESPACE; castore does not import eris) */
const ERIS_INDEX = 'eris'

export interface GcRunOptions extends AbortOptions {
  /** bytes to stay under (default: the collector's `maxSize`; none = only orphans are removed) */
  maxSize?: number
  /** report what would go, change nothing */
  dryRun?: boolean
}

export interface GcResult {
  dryRun: boolean
  storeBytesBefore: number
  storeBytes: number
  maxBytes?: number
  /** store paths evicted (or that would be) */
  evicted: string[]
  freedBytes: number
  objectsRemoved: number
  /** objects kept this pass because they were in use (leases, concurrent imports) */
  objectsKeptInUse: number
  ms: number
}

export interface GcStats {
  storeBytes: number
  maxBytes?: number
  paths: number
  pinned: number
  lastRun?: { at: number, evictedPaths: number, freedBytes: number, ms: number }
}

export interface GarbageCollectorInit {
  castore: Castore
  /** keep the store under this many bytes (undefined: no automatic eviction) */
  maxSize?: number
  /** interval of background passes (default 10 min) when `maxSize` is set */
  intervalMs?: number
  /** told about evicted paths right after their PathInfos are deleted (forget caches) */
  onEvicted?: (infos: Array<{ storePath: string, hashPart: string }>) => void
  log?: (line: string) => void
  now?: () => number
}

interface PathEntry {
  storePath: string
  atime: number
  refs: string[]
  narSize: number
  node: CastoreNode
  referrers: number
}

interface Candidate {
  kind: 'blob' | 'dir'
  size: number
  /** child directories and files (hex), directories only */
  children?: string[]
}

/** A Bloom filter over BLAKE3 digests: their bytes are already uniform, so they are the hashes. */
class DigestFilter {
  private readonly bits: Uint32Array
  private readonly mask: number
  constructor (bits: number) {
    this.bits = new Uint32Array(bits >>> 5)
    this.mask = bits - 1
  }

  private * positions (d: Uint8Array): Generator<number> {
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength)
    for (let i = 0; i < 4; i++) yield v.getUint32(i * 4) & this.mask
  }

  add (d: Uint8Array): void {
    for (const p of this.positions(d)) this.bits[p >>> 5] |= 1 << (p & 31)
  }

  has (d: Uint8Array): boolean {
    for (const p of this.positions(d)) if ((this.bits[p >>> 5] & (1 << (p & 31))) === 0) return false
    return true
  }
}

/** Min-heap of paths by (atime, hash part). */
class LruHeap {
  private readonly items: Array<{ key: string, atime: number }> = []
  get size (): number { return this.items.length }
  private less (a: { key: string, atime: number }, b: { key: string, atime: number }): boolean {
    return a.atime < b.atime || (a.atime === b.atime && a.key < b.key)
  }

  push (key: string, atime: number): void {
    const it = this.items
    it.push({ key, atime })
    let i = it.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(it[i], it[p])) break
      ;[it[i], it[p]] = [it[p], it[i]]
      i = p
    }
  }

  pop (): string | undefined {
    const it = this.items
    if (it.length === 0) return undefined
    const top = it[0]
    const last = it.pop()!
    if (it.length > 0) {
      it[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < it.length && this.less(it[l], it[m])) m = l
        if (r < it.length && this.less(it[r], it[m])) m = r
        if (m === i) break
        ;[it[i], it[m]] = [it[m], it[i]]
        i = m
      }
    }
    return top.key
  }
}

function hashPartOf (storePath: string): string | undefined {
  try { return splitStorePath(storePath).hashPart } catch { return undefined }
}

export class GarbageCollector {
  readonly castore: Castore
  readonly pins: PinSet
  private readonly init: GarbageCollectorInit
  private readonly now: () => number
  private maxSize: number | undefined
  /** store size measured by the last pass, and the guard's added-bytes counter at that time */
  private measured: { bytes: number, addedAt: number } | undefined
  private pathCount = 0
  private pathsAddedAt = 0
  private last: GcStats['lastRun']
  private running: Promise<GcResult> | undefined
  private timers: Array<ReturnType<typeof setInterval>> = []
  private controller: AbortController | undefined
  private soon: ReturnType<typeof setTimeout> | undefined
  private background: Promise<unknown> = Promise.resolve()

  constructor (init: GarbageCollectorInit) {
    this.init = init
    this.castore = init.castore
    this.pins = new PinSet(init.castore)
    this.now = init.now ?? Date.now
    this.maxSize = init.maxSize
  }

  /**
   * Current figures (cheap; the store size is the last measurement plus what was added since).
   * `storeBytes` and `paths` are 0 until the store was measured once.
   */
  stats (): GcStats {
    // before the first measurement (it runs in the background at start) sizes are unknown: 0
    const paths = this.measured === undefined ? 0 : this.pathCount + this.castore.guard.pathsAdded - this.pathsAddedAt
    const out: GcStats = { storeBytes: this.storeBytes(), paths, pinned: this.pins.size ?? 0 }
    if (this.maxSize !== undefined) out.maxBytes = this.maxSize
    if (this.last !== undefined) out.lastRun = { ...this.last }
    return out
  }

  private storeBytes (): number {
    if (this.measured === undefined) return 0
    return this.measured.bytes + this.castore.guard.bytesAdded - this.measured.addedAt
  }

  /** Background service: measures the store, then (with a limit) collects every interval and when imports cross it. */
  start (): void {
    if (this.controller !== undefined) return
    const controller = new AbortController()
    this.controller = controller
    const signal = controller.signal
    const flush = setInterval(() => { void this.castore.access.flush().catch(() => {}) }, ACCESS_FLUSH_MS)
    flush.unref()
    this.timers.push(flush)
    if (this.maxSize !== undefined) {
      const every = setInterval(() => { this.kick() }, this.init.intervalMs ?? DEFAULT_GC_INTERVAL_MS)
      every.unref()
      this.timers.push(every)
      this.castore.guard.onGrow = () => {
        if (this.maxSize !== undefined && this.measured !== undefined && this.storeBytes() > this.maxSize) this.kick(1000)
      }
    }
    this.background = (async () => {
      await this.measure({ signal })
      if (this.maxSize !== undefined && this.storeBytes() > this.maxSize) this.kick()
    })().catch((err: any) => { if (!signal.aborted) this.init.log?.(`storeswarm: measuring the store failed: ${err?.message ?? err}`) })
  }

  /** Runs a pass soon (coalesced). */
  private kick (delayMs = 0): void {
    if (this.controller === undefined || this.soon !== undefined) return
    this.soon = setTimeout(() => {
      this.soon = undefined
      const signal = this.controller?.signal
      if (signal === undefined || signal.aborted) return
      this.background = this.run({ signal }).then(r => {
        if (r.evicted.length > 0 || r.objectsRemoved > 0) this.init.log?.(`storeswarm: gc: evicted ${r.evicted.length} paths, freed ${r.freedBytes} bytes in ${Math.round(r.ms)} ms; store ${r.storeBytes} bytes`)
      }, (err: any) => { if (!signal.aborted) this.init.log?.(`storeswarm: gc failed: ${err?.message ?? err}`) })
    }, delayMs)
    this.soon.unref?.()
  }

  async stop (): Promise<void> {
    this.controller?.abort()
    this.controller = undefined
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    if (this.soon !== undefined) { clearTimeout(this.soon); this.soon = undefined }
    this.castore.guard.onGrow = undefined
    await this.background.catch(() => {})
    await this.running?.catch(() => {})
    await this.castore.access.flush().catch(() => {})
  }

  /** Measures the store: bytes of blobs and directories, number of paths and pins. */
  async measure (options: AbortOptions = {}): Promise<number> {
    const addedAt = this.castore.guard.bytesAdded
    let bytes = 0
    const raw = this.castore.raw
    for await (const d of raw.blobs.list(options)) bytes += (await raw.blobs.stat(d, options))?.size ?? 0
    for await (const d of raw.directories.list(options)) {
      const dir = await raw.directories.get(d, options).catch(() => undefined)
      if (dir !== undefined) bytes += encodeDirectory(dir).byteLength
    }
    let paths = 0
    this.pathsAddedAt = this.castore.guard.pathsAdded
    for await (const info of raw.pathInfos.list(options)) { void info; paths++ }
    this.pathCount = paths
    await this.pins.hashParts(options)
    this.measured = { bytes, addedAt }
    return bytes
  }

  /** One collection (passes are serialised: a call during a pass waits for it and runs after). */
  async run (options: GcRunOptions = {}): Promise<GcResult> {
    while (this.running !== undefined) await this.running.catch(() => {})
    const p = this.doRun(options)
    this.running = p
    try { return await p } finally { if (this.running === p) this.running = undefined }
  }

  private async doRun (options: GcRunOptions): Promise<GcResult> {
    const t0 = performance.now()
    const maxSize = options.maxSize ?? this.maxSize
    const dryRun = options.dryRun === true
    const signal = options.signal
    await this.castore.access.flush(options)
    if (this.measured === undefined) await this.measure(options)
    const before = this.storeBytes()
    const result: GcResult = { dryRun, storeBytesBefore: before, storeBytes: before, evicted: [], freedBytes: 0, objectsRemoved: 0, objectsKeptInUse: 0, ms: 0 }
    if (maxSize !== undefined) result.maxBytes = maxSize
    const guard = this.castore.guard
    guard.beginRun()
    try {
      // NAR sizes overstate what evicting frees (files shared with kept paths stay): after a
      // round, later rounds scale by the share of NAR bytes the previous one actually freed
      let efficiency = 1
      for (let round = 0; round < MAX_ROUNDS; round++) {
        signal?.throwIfAborted()
        const r = await this.pass(maxSize, dryRun, efficiency, options)
        if (r.narBytes > 0) efficiency = Math.min(1, Math.max(0.02, r.freed / r.narBytes))
        result.evicted.push(...r.evicted)
        result.freedBytes += r.freed
        result.objectsRemoved += r.removed
        result.objectsKeptInUse += r.keptInUse
        result.storeBytes = r.storeBytes
        if (dryRun || maxSize === undefined || r.storeBytes <= maxSize || r.evicted.length === 0) break
      }
    } finally {
      guard.endRun()
    }
    result.ms = performance.now() - t0
    if (!dryRun) this.last = { at: this.now(), evictedPaths: result.evicted.length, freedBytes: result.freedBytes, ms: result.ms }
    return result
  }

  private async pass (maxSize: number | undefined, dryRun: boolean, efficiency: number, options: AbortOptions): Promise<{ evicted: string[], narBytes: number, freed: number, removed: number, keptInUse: number, storeBytes: number }> {
    const raw = this.castore.raw
    const guard = this.castore.guard
    const signal = options.signal

    // 1. the path table
    this.pathsAddedAt = guard.pathsAdded
    const table = new Map<string, PathEntry>()
    for await (const info of raw.pathInfos.list(options)) {
      const hashPart = hashPartOf(info.storePath)
      if (hashPart === undefined) continue
      const atime = Math.max(info.registrationTime, await this.castore.access.get(hashPart, options) ?? 0)
      const refs: string[] = []
      for (const r of info.references) {
        const h = hashPartOf(r)
        if (h !== undefined && h !== hashPart) refs.push(h)
      }
      table.set(hashPart, { storePath: info.storePath, atime, refs, narSize: info.narSize, node: info.node, referrers: 0 })
    }
    for (const e of table.values()) for (const r of e.refs) { const t = table.get(r); if (t !== undefined) t.referrers++ }
    const pinned = await this.pins.hashParts(options)

    // 2. choose what to evict
    const evict: string[] = []
    let excess = maxSize === undefined ? 0 : this.storeBytes() - maxSize
    let narBytes = 0
    if (excess > 0) {
      const heap = new LruHeap()
      for (const [h, e] of table) if (e.referrers === 0 && !pinned.has(h)) heap.push(h, e.atime)
      while (excess > 0) {
        const h = heap.pop()
        if (h === undefined) break
        const e = table.get(h)!
        evict.push(h)
        narBytes += e.narSize
        excess -= Math.max(1, e.narSize * efficiency)
        for (const r of e.refs) {
          const t = table.get(r)
          if (t === undefined) continue
          if (--t.referrers === 0 && !pinned.has(r)) heap.push(r, t.atime)
        }
      }
    }
    const evictSet = new Set(evict)
    const evicted = evict.map(h => table.get(h)!.storePath)
    this.pathCount = table.size - (dryRun ? 0 : evict.length)

    // 3. the PathInfos go first (the commit point of an eviction)
    if (!dryRun) {
      for (const h of evict) {
        signal?.throwIfAborted()
        await raw.pathInfos.delete(h, options)
        await this.castore.access.forget(h, options)
      }
      if (evict.length > 0) this.init.onEvicted?.(evict.map(h => ({ storePath: table.get(h)!.storePath, hashPart: h })))
      if (evict.length > 0) await this.dropErisLeaves(evictSet, options)
    }

    // 4. candidates: the evicted trees …
    const cands = new Map<string, Candidate>()
    const getDir = async (hex: string): Promise<Directory | undefined> => await raw.directories.get(fromHex(hex), options).catch(() => undefined)
    const addDirCandidate = (hex: string, dir: Directory): string[] => {
      const children = [...dir.directories.map(d => toHex(d.digest)), ...dir.files.map(f => toHex(f.digest))]
      cands.set(hex, { kind: 'dir', size: encodeDirectory(dir).byteLength, children })
      return children
    }
    for (const h of evict) {
      const node = table.get(h)!.node
      if (node.type === 'symlink') continue
      if (node.type === 'file') { cands.set(toHex(node.digest), { kind: 'blob', size: node.size }); continue }
      const stack = [toHex(node.digest)]
      while (stack.length > 0) {
        signal?.throwIfAborted()
        const hex = stack.pop()!
        if (cands.has(hex)) continue
        const dir = await getDir(hex)
        if (dir === undefined) continue
        addDirCandidate(hex, dir)
        for (const f of dir.files) cands.set(toHex(f.digest), { kind: 'blob', size: f.size })
        for (const d of dir.directories) stack.push(toHex(d.digest))
      }
    }
    table.clear()

    // … minus everything a remaining path reaches
    const filter = new DigestFilter(BLOOM_BITS)
    let visited = new Set<string>()
    let reachableDirBytes = 0
    const mark = async (node: CastoreNode): Promise<void> => {
      if (node.type === 'symlink') return
      filter.add(node.digest)
      const rootHex = toHex(node.digest)
      cands.delete(rootHex)
      if (node.type === 'file') return
      const stack = [node.digest]
      while (stack.length > 0) {
        signal?.throwIfAborted()
        const digest = stack.pop()!
        const hex = toHex(digest)
        if (visited.has(hex)) continue
        if (visited.size >= VISITED_CACHE) visited = new Set()
        visited.add(hex)
        const dir = await raw.directories.get(digest, options).catch(() => undefined)
        if (dir === undefined) continue
        reachableDirBytes += encodeDirectory(dir).byteLength
        for (const f of dir.files) { filter.add(f.digest); cands.delete(toHex(f.digest)) }
        for (const d of dir.directories) { filter.add(d.digest); cands.delete(toHex(d.digest)); stack.push(d.digest) }
      }
    }
    for await (const info of raw.pathInfos.list(options)) {
      const h = hashPartOf(info.storePath)
      if (dryRun && h !== undefined && evictSet.has(h)) continue
      await mark(info.node)
    }
    visited = new Set()

    // … plus orphans; the listing is also the store size
    let blobBytes = 0
    for await (const d of raw.blobs.list(options)) {
      const size = (await raw.blobs.stat(d, options))?.size
      if (size === undefined) continue
      blobBytes += size
      if (!filter.has(d)) {
        const hex = toHex(d)
        if (!cands.has(hex)) cands.set(hex, { kind: 'blob', size })
      }
    }
    for await (const d of raw.directories.list(options)) {
      if (filter.has(d)) continue
      const hex = toHex(d)
      if (cands.has(hex)) continue
      const dir = await getDir(hex)
      if (dir === undefined) continue
      addDirCandidate(hex, dir)
    }
    let candDirBytes = 0
    for (const c of cands.values()) if (c.kind === 'dir') candDirBytes += c.size
    // measured size: blobs + directories reached + directories about to go (evicted trees, orphans)
    const measuredBytes = blobBytes + reachableDirBytes + candDirBytes

    // what is kept is complete: a kept directory protects its children (and a directory the
    // filter wrongly took for reachable keeps its whole closure)
    let keptInUse = 0
    const protect = (hex: string): Promise<void> => this.protectTree(hex, cands, getDir, signal)
    for await (const d of raw.directories.list(options)) {
      const hex = toHex(d)
      if (cands.has(hex)) continue
      const dir = await getDir(hex)
      if (dir === undefined) continue
      for (const c of dir.directories) { const x = toHex(c.digest); if (cands.has(x)) await protect(x) }
      for (const f of dir.files) cands.delete(toHex(f.digest))
    }

    // in use right now: touched recently or during this pass, leased
    const before = cands.size
    for (const hex of guard.drainRun()) if (cands.has(hex)) await protect(hex)
    const leased = new Set<string>()
    for (const node of guard.leasedRoots()) {
      if (node.type === 'symlink') continue
      const hex = toHex(node.digest)
      leased.add(hex)
      await protect(hex)
    }
    keptInUse += before - cands.size

    if (dryRun) {
      let freed = 0
      for (const c of cands.values()) freed += c.size
      return { evicted, narBytes, freed, removed: 0, keptInUse, storeBytes: measuredBytes - freed }
    }

    // order: directories parents before children, then blobs
    const order = this.deletionOrder(cands)

    // 5. sweep, batch by batch under the lock
    let freed = 0
    let removed = 0
    let i = 0
    while (i < order.length) {
      signal?.throwIfAborted()
      await guard.lock.withExclusive(async () => {
        const n0 = cands.size
        for (const hex of guard.drainRun()) if (cands.has(hex)) await protect(hex)
        for (const node of guard.leasedRoots()) {
          if (node.type === 'symlink') continue
          const hex = toHex(node.digest)
          if (leased.has(hex)) continue
          leased.add(hex)
          await protect(hex)
        }
        keptInUse += n0 - cands.size
        let n = 0
        const blobs: string[] = []
        while (n < SWEEP_BATCH && i < order.length) {
          const hex = order[i++]
          const c = cands.get(hex)
          if (c === undefined) continue
          // directories one by one, parents first; blobs (all after the directories) in parallel
          if (c.kind === 'dir') await raw.directories.delete(fromHex(hex))
          else blobs.push(hex)
          cands.delete(hex)
          freed += c.size
          removed++
          n++
        }
        for (let k = 0; k < blobs.length; k += PARALLEL_DELETES) {
          await Promise.all(blobs.slice(k, k + PARALLEL_DELETES).map(async hex => { await raw.blobs.delete(fromHex(hex)) }))
        }
      })
    }
    // the store size from this measurement on: what was listed, minus what went
    this.measured = { bytes: measuredBytes - freed, addedAt: guard.bytesAdded }
    return { evicted, narBytes, freed, removed, keptInUse, storeBytes: this.storeBytes() }
  }

  /**
   * Removes the ERIS leaf-index entries (src/eris/store-paths.ts: `0x00 ‖ "<hash part>:<leaf>"`)
   * of evicted paths. Internal nodes cannot be told apart by path and stay; the index is
   * advisory (a block of a path that is gone is answered "not held").
   */
  private async dropErisLeaves (evicted: Set<string>, options: AbortOptions): Promise<void> {
    const index = this.castore.kv(ERIS_INDEX)
    if (index.entries === undefined) return
    const doomed: string[] = []
    for await (const { key, value } of index.entries(options)) {
      if (value.byteLength < 34 || value[0] !== 0) continue
      const hashPart = Buffer.from(value.buffer, value.byteOffset + 1, 32).toString('latin1')
      if (evicted.has(hashPart)) doomed.push(key)
      if (doomed.length >= 4096) { for (const k of doomed.splice(0)) await index.delete(k, options) }
    }
    for (const k of doomed) await index.delete(k, options)
  }

  /** Takes `hex` and everything below it off the candidates. */
  private async protectTree (hex: string, cands: Map<string, Candidate>, getDir: (hex: string) => Promise<Directory | undefined>, signal?: AbortSignal): Promise<void> {
    const stack = [hex]
    while (stack.length > 0) {
      signal?.throwIfAborted()
      const x = stack.pop()!
      const c = cands.get(x)
      if (c === undefined) continue
      cands.delete(x)
      if (c.kind !== 'dir') continue
      const dir = await getDir(x)
      const children = dir === undefined ? c.children ?? [] : [...dir.directories.map(d => toHex(d.digest)), ...dir.files.map(f => toHex(f.digest))]
      for (const ch of children) if (cands.has(ch)) stack.push(ch)
    }
  }

  /** Candidate directories parents first (Kahn over the candidate subgraph), then blobs. */
  private deletionOrder (cands: Map<string, Candidate>): string[] {
    const indegree = new Map<string, number>()
    for (const [hex, c] of cands) if (c.kind === 'dir' && !indegree.has(hex)) indegree.set(hex, 0)
    for (const c of cands.values()) {
      if (c.kind !== 'dir') continue
      for (const ch of c.children ?? []) if (indegree.has(ch)) indegree.set(ch, indegree.get(ch)! + 1)
    }
    const order: string[] = []
    const ready: string[] = []
    for (const [hex, n] of indegree) if (n === 0) ready.push(hex)
    while (ready.length > 0) {
      const hex = ready.pop()!
      order.push(hex)
      for (const ch of cands.get(hex)?.children ?? []) {
        const n = indegree.get(ch)
        if (n === undefined) continue
        indegree.set(ch, n - 1)
        if (n - 1 === 0) ready.push(ch)
      }
    }
    // a cycle cannot happen (digests); anything left over goes last
    if (order.length < indegree.size) for (const hex of indegree.keys()) if (!order.includes(hex)) order.push(hex)
    for (const [hex, c] of cands) if (c.kind === 'blob') order.push(hex)
    return order
  }

  /** Pins paths (see PinSet.pin). */
  async pin (storePaths: readonly string[], options: AbortOptions & { closure?: boolean } = {}): Promise<string[]> {
    return await this.pins.pin(storePaths, options)
  }

  async unpin (storePaths: readonly string[], options: AbortOptions = {}): Promise<string[]> {
    return await this.pins.unpin(storePaths, options)
  }
}

export function createGarbageCollector (init: GarbageCollectorInit): GarbageCollector {
  return new GarbageCollector(init)
}

/** Parses a size: bytes, or a number with K, M, G, T (powers of 1024, optional `iB`/`B`). */
export function parseSize (text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text)
  if (m === null) throw new RangeError(`bad size ${JSON.stringify(text)} (use e.g. 50G, 512M, 1048576)`)
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't']
  const n = Math.floor(Number(m[1]) * unit)
  if (!Number.isSafeInteger(n)) throw new RangeError(`size ${JSON.stringify(text)} is too large`)
  return n
}

