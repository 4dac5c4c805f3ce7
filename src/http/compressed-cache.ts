/**
 * Compress once, serve many times, always with `Content-Length` (binary-cache.md §3.4, §3.5).
 *
 * A compressed NAR's length is only known after compressing it, and a response must announce
 * it up front (Nix and Guix both rely on `Content-Length`; chunked bodies would lose Range
 * resumption too). So the first request for `<key>` in zstd or gzip compresses the NAR into
 * this directory — one compression per key at a time, later requests wait for it — and every
 * request is then served from the file (Range works on it like on any file).
 *
 * Files are written to `tmp/` and renamed into place (atomic), named
 * `<key>.<sha256 hex of the file>.<zst|gz>` so the index (size, FileHash) is rebuilt from the
 * directory listing on open. The directory is bounded: least recently used files are deleted
 * once the total exceeds `maxBytes` (a file being read stays readable after its unlink; if it is
 * gone before a reader opens it, the reader compresses it again — zstd/gzip output is
 * deterministic for the same input and level).
 */
import { createHash, randomBytes } from 'node:crypto'
import { open, mkdir, rm, readdir, stat, rename, unlink } from 'node:fs/promises'
import { openSync, readSync, closeSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import zlib from 'node:zlib'
import type { AbortOptions } from '../abort.ts'
import type { BodySource } from './types.ts'
import { DEFAULT_COMPRESSED_CACHE_BYTES, DEFAULT_ZSTD_LEVEL } from './constants.ts'

export type CachedCompression = 'zstd' | 'gzip'

const EXT: Record<CachedCompression, string> = { zstd: 'zst', gzip: 'gz' }
const FILE_NAME = /^([0-9a-z-]{1,200})\.([0-9a-f]{64})\.(zst|gz)$/
const KEY = /^[0-9a-z-]{1,200}$/

export interface CompressedEntry {
  key: string
  compression: CachedCompression
  file: string
  size: number
  /** sha256 of the compressed bytes (narinfo `FileHash`) */
  sha256: Uint8Array
}

export interface CompressedNarCacheInit {
  /** directory for the compressed files (created if needed) */
  dir: string
  /** bound on the total size of the files (default 4 GiB) */
  maxBytes?: number
  zstdLevel?: number
  gzipLevel?: number
}

export class CompressedNarCache {
  readonly dir: string
  private readonly maxBytes: number
  private readonly zstdLevel: number
  private readonly gzipLevel: number
  /** insertion order = LRU order (oldest first) */
  private readonly entries = new Map<string, CompressedEntry>()
  private readonly inflight = new Map<string, Promise<CompressedEntry>>()
  private readonly controller = new AbortController()
  private total = 0

  private constructor (init: CompressedNarCacheInit) {
    this.dir = init.dir
    this.maxBytes = init.maxBytes ?? DEFAULT_COMPRESSED_CACHE_BYTES
    this.zstdLevel = init.zstdLevel ?? DEFAULT_ZSTD_LEVEL
    this.gzipLevel = init.gzipLevel ?? 6
  }

  static async open (init: CompressedNarCacheInit): Promise<CompressedNarCache> {
    const cache = new CompressedNarCache(init)
    await mkdir(init.dir, { recursive: true })
    await rm(join(init.dir, 'tmp'), { recursive: true, force: true })
    await mkdir(join(init.dir, 'tmp'), { recursive: true })
    for (const name of (await readdir(init.dir)).sort()) {
      const m = FILE_NAME.exec(name)
      if (m === null) continue
      const file = join(init.dir, name)
      const compression: CachedCompression = m[3] === 'zst' ? 'zstd' : 'gzip'
      const size = (await stat(file)).size
      const entry: CompressedEntry = { key: m[1], compression, file, size, sha256: Buffer.from(m[2], 'hex') }
      cache.entries.set(`${compression}:${m[1]}`, entry)
      cache.total += size
    }
    return cache
  }

  /** Total bytes of the cached files. */
  get size (): number {
    return this.total
  }

  /** The entry if it is already compressed (for a narinfo's FileSize / FileHash). */
  peek (key: string, compression: CachedCompression): CompressedEntry | undefined {
    return this.entries.get(`${compression}:${key}`)
  }

  /**
   * The compressed file for `key`, compressing `produce()` (the uncompressed NAR) first if
   * needed. The compression is not tied to the caller's signal (other requests may wait for
   * it); `close()` aborts it.
   */
  async get (key: string, compression: CachedCompression, produce: (options: AbortOptions) => AsyncIterable<Uint8Array>, options: AbortOptions = {}): Promise<CompressedEntry> {
    if (!KEY.test(key)) throw new RangeError(`bad cache key ${JSON.stringify(key)}`)
    const id = `${compression}:${key}`
    const known = this.entries.get(id)
    if (known !== undefined) {
      this.entries.delete(id)
      this.entries.set(id, known)
      return known
    }
    let job = this.inflight.get(id)
    if (job === undefined) {
      job = this.compress(key, compression, produce).finally(() => this.inflight.delete(id))
      this.inflight.set(id, job)
    }
    const signal = options.signal
    if (signal === undefined) return await job
    signal.throwIfAborted()
    return await new Promise<CompressedEntry>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      job.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
    })
  }

  /** Streams bytes `[offset, offset + length)` of a compressed file (recompressing if evicted). */
  async * read (entry: CompressedEntry, offset: number, length: number, produce: (options: AbortOptions) => AsyncIterable<Uint8Array>, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
    if (length === 0) return
    let file = entry.file
    let handle
    try {
      handle = await open(file, 'r')
    } catch (err: any) {
      if (err.code !== 'ENOENT') throw err
      const again = await this.get(entry.key, entry.compression, produce, options)
      if (again.size !== entry.size) throw new Error(`recompressed ${entry.key} has ${again.size} bytes, expected ${entry.size}`)
      file = again.file
      handle = await open(file, 'r')
    }
    const stream = handle.createReadStream({ start: offset, end: offset + length - 1, highWaterMark: 256 * 1024, signal: options.signal })
    let got = 0
    for await (const piece of stream) {
      got += (piece as Buffer).byteLength
      yield piece as Buffer
    }
    if (got !== length) throw new Error(`compressed file ${file} ended after ${got} of ${length} bytes`)
  }

  /**
   * The same bytes as `read`, as a pull source reading the file with synchronous preads
   * (page-cache reads are far cheaper than thread-pool round trips; see NarCursor).
   */
  open (entry: CompressedEntry, offset: number, length: number, produce: (options: AbortOptions) => AsyncIterable<Uint8Array>, options: AbortOptions = {}): BodySource {
    let fd: number | undefined
    let pos = offset
    const end = offset + length
    const openFd = async (): Promise<number> => {
      try {
        return openSync(entry.file, 'r')
      } catch (err: any) {
        if (err.code !== 'ENOENT') throw err
        const again = await this.get(entry.key, entry.compression, produce, options)
        if (again.size !== entry.size) throw new Error(`recompressed ${entry.key} has ${again.size} bytes, expected ${entry.size}`)
        return openSync(again.file, 'r')
      }
    }
    return {
      fill: async (buf) => {
        if (pos >= end) return 0
        options.signal?.throwIfAborted()
        fd ??= await openFd()
        const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos)
        if (n === 0) throw new Error(`compressed file ${entry.file} ended at ${pos} of ${end} bytes`)
        pos += n
        return n
      },
      close: () => {
        if (fd !== undefined) closeSync(fd)
        fd = undefined
        pos = end
      }
    }
  }

  private async compress (key: string, compression: CachedCompression, produce: (options: AbortOptions) => AsyncIterable<Uint8Array>): Promise<CompressedEntry> {
    const signal = this.controller.signal
    const tmp = join(this.dir, 'tmp', randomBytes(12).toString('hex'))
    const sha = createHash('sha256')
    let size = 0
    const fd = openSync(tmp, 'wx')
    const emit = (piece: Uint8Array): void => {
      sha.update(piece)
      size += piece.byteLength
      let off = 0
      while (off < piece.byteLength) off += writeSync(fd, piece, off, piece.byteLength - off)
    }
    try {
      // one stream (one zstd frame / gzip member); 256 KiB output chunks keep thread-pool
      // round trips few. (Independent 4 MiB zstd frames compressed in parallel were no faster
      // here and up to 40 % larger.)
      const compressor = compression === 'zstd'
        ? zlib.createZstdCompress({ chunkSize: 256 * 1024, params: { [zlib.constants.ZSTD_c_compressionLevel]: this.zstdLevel, [zlib.constants.ZSTD_c_checksumFlag]: 1 } })
        : zlib.createGzip({ level: this.gzipLevel, chunkSize: 256 * 1024 })
      await pipeline(Readable.from(produce({ signal }), { objectMode: false }), compressor, async function (source: AsyncIterable<Buffer>) {
        for await (const piece of source) emit(piece)
      }, { signal })
      closeSync(fd)
    } catch (err) {
      try { closeSync(fd) } catch {}
      await rm(tmp, { force: true })
      throw err
    }
    const digest = sha.digest()
    const file = join(this.dir, `${key}.${digest.toString('hex')}.${EXT[compression]}`)
    await rename(tmp, file)
    const entry: CompressedEntry = { key, compression, file, size, sha256: new Uint8Array(digest) }
    this.entries.set(`${compression}:${key}`, entry)
    this.total += size
    await this.evict(entry)
    return entry
  }

  private async evict (keep: CompressedEntry): Promise<void> {
    for (const [id, e] of this.entries) {
      if (this.total <= this.maxBytes) break
      if (e === keep) continue
      this.entries.delete(id)
      this.total -= e.size
      await unlink(e.file).catch(() => {})
    }
  }

  /** Drops the compressed files of these store paths (hash parts): GC evicted them. */
  async forget (hashParts: Iterable<string>): Promise<void> {
    const gone = new Set(hashParts)
    for (const [id, e] of [...this.entries]) {
      if (!gone.has(e.key.slice(0, 32))) continue
      this.entries.delete(id)
      this.total -= e.size
      await unlink(e.file).catch(() => {})
    }
  }

  /** Aborts compressions in progress. */
  close (): void {
    this.controller.abort(new Error('compressed NAR cache closed'))
  }
}
