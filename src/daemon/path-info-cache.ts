/**
 * A small in-memory cache of positive path-info lookups for the daemon server: one
 * QueryPathInfo must not cost a LevelDB round trip through the thread pool when the
 * same paths are asked for again (Nix keeps a similar `path-info-cache-size` = 65536
 * LRU in every Store). Only valid paths are cached; entries expire after `ttlMs`, which
 * bounds how stale a signature list added behind the server's back can be; writes
 * through the server update the cache at once.
 */
import type { PathInfo } from '../castore/path-info.ts'

export interface PathInfoCacheOptions {
  /** Entries kept (default 65 536). */
  maxEntries?: number
  /** Lifetime of an entry in ms (default 30 s). */
  ttlMs?: number
}

export class PathInfoCache {
  private readonly entries = new Map<string, { info: PathInfo, expires: number }>()
  private readonly maxEntries: number
  private readonly ttlMs: number

  constructor (options: PathInfoCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 65_536
    this.ttlMs = options.ttlMs ?? 30_000
  }

  get (path: string): PathInfo | undefined {
    const e = this.entries.get(path)
    if (e === undefined) return undefined
    if (e.expires < Date.now()) {
      this.entries.delete(path)
      return undefined
    }
    return e.info
  }

  set (path: string, info: PathInfo): void {
    if (this.maxEntries <= 0) return
    this.entries.delete(path)
    this.entries.set(path, { info, expires: Date.now() + this.ttlMs })
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }

  delete (path: string): void {
    this.entries.delete(path)
  }

  get size (): number {
    return this.entries.size
  }
}
