/**
 * Seekable NAR synthesis (snix `nar/seekable.rs` idea; spec binary-cache.md §1.3, §3.5):
 * render any byte range `[offset, offset + length)` of a castore node's NAR without rendering
 * what comes before it. The NAR size formula gives every node's serialised size from names and
 * sizes alone, so whole subtrees that end before the range are skipped arithmetically (only
 * their Directory messages are read, never their blobs), a file the range starts inside is read
 * from the right blob offset, and rendering stops as soon as the range is complete.
 *
 * `NarCursor` is the pull-style form a server uses: it fills caller-owned buffers, reading
 * blobs of a local file store with synchronous preads (see its comment).
 *
 * The same walk yields `.ls` listing events (`castoreNarEvents`) with the `narOffset` of every
 * file computed by the formula, so a listing never reads file contents either.
 *
 * Castore trees are validated when they are ingested (sorted, valid names), so this walk does
 * not re-validate them; the bytes it produces are those of `renderNar` (tests compare slices).
 */
import { openSync, readSync, closeSync } from 'node:fs'
import type { AbortOptions } from '../abort.ts'
import type { NarEvent } from '../nar/index.ts'
import {
  NAR_DIRECTORY_OVERHEAD,
  NAR_ENTRY_OVERHEAD,
  NAR_EXECUTABLE_OVERHEAD,
  NAR_HEADER_SIZE,
  NAR_REGULAR_OVERHEAD,
  NAR_SYMLINK_OVERHEAD,
  padded
} from '../nar/index.ts'
import type { BlobStore } from './blob-store.ts'
import type { DirectoryStore } from './directory-store.ts'
import type { CastoreNode, Directory } from './directory.ts'
import { directoryEntries } from './directory.ts'
import { toHex } from './digest.ts'
import { NotFoundError, CastoreValidationError } from './errors.ts'
import { NAR_TOKENS } from '../nar/tokens.ts'

export interface NarRangeStores {
  blobs: BlobStore
  /** only `get` is used (a caching wrapper will do) */
  directories: Pick<DirectoryStore, 'get'>
}

/**
 * Memo of directory NAR sizes by digest (hex). Directories are immutable, so a cache can be
 * shared between calls and stores; `NarSizeCache` bounds it.
 */
export interface DirectorySizeMemo {
  get: (key: string) => number | undefined
  set: (key: string, size: number) => void
}

/** A bounded memo: forgets everything once it holds `max` entries (cheap, good enough for sizes). */
export class NarSizeCache implements DirectorySizeMemo {
  private readonly map = new Map<string, number>()
  private readonly max: number
  constructor (max = 100_000) { this.max = max }
  get (key: string): number | undefined { return this.map.get(key) }
  set (key: string, size: number): void {
    if (this.map.size >= this.max) this.map.clear()
    this.map.set(key, size)
  }
}

export interface NarRangeOptions extends AbortOptions {
  /** first byte of the NAR to produce (default 0) */
  offset?: number
  /** number of bytes to produce (default: to the end) */
  length?: number
  /** memo of directory sizes, shared between calls */
  sizes?: DirectorySizeMemo
}

const { HEADER, REGULAR, EXECUTABLE, SYMLINK, DIRECTORY, ENTRY, NODE, CLOSE, ZEROS } = NAR_TOKENS
/** Size of the pieces renderNarRange yields. */
const PIECE = 256 * 1024

function u64 (n: number): Uint8Array {
  const b = new Uint8Array(8)
  let lo = n % 0x1_0000_0000
  let hi = Math.floor(n / 0x1_0000_0000)
  for (let i = 0; i < 4; i++) {
    b[i] = lo & 0xff
    b[i + 4] = hi & 0xff
    lo >>>= 8
    hi >>>= 8
  }
  return b
}

async function getDirectory (stores: NarRangeStores, digest: Uint8Array, options?: AbortOptions): Promise<Directory> {
  const dir = await stores.directories.get(digest, options)
  if (dir === undefined) throw new NotFoundError(`directory ${toHex(digest)} not found`)
  return dir
}

/**
 * Serialised NAR size of a node (without the 24-byte archive header). Directories are walked
 * (Directory messages only) and memoised by digest.
 */
export async function narNodeSize (node: CastoreNode, stores: NarRangeStores, options: NarRangeOptions = {}): Promise<number> {
  switch (node.type) {
    case 'file': return NAR_REGULAR_OVERHEAD + padded(node.size) + (node.executable ? NAR_EXECUTABLE_OVERHEAD : 0)
    case 'symlink': return NAR_SYMLINK_OVERHEAD + padded(node.target.length)
    case 'directory': {
      const key = toHex(node.digest)
      const known = options.sizes?.get(key)
      if (known !== undefined) return known
      options.signal?.throwIfAborted()
      const dir = await getDirectory(stores, node.digest, options)
      let size = NAR_DIRECTORY_OVERHEAD
      for (const { name, node: child } of directoryEntries(dir)) {
        size += NAR_ENTRY_OVERHEAD + padded(name.length) + await narNodeSize(child, stores, options)
      }
      if (!Number.isSafeInteger(size)) throw new CastoreValidationError('NAR size exceeds 2^53 - 1 bytes')
      options.sizes?.set(key, size)
      return size
    }
  }
}

/** NarSize of a whole archive whose root is `node`. */
export async function narSizeOfNode (node: CastoreNode, stores: NarRangeStores, options: NarRangeOptions = {}): Promise<number> {
  return NAR_HEADER_SIZE + await narNodeSize(node, stores, options)
}

/** A piece of the NAR in the requested range: literal bytes, or a slice of a blob. */
export type NarSegment =
  | { kind: 'literal', bytes: Uint8Array }
  | { kind: 'blob', digest: Uint8Array, offset: number, length: number }

/**
 * The segments covering bytes `[offset, offset + length)` of the NAR of `node`, in order.
 * Consecutive literal tokens are merged; whole subtrees before the range are skipped by size.
 */
export async function * narSegments (node: CastoreNode, stores: NarRangeStores, options: NarRangeOptions = {}): AsyncGenerator<NarSegment> {
  const start = options.offset ?? 0
  const end = options.length === undefined ? Number.MAX_SAFE_INTEGER : start + options.length
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(end) || end < start) {
    throw new RangeError(`bad NAR range ${start}+${String(options.length)}`)
  }
  if (end === start) return
  const signal = options.signal
  let pos = 0
  /** literal bytes waiting to be yielded (merged tokens) */
  let lits: Uint8Array[] = []
  let done = false

  const lit = (bytes: Uint8Array): void => {
    const from = pos
    pos += bytes.length
    if (pos <= start || from >= end) { if (from >= end) done = true; return }
    lits.push(bytes.subarray(Math.max(0, start - from), Math.min(bytes.length, end - from)))
    if (pos >= end) done = true
  }
  const flushLits = (): NarSegment | undefined => {
    if (lits.length === 0) return undefined
    const bytes = lits.length === 1 ? lits[0] : concat(lits)
    lits = []
    return { kind: 'literal', bytes }
  }

  async function * walk (n: CastoreNode): AsyncGenerator<NarSegment> {
    signal?.throwIfAborted()
    if (pos < start) {
      const size = await narNodeSize(n, stores, options)
      if (pos + size <= start) { pos += size; return }
    }
    if (n.type === 'file') {
      lit(n.executable ? EXECUTABLE : REGULAR)
      lit(u64(n.size))
      if (done) return
      const from = pos
      pos += n.size
      if (pos > start && n.size > 0) {
        const offset = Math.max(0, start - from)
        const length = Math.min(n.size, end - from) - offset
        const l = flushLits()
        if (l !== undefined) yield l
        yield { kind: 'blob', digest: n.digest, offset, length }
        if (from + offset + length >= end) { done = true; return }
      }
      lit(ZEROS.subarray(0, padded(n.size) - n.size))
      lit(CLOSE)
    } else if (n.type === 'symlink') {
      lit(SYMLINK)
      lit(u64(n.target.length))
      lit(n.target)
      lit(ZEROS.subarray(0, padded(n.target.length) - n.target.length))
      lit(CLOSE)
    } else {
      lit(DIRECTORY)
      if (done) return
      const dir = await getDirectory(stores, n.digest, options)
      for (const { name, node: child } of directoryEntries(dir)) {
        if (pos < start) {
          const size = NAR_ENTRY_OVERHEAD + padded(name.length) + await narNodeSize(child, stores, options)
          if (pos + size <= start) { pos += size; continue }
        }
        lit(ENTRY)
        lit(u64(name.length))
        lit(name)
        lit(ZEROS.subarray(0, padded(name.length) - name.length))
        lit(NODE)
        if (done) return
        yield * walk(child)
        if (done) return
        lit(CLOSE)
        if (done) return
      }
      lit(CLOSE)
    }
  }

  lit(HEADER)
  if (!done) yield * walk(node)
  const l = flushLits()
  if (l !== undefined) yield l
}

function concat (parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

/** A blob store whose blobs are plain local files (FsBlobStore): read them synchronously. */
interface LocalFileBlobs { dataPath: (digest: Uint8Array) => string }

function isLocalFileBlobs (blobs: BlobStore): blobs is BlobStore & LocalFileBlobs {
  return typeof (blobs as Partial<LocalFileBlobs>).dataPath === 'function'
}

/**
 * Pull-style reader of a NAR range: `fill(buf)` copies the next bytes into a caller-owned
 * buffer (so a server can recycle its buffers instead of allocating one per piece). Blobs of a
 * local file store are read with synchronous `pread`s straight into the buffer — from the page
 * cache that is ~10× cheaper than a round trip through the libuv thread pool per read
 * (measured on the dev VMs), at the price of blocking the event loop for one read (≤ the
 * buffer size) when the page cache is cold; other blob stores are read asynchronously.
 */
export class NarCursor {
  private readonly stores: NarRangeStores
  private readonly segments: AsyncGenerator<NarSegment>
  private readonly signal?: AbortSignal
  private readonly local: boolean
  private current?: NarSegment
  private used = 0
  private fd?: number
  private pieces?: AsyncIterator<Uint8Array>
  private leftover?: Uint8Array
  private closed = false

  constructor (node: CastoreNode, stores: NarRangeStores, options: NarRangeOptions & { syncReads?: boolean } = {}) {
    this.stores = stores
    this.signal = options.signal
    this.segments = narSegments(node, stores, options)
    this.local = options.syncReads !== false && isLocalFileBlobs(stores.blobs)
  }

  /** Fills `buf` with the next bytes of the range; returns how many (0 once it is exhausted). */
  async fill (buf: Uint8Array): Promise<number> {
    let at = 0
    while (at < buf.length) {
      if (this.current === undefined) {
        this.signal?.throwIfAborted()
        const r = await this.segments.next()
        if (r.done === true) break
        this.current = r.value
        this.used = 0
      }
      const seg = this.current
      if (seg.kind === 'literal') {
        const n = Math.min(seg.bytes.length - this.used, buf.length - at)
        buf.set(seg.bytes.subarray(this.used, this.used + n), at)
        this.used += n
        at += n
        if (this.used === seg.bytes.length) this.current = undefined
        continue
      }
      const want = Math.min(seg.length - this.used, buf.length - at)
      let n: number
      if (this.local) {
        if (this.fd === undefined) {
          try {
            this.fd = openSync((this.stores.blobs as unknown as LocalFileBlobs).dataPath(seg.digest), 'r')
          } catch (err: any) {
            if (err.code === 'ENOENT') throw new NotFoundError(`blob ${toHex(seg.digest)} not found`)
            throw err
          }
        }
        n = readSync(this.fd, buf, at, want, seg.offset + this.used)
      } else {
        if (this.pieces === undefined) this.pieces = this.stores.blobs.read(seg.digest, { offset: seg.offset, length: seg.length, signal: this.signal })[Symbol.asyncIterator]()
        if (this.leftover === undefined || this.leftover.length === 0) {
          const r = await this.pieces.next()
          this.leftover = r.done === true ? new Uint8Array(0) : r.value
        }
        n = Math.min(want, this.leftover.length)
        buf.set(this.leftover.subarray(0, n), at)
        this.leftover = this.leftover.subarray(n)
      }
      if (n === 0) throw new NotFoundError(`blob ${toHex(seg.digest)} ended before ${seg.offset + seg.length} bytes`)
      this.used += n
      at += n
      if (this.used === seg.length) this.endBlob()
    }
    return at
  }

  private endBlob (): void {
    this.current = undefined
    if (this.fd !== undefined) { closeSync(this.fd); this.fd = undefined }
    if (this.pieces !== undefined) { void this.pieces.return?.(); this.pieces = undefined }
    this.leftover = undefined
  }

  /** Releases the open file, if any. Idempotent. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.endBlob()
    void this.segments.return(undefined)
  }
}

/**
 * Streams bytes `[offset, offset + length)` of the NAR of `node`. The caller checks the range
 * against the NarSize it knows (a range past the end simply yields fewer bytes).
 */
export async function * renderNarRange (node: CastoreNode, stores: NarRangeStores, options: NarRangeOptions & { syncReads?: boolean } = {}): AsyncGenerator<Uint8Array> {
  const cursor = new NarCursor(node, stores, options)
  let left = options.length ?? Number.MAX_SAFE_INTEGER
  try {
    while (left > 0) {
      const buf = new Uint8Array(Math.min(PIECE, left))
      const n = await cursor.fill(buf)
      if (n === 0) return
      left -= n
      yield n === buf.length ? buf : buf.subarray(0, n)
    }
  } finally {
    cursor.close()
  }
}

const EMPTY: AsyncIterable<Uint8Array> = { async * [Symbol.asyncIterator] () {} }

/**
 * The `parseNar` events of a castore node's NAR, computed from the tree alone (file contents
 * are never read: `contents` is empty), with each file's `offset` = NAR position of its first
 * content byte. Feed to `narListing` for a `.ls` document.
 */
export async function * castoreNarEvents (node: CastoreNode, stores: NarRangeStores, options: AbortOptions = {}): AsyncGenerator<NarEvent> {
  let pos = NAR_HEADER_SIZE
  async function * walk (n: CastoreNode, path: Uint8Array[]): AsyncGenerator<NarEvent> {
    options.signal?.throwIfAborted()
    if (n.type === 'file') {
      const head = (n.executable ? EXECUTABLE : REGULAR).length + 8
      yield { type: 'regular', path, executable: n.executable, size: n.size, offset: pos + head, contents: EMPTY }
      pos += NAR_REGULAR_OVERHEAD + padded(n.size) + (n.executable ? NAR_EXECUTABLE_OVERHEAD : 0)
    } else if (n.type === 'symlink') {
      yield { type: 'symlink', path, target: n.target }
      pos += NAR_SYMLINK_OVERHEAD + padded(n.target.length)
    } else {
      yield { type: 'directory', path }
      pos += DIRECTORY.length
      const dir = await getDirectory(stores, n.digest, options)
      for (const { name, node: child } of directoryEntries(dir)) {
        pos += ENTRY.length + 8 + padded(name.length) + NODE.length
        yield * walk(child, [...path, name])
        pos += CLOSE.length
      }
      pos += CLOSE.length
      yield { type: 'end-directory', path }
    }
  }
  yield * walk(node, [])
}
