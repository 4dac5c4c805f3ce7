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
 */
import { open, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { AbortOptions } from '../abort.ts'
import { ChunkRanges } from '../blake3/ranges.ts'
import { chunkCount } from '../blake3/tree.ts'
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

export class PartialBlobStore {
  readonly dir: string
  private readonly fsync: boolean
  private readonly openBlobs = new Map<string, Promise<PartialBlob>>()

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
    return new PartialBlob(this, digest, hex, size, fh, ranges)
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

  constructor (store: PartialBlobStore, digest: B3Digest, hex: string, size: number, fh: FileHandle, verified: ChunkRanges) {
    this.store = store
    this.digest = digest
    this.hex = hex
    this.size = size
    this.fh = fh
    this.recorded = verified
    this.written = verified
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
