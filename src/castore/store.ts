/**
 * The castore facade: blobs + directories + path infos, with the two operations everything
 * else is built on — import a NAR as a store path, and export a store path as a NAR.
 *
 * Commit order gives crash consistency: blobs (fsynced, renamed, directories synced) →
 * directories (leaves first) → PathInfo. A PathInfo is therefore only ever visible with its
 * whole castore closure present; an interrupted import leaves only unreferenced objects.
 */
import { createNarSha256, OFFLOAD_THRESHOLD } from './sha256.ts'
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import type { AbortOptions } from '../abort.ts'
import type { BlobStore } from './blob-store.ts'
import type { DirectoryStore } from './directory-store.ts'
import type { PathInfoStore } from './path-info-store.ts'
import type { PathInfo } from './path-info.ts'
import { splitStorePath, validatePathInfo } from './path-info.ts'
import { ingestNar } from './ingest.ts'
import type { IngestResult } from './ingest.ts'
import { renderNar } from './render.ts'
import { FsBlobStore } from './fs-blob-store.ts'
import { openLevelStores } from './level-stores.ts'
import type { KeyValueStore } from './level-stores.ts'
import { createMemoryKeyValueStore } from './memory-stores.ts'
import { NarHashMismatchError, NotFoundError, asStoreFull } from './errors.ts'
import { toHex } from './digest.ts'
import type { CastoreNode } from './directory.ts'
import { StoreGuard, guardBlobs, guardDirectories, guardPathInfos, rootPresent } from './lease.ts'
import type { Lease } from './lease.ts'
import { AccessLog, ACCESS_NAMESPACE } from './access.ts'

export interface CastoreComponents {
  blobs: BlobStore & { sync?: () => Promise<void> }
  directories: DirectoryStore
  pathInfos: PathInfoStore
  /** namespaces for indexes kept beside the castore (ERIS, …); in memory when absent */
  kv?: (name: string) => KeyValueStore
}

export interface ImportNarOptions extends AbortOptions {
  storePath: string
  references?: string[]
  deriver?: string
  signatures?: string[]
  ca?: string
  /** reject the NAR unless its sha256 equals this (32 bytes) */
  narHash?: Uint8Array
  /** reject the NAR unless it is this long */
  narSize?: number
  /** expected length when `narSize` is not to be enforced (e.g. a file's size) */
  sizeHint?: number
}

export interface ImportNarResult {
  info: PathInfo
  stats: Omit<IngestResult, 'node' | 'narHash' | 'narSize'>
}

export class Castore {
  readonly blobs: CastoreComponents['blobs']
  readonly directories: DirectoryStore
  readonly pathInfos: PathInfoStore
  readonly kv: (name: string) => KeyValueStore
  /** sweep lock, leases and recently used objects: what lets GC run beside serving (lease.ts) */
  readonly guard: StoreGuard
  /** last-access times of paths, for LRU eviction (access.ts) */
  readonly access: AccessLog
  /** the stores without the guard, for GC itself */
  readonly raw: Pick<CastoreComponents, 'blobs' | 'directories' | 'pathInfos'>
  private readonly onClose: () => Promise<void>

  constructor (components: CastoreComponents, onClose: () => Promise<void> = async () => {}) {
    this.raw = { blobs: components.blobs, directories: components.directories, pathInfos: components.pathInfos }
    this.guard = new StoreGuard()
    this.blobs = guardBlobs(components.blobs, this.guard)
    this.directories = guardDirectories(components.directories, this.guard)
    this.pathInfos = guardPathInfos(components.pathInfos, this.guard, components.blobs, components.directories)
    const memory = new Map<string, KeyValueStore>()
    this.kv = components.kv ?? ((name) => {
      let store = memory.get(name)
      if (store === undefined) { store = createMemoryKeyValueStore(); memory.set(name, store) }
      return store
    })
    this.access = new AccessLog(this.kv(ACCESS_NAMESPACE))
    this.onClose = onClose
  }

  /** Records that a path was used (served, fetched by a peer): cheap, batched (access.ts). */
  touch (pathOrHashPart: string, at?: number): void {
    const base = pathOrHashPart.startsWith('/') ? pathOrHashPart.slice(pathOrHashPart.lastIndexOf('/') + 1) : pathOrHashPart
    if (base.length >= 32) this.access.record(base.slice(0, 32), at)
  }

  /**
   * Keeps the tree below `node` from being garbage-collected while a NAR of it is rendered.
   * Undefined when the tree is gone already (the path was collected): answer "not found".
   */
  async lease (node: CastoreNode, options?: AbortOptions): Promise<Lease | undefined> {
    return await this.guard.lock.withShared(async () => {
      if (!(await rootPresent(node, this.raw.blobs, this.raw.directories, options))) return undefined
      return this.guard.addLease(node)
    })
  }

  /** Ingests a NAR and makes it valid as `storePath`. Nothing becomes valid if anything fails. */
  async importNar (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ImportNarOptions): Promise<ImportNarResult> {
    splitStorePath(options.storePath)
    let ingested: IngestResult
    try {
      ingested = await ingestNar(source, { blobs: this.blobs, directories: this.directories, signal: options.signal, sizeHint: options.narSize ?? options.sizeHint })
    } catch (err) {
      throw asStoreFull(err, `importing ${options.storePath}`)
    }
    const { node, narHash, narSize, ...stats } = ingested
    if (options.narSize !== undefined && options.narSize !== narSize) {
      throw new NarHashMismatchError(`NAR for ${options.storePath} has ${narSize} bytes, expected ${options.narSize}`)
    }
    if (options.narHash !== undefined && toHex(options.narHash) !== toHex(narHash)) {
      throw new NarHashMismatchError(`NAR for ${options.storePath} has sha256 ${toHex(narHash)}, expected ${toHex(options.narHash)}`)
    }
    const info: PathInfo = {
      storePath: options.storePath,
      node,
      references: [...(options.references ?? [])].sort(),
      narHash,
      narSize,
      signatures: options.signatures ?? [],
      registrationTime: Date.now()
    }
    if (options.deriver !== undefined) info.deriver = options.deriver
    if (options.ca !== undefined) info.ca = options.ca
    validatePathInfo(info)
    try {
      await this.blobs.sync?.()
      await this.pathInfos.put(info, options)
    } catch (err) {
      throw asStoreFull(err, `importing ${options.storePath}`)
    }
    return { info, stats }
  }

  /** Looks a path up by full store path or by its 32-character hash part. */
  async getPathInfo (pathOrHashPart: string, options?: AbortOptions): Promise<PathInfo | undefined> {
    const hashPart = pathOrHashPart.startsWith('/') ? splitStorePath(pathOrHashPart).hashPart : pathOrHashPart
    const info = await this.pathInfos.get(hashPart, options)
    if (info !== undefined && pathOrHashPart.startsWith('/') && info.storePath !== pathOrHashPart) return undefined
    return info
  }

  /**
   * Streams the NAR of a valid path. The bytes are re-hashed on the way out; if they do not match
   * the recorded NarHash (a damaged store), the stream fails after the last byte instead of
   * ending cleanly.
   */
  async * exportNar (pathOrHashPart: string, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    const info = await this.getPathInfo(pathOrHashPart, options)
    if (info === undefined) throw new NotFoundError(`${pathOrHashPart} is not a valid path in this store`)
    yield * this.renderVerified(info, options)
  }

  async * renderVerified (info: PathInfo, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    const sha = createNarSha256({ offload: info.narSize >= OFFLOAD_THRESHOLD })
    let size = 0
    try {
      for await (const piece of renderNar(info.node, this, options)) {
        sha.update(piece)
        size += piece.byteLength
        await sha.ready()
        yield piece
      }
    } finally {
      // on error, early return by the consumer, or a wrong length: no digest will be asked for
      if (size !== info.narSize) sha.close()
    }
    const digest = size === info.narSize ? toHex(await sha.digest()) : 'not computed'
    if (size !== info.narSize || digest !== toHex(info.narHash)) {
      throw new NarHashMismatchError(`rendered NAR of ${info.storePath} (${size} bytes, sha256 ${digest}) does not match its PathInfo (${info.narSize} bytes, sha256 ${toHex(info.narHash)})`)
    }
  }

  /** Renders a node to a NAR (no PathInfo needed). */
  render (node: CastoreNode, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    return renderNar(node, this, options)
  }

  async close (): Promise<void> {
    await this.access.flush().catch(() => {})
    await this.onClose()
  }
}

export interface OpenCastoreInit {
  /** the node's data directory; castore lives in `<dataDir>/blobs`, `<dataDir>/db` */
  dataDir: string
  /** fsync writes (default true) */
  fsync?: boolean
}

/** Opens the default on-disk castore: FsBlobStore + LevelDB directories and path infos. */
export async function openCastore (init: OpenCastoreInit, options?: AbortOptions): Promise<Castore> {
  await mkdir(init.dataDir, { recursive: true })
  const blobs = await FsBlobStore.open({ root: init.dataDir, fsync: init.fsync })
  const db = await openLevelStores({ location: join(init.dataDir, 'db'), sync: init.fsync }, options)
  return new Castore({ blobs, directories: db.directories, pathInfos: db.pathInfos, kv: db.kv }, db.close)
}
