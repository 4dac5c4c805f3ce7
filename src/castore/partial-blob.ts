/**
 * Partial blobs: a blob whose bytes arrive as verified ranges, in any order and from several
 * peers, kept on disk so a download survives a restart and resumes from what was verified.
 *
 * Layout under `root` (the data directory):
 *   partial/<hex>.part     the blob's bytes at their offsets (sparse; holes are unverified)
 *   partial/<hex>.ranges   JSON `{ size, ranges }`: verified chunk ranges (1 KiB units), written
 *                          via tmp + fsync + rename, only after the data it describes is fsynced
 *
 * Invariant: every chunk listed in `.ranges` holds bytes that were verified against the BLAKE3
 * root before they were written. Bytes written but not yet recorded are simply fetched again
 * after a crash. `finalize` streams the file into the BlobStore with `expected` = the digest,
 * which hashes it once more (the BlobStore computes the outboard) and makes it visible
 * atomically; the partial files are removed afterwards.
 *
 * While a blob is open, the parent pairs received with its data are kept in memory
 * (`SparseOutboard`), so that its verified groups can be served to other peers (`servable`).
 * They are not persisted: ranges restored after a restart are not served.
 */
import { open, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { AbortOptions } from '../abort.ts'
import { ChunkRanges } from '../blake3/ranges.ts'
import { TreeGeometry, chunkCount, largestPowerOfTwoBelow, preOrderIndex } from '../blake3/tree.ts'
import { GROUP_LOG, PAIR_LEN } from '../blake3/constants.ts'
import { PreOrderOutboard } from '../blake3/outboard.ts'
import type { RandomAccessReader } from '../blake3/outboard.ts'
import type { BlobPutResult, BlobStore } from './blob-store.ts'
import { toHex } from './digest.ts'
import type { B3Digest } from './digest.ts'

export interface PartialBlobStoreInit {
  /** data directory; partial blobs live in `<root>/partial` */
  root: string
  /** fsync data and records (default true) */
  fsync?: boolean
}

const READ_PIECE = 1024 * 1024

/** The verified part of a blob still being downloaded, as `PartialBlobStore.servable` gives it. */
export interface ServablePartial {
  size: number
  /** chunks that may be served: whole verified groups whose parents are in `outboard` */
  verified: ChunkRanges
  /** the parents received so far (zeros elsewhere) */
  outboard: PreOrderOutboard
  /** the blob's bytes; only reads inside `verified` are meaningful */
  reader: RandomAccessReader
}

/** Largest sparse outboard kept in memory (64 bytes per 16 KiB group: blobs up to 4 GiB). */
export const MAX_SPARSE_OUTBOARD = 16 * 1024 * 1024

/**
 * The parent pairs of a blob received so far, laid out as its pre-order outboard (zeros where
 * none came yet), allocated on the first pair; and the chunks that can be served from them:
 * groups wholly written whose parents on the path from the root had all been received when the
 * group's last bytes were written. Not kept for outboards over `MAX_SPARSE_OUTBOARD`.
 */
export class SparseOutboard {
  readonly root: Uint8Array
  readonly geometry: TreeGeometry
  private pairs: Uint8Array | undefined
  /** one byte per pair: 1 once received */
  private received: Uint8Array | undefined
  private ready = ChunkRanges.empty()

  constructor (root: Uint8Array, size: number) {
    this.root = root
    this.geometry = new TreeGeometry(size, GROUP_LOG)
  }

  /** Whether pairs are being kept (one was written and the outboard is not too large). */
  get kept (): boolean {
    return this.pairs !== undefined
  }

  /** Chunks that can be served (whole groups, and the last partial one). */
  get servable (): ChunkRanges {
    return this.ready
  }

  /**
   * Stores the verified pair at byte `offset` of the outboard. Throws `RangeError` unless
   * `offset` is a multiple of 64 inside the outboard and `pair` has 64 bytes.
   */
  write (offset: number, pair: Uint8Array): void {
    const obSize = this.geometry.outboardSize
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % PAIR_LEN !== 0 || offset + PAIR_LEN > obSize) {
      throw new RangeError(`bad outboard offset ${offset} (outboard of ${obSize} bytes)`)
    }
    if (pair.byteLength !== PAIR_LEN) throw new RangeError(`a parent pair has ${PAIR_LEN} bytes, not ${pair.byteLength}`)
    if (obSize > MAX_SPARSE_OUTBOARD) return
    if (this.pairs === undefined) {
      this.pairs = new Uint8Array(obSize)
      this.received = new Uint8Array(obSize / PAIR_LEN)
    }
    this.pairs.set(pair, offset)
    ;(this.received as Uint8Array)[offset / PAIR_LEN] = 1
  }

  /** Records that chunks [start, end) were written; `written`: every chunk written so far. */
  noteWritten (start: number, end: number, written: ChunkRanges): void {
    if (this.pairs === undefined) return
    const { groups, chunks } = this.geometry
    const per = 2 ** this.geometry.groupLog
    const add: Array<[number, number]> = []
    for (let g = Math.floor(start / per); g < Math.min(groups, Math.ceil(end / per)); g++) {
      const s = g * per
      const e = Math.min(s + per, chunks)
      if (this.ready.covers(s, e) || !written.covers(s, e) || !this.pathReceived(g)) continue
      if (add.length > 0 && add[add.length - 1][1] === s) add[add.length - 1][1] = e
      else add.push([s, e])
    }
    if (add.length > 0) this.ready = this.ready.union(ChunkRanges.fromRanges(add))
  }

  /** Whether every parent from the root down to group `g` was received. */
  private pathReceived (g: number): boolean {
    const received = this.received as Uint8Array
    let start = 0
    let end = this.geometry.groups
    let depth = 0
    while (end - start >= 2) {
      if (received[preOrderIndex(start, depth)] !== 1) return false
      const mid = start + largestPowerOfTwoBelow(end - start)
      if (g < mid) end = mid
      else start = mid
      depth++
    }
    return true
  }

  /** The pairs as an outboard (a live view: later pairs show up in it), if kept. */
  outboard (): PreOrderOutboard | undefined {
    if (this.pairs === undefined) return undefined
    return new PreOrderOutboard({ root: this.root, size: this.geometry.size, groupLog: this.geometry.groupLog, outboard: this.pairs })
  }
}

export class PartialBlobStore {
  readonly dir: string
  private readonly fsync: boolean
  private readonly openBlobs = new Map<string, Promise<PartialBlob>>()
  /** the open blobs, for synchronous lookups (`servable`) */
  private readonly live = new Map<string, PartialBlob>()

  constructor (init: PartialBlobStoreInit) {
    this.dir = join(init.root, 'partial')
    this.fsync = init.fsync ?? true
  }

  /**
   * Opens the partial blob for `digest` (creating it), restoring the verified ranges of an
   * earlier run when its recorded size equals `size`; otherwise starts afresh.
   */
  async open (digest: B3Digest, size: number, options?: AbortOptions): Promise<PartialBlob> {
    options?.signal?.throwIfAborted()
    const hex = toHex(digest)
    let p = this.openBlobs.get(hex)
    if (p === undefined) {
      p = this.doOpen(digest, hex, size)
      this.openBlobs.set(hex, p)
      p.catch(() => this.openBlobs.delete(hex))
    }
    const blob = await p
    if (blob.size !== size) throw new RangeError(`partial blob ${hex} is open with size ${blob.size}, not ${size}`)
    blob.refs++
    return blob
  }

  /**
   * The servable part of the blob `digest` if it is open (being downloaded) and keeps its
   * parents: chunks verified with their parents received in this run, the outboard so far,
   * and a reader over its file (failing once the blob is closed or finalised).
   */
  servable (digest: B3Digest): ServablePartial | undefined {
    return this.live.get(toHex(digest))?.servable()
  }

  /** Verified ranges recorded for `digest` (empty when there is no partial blob). */
  async verifiedRanges (digest: B3Digest, size: number): Promise<ChunkRanges> {
    const rec = await this.readRecord(toHex(digest))
    return rec !== undefined && rec.size === size ? rec.ranges : ChunkRanges.empty()
  }

  private async readRecord (hex: string): Promise<{ size: number, ranges: ChunkRanges } | undefined> {
    try {
      const json = JSON.parse(await readFile(join(this.dir, `${hex}.ranges`), 'utf8'))
      const ranges = ChunkRanges.fromBoundaries(json.ranges)
      if (!Number.isSafeInteger(json.size) || json.size < 0) return undefined
      return { size: json.size, ranges: ranges.intersection(ChunkRanges.from(0, chunkCount(json.size))) }
    } catch {
      return undefined
    }
  }

  private async doOpen (digest: B3Digest, hex: string, size: number): Promise<PartialBlob> {
    await mkdir(this.dir, { recursive: true })
    const rec = await this.readRecord(hex)
    const dataPath = join(this.dir, `${hex}.part`)
    let ranges = ChunkRanges.empty()
    let fh: FileHandle
    if (rec !== undefined && rec.size === size) {
      ranges = rec.ranges
      try {
        fh = await open(dataPath, 'r+')
      } catch {
        ranges = ChunkRanges.empty()
        fh = await open(dataPath, 'w+')
      }
    } else {
      fh = await open(dataPath, 'w+')
    }
    await fh.truncate(size)
    const blob = new PartialBlob(this, digest, hex, size, fh, ranges)
    this.live.set(hex, blob)
    return blob
  }

  /** @internal */
  async writeRecord (hex: string, size: number, ranges: ChunkRanges): Promise<void> {
    const tmp = join(this.dir, `.${hex}.${randomBytes(6).toString('hex')}.tmp`)
    const body = JSON.stringify({ size, ranges: ranges.boundaries })
    if (this.fsync) {
      const fh = await open(tmp, 'w')
      try {
        await fh.writeFile(body)
        await fh.sync()
      } finally {
        await fh.close()
      }
    } else {
      await writeFile(tmp, body)
    }
    await rename(tmp, join(this.dir, `${hex}.ranges`))
  }

  /** @internal */
  get syncWrites (): boolean {
    return this.fsync
  }

  /** @internal */
  async release (blob: PartialBlob, remove: boolean): Promise<void> {
    blob.refs--
    if (blob.refs > 0 && !remove) return
    this.openBlobs.delete(blob.hex)
    if (this.live.get(blob.hex) === blob) this.live.delete(blob.hex)
    await blob.closeHandle()
    if (remove) {
      await rm(join(this.dir, `${blob.hex}.ranges`), { force: true })
      await rm(join(this.dir, `${blob.hex}.part`), { force: true })
    }
  }

  /** Removes the partial blob of `digest`, if any. */
  async discard (digest: B3Digest): Promise<void> {
    const hex = toHex(digest)
    await rm(join(this.dir, `${hex}.ranges`), { force: true })
    await rm(join(this.dir, `${hex}.part`), { force: true })
  }
}

/** One blob being assembled. Positional writes, so several pieces may be written at once. */
export class PartialBlob {
  readonly digest: B3Digest
  readonly size: number
  readonly hex: string
  /** @internal */
  refs = 0
  private readonly store: PartialBlobStore
  private fh: FileHandle | undefined
  private recorded: ChunkRanges
  private written: ChunkRanges
  private flushing: Promise<void> = Promise.resolve()
  private readonly parents: SparseOutboard

  constructor (store: PartialBlobStore, digest: B3Digest, hex: string, size: number, fh: FileHandle, verified: ChunkRanges) {
    this.store = store
    this.digest = digest
    this.hex = hex
    this.size = size
    this.fh = fh
    this.recorded = verified
    this.written = verified
    this.parents = new SparseOutboard(digest, size)
  }

  /** Chunks whose verified bytes are in the file (recorded or not yet). */
  get verified (): ChunkRanges {
    return this.written
  }

  /** Chunks recorded durably (what a restart would find). */
  get durable (): ChunkRanges {
    return this.recorded
  }

  get complete (): boolean {
    return this.written.covers(0, chunkCount(this.size))
  }

  /**
   * Writes verified bytes at `offset` (a chunk boundary; the data ends at a chunk boundary or
   * at the end of the blob). The caller guarantees they were verified against the root.
   */
  async writeVerified (offset: number, data: Uint8Array): Promise<void> {
    if (this.fh === undefined) throw new Error('partial blob is closed')
    if (offset % 1024 !== 0 || offset + data.byteLength > this.size) throw new RangeError(`bad verified range at ${offset}+${data.byteLength}`)
    if (data.byteLength === 0) return
    let done = 0
    while (done < data.byteLength) {
      const { bytesWritten } = await this.fh.write(data, done, data.byteLength - done, offset + done)
      done += bytesWritten
    }
    const startChunk = offset / 1024
    const endChunk = offset + data.byteLength === this.size ? chunkCount(this.size) : (offset + data.byteLength) / 1024
    if (!Number.isInteger(endChunk)) throw new RangeError('verified data must end on a chunk boundary')
    this.written = this.written.union(ChunkRanges.from(startChunk, endChunk))
    this.parents.noteWritten(startChunk, endChunk, this.written)
  }

  /**
   * Keeps a verified parent pair (at byte `offset` of the pre-order outboard) for serving. The
   * parents of a group must be written before its data for the group to become servable.
   * Throws `RangeError` for an offset that is not a pair of this blob's outboard.
   */
  writeParent (offset: number, pair: Uint8Array): void {
    this.parents.write(offset, pair)
  }

  /** What of this blob can be served now (see `PartialBlobStore.servable`). */
  servable (): ServablePartial | undefined {
    if (this.fh === undefined) return undefined
    const outboard = this.parents.outboard()
    if (outboard === undefined) return undefined
    return { size: this.size, verified: this.parents.servable, outboard, reader: this.reader() }
  }

  /** Random access to the file (throws once the blob is closed). */
  private reader (): RandomAccessReader {
    return {
      read: async (offset, length, options) => {
        options?.signal?.throwIfAborted()
        const fh = this.fh
        if (fh === undefined) throw new Error(`partial blob ${this.hex} is closed`)
        if (offset < 0 || offset + length > this.size) throw new RangeError(`read of ${length} bytes at ${offset} is outside the blob`)
        const buf = new Uint8Array(length)
        let got = 0
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got)
          if (bytesRead === 0) throw new Error('partial blob file is shorter than its size')
          got += bytesRead
        }
        return buf
      }
    }
  }

  /** Makes every verified write durable and records it (fsync data, then the record). */
  async flush (): Promise<void> {
    const run = async (): Promise<void> => {
      const target = this.written
      if (target.equals(this.recorded) || this.fh === undefined) return
      if (this.store.syncWrites) await this.fh.datasync()
      await this.store.writeRecord(this.hex, this.size, target)
      this.recorded = target
    }
    this.flushing = this.flushing.then(run, run)
    await this.flushing
  }

  /** Reads the assembled bytes in order (only meaningful once complete). */
  async * read (options?: AbortOptions): AsyncGenerator<Uint8Array> {
    if (this.fh === undefined) throw new Error('partial blob is closed')
    let pos = 0
    while (pos < this.size) {
      options?.signal?.throwIfAborted()
      const n = Math.min(READ_PIECE, this.size - pos)
      const buf = new Uint8Array(n)
      let got = 0
      while (got < n) {
        const { bytesRead } = await this.fh.read(buf, got, n - got, pos + got)
        if (bytesRead === 0) throw new Error('partial blob file is shorter than its size')
        got += bytesRead
      }
      pos += n
      yield buf
    }
  }

  /**
   * Moves the complete blob into `blobs` (re-hashed there against the digest, atomic), then
   * removes the partial files. Throws if incomplete or if the bytes do not match.
   */
  async finalize (blobs: BlobStore, options?: AbortOptions): Promise<BlobPutResult> {
    if (!this.complete) throw new Error(`partial blob ${this.hex} is not complete`)
    const result = await blobs.put(this.read(options), { size: this.size, expected: this.digest, signal: options?.signal })
    await this.store.release(this, true)
    return result
  }

  /** Records progress and closes this handle (the partial blob stays for a later resume). */
  async close (): Promise<void> {
    if (this.fh === undefined) return
    await this.flush()
    await this.store.release(this, false)
  }

  /** @internal */
  async closeHandle (): Promise<void> {
    const fh = this.fh
    this.fh = undefined
    await fh?.close()
  }
}
