/**
 * Seekable NAR synthesis (snix `nar/seekable.rs` idea; spec binary-cache.md §1.3, §3.5):
 * render any byte range `[offset, offset + length)` of a castore node's NAR without rendering
 * what comes before it. The NAR size formula gives every node's serialised size from names and
 * sizes alone, so whole subtrees that end before the range are skipped arithmetically (only
 * their Directory messages are read, never their blobs), a file the range starts inside is read
 * from the right blob offset, and rendering stops as soon as the range is complete.
 *
 * The same walk yields `.ls` listing events (`castoreNarEvents`) with the `narOffset` of every
 * file computed by the formula, so a listing never reads file contents either.
 *
 * Castore trees are validated when they are ingested (sorted, valid names), so this walk does
 * not re-validate them; the bytes it produces are those of `renderNar` (tests compare slices).
 */
import type { AbortOptions } from '../abort.ts'
import type { NarEvent } from '../nar/index.ts'
import {
  NAR_DIRECTORY_OVERHEAD,
  NAR_ENTRY_OVERHEAD,
  NAR_EXECUTABLE_OVERHEAD,
  NAR_HEADER_SIZE,
  NAR_REGULAR_OVERHEAD,
  NAR_SYMLINK_OVERHEAD,
  NAR_MAGIC,
  padded
} from '../nar/index.ts'
import type { BlobStore } from './blob-store.ts'
import type { DirectoryStore } from './directory-store.ts'
import type { CastoreNode, Directory } from './directory.ts'
import { directoryEntries } from './directory.ts'
import { toHex } from './digest.ts'
import { NotFoundError, CastoreValidationError } from './errors.ts'

export interface NarRangeStores {
  blobs: BlobStore
  directories: DirectoryStore
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

const utf8 = new TextEncoder()

function framed (...tokens: string[]): Uint8Array {
  const parts = tokens.map(t => utf8.encode(t))
  const out = new Uint8Array(parts.reduce((n, p) => n + 8 + padded(p.length), 0))
  const view = new DataView(out.buffer)
  let at = 0
  for (const p of parts) {
    view.setBigUint64(at, BigInt(p.length), true)
    out.set(p, at + 8)
    at += 8 + padded(p.length)
  }
  return out
}

const HEADER = framed(NAR_MAGIC)
const REGULAR = framed('(', 'type', 'regular', 'contents')
const EXECUTABLE = framed('(', 'type', 'regular', 'executable', '', 'contents')
const SYMLINK = framed('(', 'type', 'symlink', 'target')
const DIRECTORY = framed('(', 'type', 'directory')
const ENTRY = framed('entry', '(', 'name')
const NODE = framed('node')
const CLOSE = framed(')')
const ZEROS = new Uint8Array(8)
/** Output pieces are coalesced to about this size; blob pieces at least this big pass through. */
const PIECE = 64 * 1024
const PASS_THROUGH = 16 * 1024

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

/** Signals the walk that the requested range is complete. */
class RangeDone extends Error {
  static override name = 'RangeDone'
  override name = 'RangeDone'
}

/**
 * Streams bytes `[offset, offset + length)` of the NAR of `node`. The caller checks the range
 * against the NarSize it knows (a range past the end simply yields fewer bytes).
 */
export async function * renderNarRange (node: CastoreNode, stores: NarRangeStores, options: NarRangeOptions = {}): AsyncGenerator<Uint8Array> {
  const start = options.offset ?? 0
  const end = options.length === undefined ? Number.MAX_SAFE_INTEGER : start + options.length
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(end) || end < start) {
    throw new RangeError(`bad NAR range ${start}+${String(options.length)}`)
  }
  if (end === start) return
  const signal = options.signal
  let pos = 0
  let buf = new Uint8Array(PIECE)
  let fill = 0
  const ready: Uint8Array[] = []

  const flush = (): void => {
    if (fill === 0) return
    ready.push(buf.subarray(0, fill))
    buf = new Uint8Array(PIECE)
    fill = 0
  }
  /** Copies bytes into the coalescing buffer. */
  const append = (bytes: Uint8Array): void => {
    let part = bytes
    while (part.length > 0) {
      const n = Math.min(part.length, PIECE - fill)
      buf.set(part.subarray(0, n), fill)
      fill += n
      part = part.subarray(n)
      if (fill === PIECE) flush()
    }
  }
  /** Appends the part of literal `bytes` (at NAR position `pos`) that lies in the range. */
  const lit = (bytes: Uint8Array): void => {
    const from = pos
    const to = pos + bytes.length
    pos = to
    if (to <= start) return
    if (from >= end) throw new RangeDone()
    append(bytes.subarray(Math.max(0, start - from), Math.min(bytes.length, end - from)))
    if (to >= end) { flush(); throw new RangeDone() }
  }

  async function * contents (digest: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    const from = pos
    pos += size
    if (pos <= start || size === 0) return
    if (from >= end) throw new RangeDone()
    const offset = Math.max(0, start - from)
    const length = Math.min(size, end - from) - offset
    let got = 0
    for await (const piece of stores.blobs.read(digest, { offset, length, signal })) {
      got += piece.byteLength
      if (piece.byteLength >= PASS_THROUGH) {
        flush()
        yield * ready.splice(0)
        yield piece
      } else {
        append(piece)
        if (ready.length > 0) yield * ready.splice(0)
      }
    }
    if (got !== length) throw new NotFoundError(`blob ${toHex(digest)} yielded ${got} bytes, expected ${length}`)
    if (from + offset + length >= end) { flush(); throw new RangeDone() }
  }

  async function * walk (n: CastoreNode): AsyncGenerator<Uint8Array> {
    signal?.throwIfAborted()
    if (pos < start) {
      const size = await narNodeSize(n, stores, options)
      if (pos + size <= start) { pos += size; return }
    }
    if (n.type === 'file') {
      lit(n.executable ? EXECUTABLE : REGULAR)
      lit(u64(n.size))
      yield * ready.splice(0)
      yield * contents(n.digest, n.size)
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
        yield * walk(child)
        lit(CLOSE)
        if (ready.length > 0) yield * ready.splice(0)
      }
      lit(CLOSE)
    }
    if (ready.length > 0) yield * ready.splice(0)
  }

  try {
    lit(HEADER)
    yield * walk(node)
    flush()
  } catch (err) {
    if (!(err instanceof RangeDone)) throw err
  }
  yield * ready.splice(0)
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
