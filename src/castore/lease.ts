/**
 * What lets garbage collection run while the node serves and imports (see gc.ts):
 *
 * - a **sweep lock**: blob `has`/`stat`, directory `has`/`put`, PathInfo `put` and lease grants
 *   made through the castore hold it shared for their duration; GC holds it exclusively while it
 *   deletes one batch of objects (at most `SWEEP_BATCH`). Such a call sees an object either
 *   before a batch (and records that it used it, below) or after it (absent). Waiting exclusive
 *   holders block new shared ones, so these calls wait for a batch in progress. Blob puts do
 *   not take it (they last as long as their source); they only record what they wrote.
 * - **objects used during a pass**: every digest put, found by `has`/`stat`, or referred to by a
 *   directory or PathInfo that is put while a GC pass runs is recorded, and the pass does not
 *   delete it (nor the subtree of such a directory): an import running beside GC that found a
 *   blob present (deduplicated) keeps it.
 * - **PathInfo puts check the whole tree** (under the lock): every directory and blob below the
 *   root must be present. So a valid PathInfo always has its whole tree, whatever ran when: an
 *   import that began before a pass and found a blob the pass then collected fails cleanly
 *   (NotFoundError) instead of committing a broken path, and a PathInfo read before GC evicted
 *   it and written back later (signatures, ERIS URN) is refused.
 * - **leases**: a NAR being rendered (HTTP, daemon NarFromPath/ExportPath) holds a lease on its
 *   castore root; GC does not delete anything below a leased root (it tries again next pass).
 *   A lease is granted only while its root is present, checked under the lock; GC deletes a
 *   tree's root before what is below it (directories parents first, then blobs).
 *
 * Memory: one 64-character key per object used during a pass (≈ 120 B each, dropped as each
 * batch takes them); leases one entry per tree with a NAR in flight.
 */
import type { AbortOptions } from '../abort.ts'
import type { BlobStore } from './blob-store.ts'
import type { DirectoryStore } from './directory-store.ts'
import type { PathInfoStore } from './path-info-store.ts'
import type { CastoreNode } from './directory.ts'
import { encodeDirectory } from './directory.ts'
import type { B3Digest } from './digest.ts'
import { toHex } from './digest.ts'
import { NotFoundError } from './errors.ts'
import { splitStorePath } from './path-info.ts'

/** Deletions per exclusive hold of the sweep lock. */
export const SWEEP_BATCH = 256
/** A lease older than this is ignored by GC (a leaked lease cannot pin a tree forever). */
export const MAX_LEASE_MS = 6 * 60 * 60 * 1000

/** Shared/exclusive lock; waiting exclusive holders block new shared ones (no starvation). */
export class SweepLock {
  private shared = 0
  private exclusive = false
  private readonly waitingExclusive: Array<() => void> = []
  private waitingShared: Array<() => void> = []

  async acquireShared (): Promise<void> {
    if (!this.exclusive && this.waitingExclusive.length === 0) { this.shared++; return }
    await new Promise<void>(resolve => { this.waitingShared.push(resolve) })
  }

  releaseShared (): void {
    this.shared--
    if (this.shared === 0) this.wake()
  }

  async acquireExclusive (): Promise<void> {
    if (!this.exclusive && this.shared === 0) { this.exclusive = true; return }
    await new Promise<void>(resolve => { this.waitingExclusive.push(resolve) })
  }

  releaseExclusive (): void {
    this.exclusive = false
    this.wake()
  }

  private wake (): void {
    if (this.exclusive || this.shared > 0) return
    const next = this.waitingExclusive.shift()
    if (next !== undefined) { this.exclusive = true; next(); return }
    const readers = this.waitingShared
    this.waitingShared = []
    this.shared += readers.length
    for (const r of readers) r()
  }

  async withShared<T> (fn: () => Promise<T>): Promise<T> {
    await this.acquireShared()
    try { return await fn() } finally { this.releaseShared() }
  }

  async withExclusive<T> (fn: () => Promise<T>): Promise<T> {
    await this.acquireExclusive()
    try { return await fn() } finally { this.releaseExclusive() }
  }
}

export interface Lease {
  /** ends the lease (idempotent) */
  release: () => void
}

interface LeaseEntry { node: CastoreNode, count: number, since: number }

export interface StoreGuardInit {
  now?: () => number
}

export class StoreGuard {
  readonly lock = new SweepLock()
  private readonly now: () => number
  private readonly leases = new Map<string, LeaseEntry>()
  /** digests touched since the running GC started, in order, drained by GC batch by batch */
  private runQueue: string[] | undefined
  /** bytes added to / removed from the store (blobs + directories), for size accounting */
  bytesAdded = 0
  /** PathInfos added (not replaced) through the castore, for path counting */
  pathsAdded = 0
  /** called after bytes were added (the GC service checks its limit) */
  onGrow?: () => void

  constructor (init: StoreGuardInit = {}) {
    this.now = init.now ?? Date.now
  }

  /** Records that an object was used (put, found, referred to) while a GC pass runs. */
  touch (hex: string): void {
    this.runQueue?.push(hex)
  }

  /** GC: start collecting touched digests (call under no lock, before marking). */
  beginRun (): void { this.runQueue = [] }
  /** GC: the digests touched since the last drain. */
  drainRun (): string[] {
    const q = this.runQueue ?? []
    if (this.runQueue !== undefined) this.runQueue = []
    return q
  }

  endRun (): void { this.runQueue = undefined }

  addLease (node: CastoreNode): Lease {
    const key = node.type === 'symlink' ? 'symlink' : toHex(node.digest)
    const entry = this.leases.get(key)
    if (entry === undefined) this.leases.set(key, { node, count: 1, since: this.now() })
    else entry.count++
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        const e = this.leases.get(key)
        if (e === undefined) return
        if (--e.count <= 0) this.leases.delete(key)
      }
    }
  }

  /** Roots leased now (and not for longer than MAX_LEASE_MS). */
  leasedRoots (): CastoreNode[] {
    const now = this.now()
    const out: CastoreNode[] = []
    for (const e of this.leases.values()) if (e.node.type !== 'symlink' && now - e.since < MAX_LEASE_MS) out.push(e.node)
    return out
  }

  get leaseCount (): number {
    let n = 0
    for (const e of this.leases.values()) n += e.count
    return n
  }

  grew (bytes: number): void {
    if (bytes <= 0) return
    this.bytesAdded += bytes
    this.onGrow?.()
  }
}

/** True when the root object of a node is stored (symlinks have none). */
export async function rootPresent (node: CastoreNode, blobs: BlobStore, directories: DirectoryStore, options?: AbortOptions): Promise<boolean> {
  if (node.type === 'symlink') return true
  if (node.type === 'file') return await blobs.has(node.digest, options)
  return await directories.has(node.digest, options)
}

/** The first object below `node` that is not stored (`blob <hex>`, `directory <hex>`), or undefined. */
export async function firstMissing (node: CastoreNode, blobs: BlobStore, directories: DirectoryStore, options?: AbortOptions): Promise<string | undefined> {
  if (node.type === 'symlink') return undefined
  if (node.type === 'file') return (await blobs.has(node.digest, options)) ? undefined : `blob ${toHex(node.digest)}`
  const seenDirs = new Set<string>()
  const seenBlobs = new Set<string>()
  const stack = [node.digest]
  while (stack.length > 0) {
    options?.signal?.throwIfAborted()
    const digest = stack.pop()!
    const hex = toHex(digest)
    if (seenDirs.has(hex)) continue
    seenDirs.add(hex)
    const dir = await directories.get(digest, options)
    if (dir === undefined) return `directory ${hex}`
    for (const f of dir.files) {
      const fh = toHex(f.digest)
      if (seenBlobs.has(fh)) continue
      seenBlobs.add(fh)
      if (!(await blobs.has(f.digest, options))) return `blob ${fh}`
    }
    for (const d of dir.directories) stack.push(d.digest)
  }
  return undefined
}

/**
 * An object that answers like `inner` (fields through the prototype, methods bound to `inner`,
 * so state they keep stays on it), for a wrapper to override a few methods.
 */
function delegate<T extends object> (inner: T): T {
  const w = Object.create(inner) as Record<string, unknown>
  for (let o: object | null = inner; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const k of Object.getOwnPropertyNames(o)) {
      if (k === 'constructor' || Object.hasOwn(w, k)) continue
      const d = Object.getOwnPropertyDescriptor(o, k)
      if (d !== undefined && typeof d.value === 'function') w[k] = (d.value as (...a: unknown[]) => unknown).bind(inner)
    }
  }
  return w as unknown as T
}

/** The blob store seen by everything but GC: puts and lookups hold the lock and are recorded. */
export function guardBlobs<B extends BlobStore> (inner: B, guard: StoreGuard): B {
  const w = delegate(inner)
  w.has = async (digest, options) => await guard.lock.withShared(async () => {
    const found = await inner.has(digest, options)
    if (found) guard.touch(toHex(digest))
    return found
  })
  w.stat = async (digest, options) => await guard.lock.withShared(async () => {
    const s = await inner.stat(digest, options)
    if (s !== undefined) guard.touch(toHex(digest))
    return s
  })
  // not under the lock: a put may take as long as its source (an upload); what it wrote or found
  // is recorded before the store is asked whether the blob is there, and a PathInfo using it is
  // only written once its whole tree is checked under the lock (guardPathInfos)
  w.put = async (source, options) => {
    const onHashed = options.onHashed
    const result = await inner.put(source, {
      ...options,
      onHashed: (digest: B3Digest) => { guard.touch(toHex(digest)); onHashed?.(digest) }
    })
    guard.touch(toHex(result.digest))
    if (result.added) guard.grew(result.size)
    return result
  }
  return w
}

export function guardDirectories (inner: DirectoryStore, guard: StoreGuard): DirectoryStore {
  const w = delegate(inner)
  w.has = async (digest, options) => await guard.lock.withShared(async () => {
    const found = await inner.has(digest, options)
    if (found) guard.touch(toHex(digest))
    return found
  })
  w.put = async (directories, options) => await guard.lock.withShared(async () => {
    const digests = await inner.put(directories, options)
    let bytes = 0
    for (const [i, dir] of directories.entries()) {
      guard.touch(toHex(digests[i]))
      for (const d of dir.directories) guard.touch(toHex(d.digest))
      for (const f of dir.files) guard.touch(toHex(f.digest))
      bytes += encodeDirectory(dir).byteLength
    }
    guard.grew(bytes)
    return digests
  })
  return w
}

/**
 * PathInfo puts hold the lock, refuse a tree whose root is gone (it was collected) and
 * protect the tree from the running GC.
 */
export function guardPathInfos (inner: PathInfoStore, guard: StoreGuard, blobs: BlobStore, directories: DirectoryStore): PathInfoStore {
  const w = delegate(inner)
  w.put = async (info, options) => await guard.lock.withShared(async () => {
    const missing = await firstMissing(info.node, blobs, directories, options)
    if (missing !== undefined) {
      throw new NotFoundError(`${missing} of the castore tree of ${info.storePath} is not in the store (garbage-collected meanwhile?); import the path again`)
    }
    if (info.node.type !== 'symlink') guard.touch(toHex(info.node.digest))
    const existed = await inner.get(splitStorePath(info.storePath).hashPart, options).catch(() => undefined)
    await inner.put(info, options)
    if (existed === undefined) guard.pathsAdded++
  })
  return w
}
