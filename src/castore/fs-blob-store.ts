/**
 * BlobStore on the local filesystem.
 *
 * Layout under `root`:
 *   blobs/<hex[0..2]>/<hex>        the blob's bytes
 *   blobs/<hex[0..2]>/<hex>.obao   its 16 KiB-group pre-order outboard (absent when ≤ 16 KiB)
 *   tmp/                           files being written (emptied on open)
 *
 * A write goes to tmp/, is hashed as it is written, fsynced, and only then renamed into place
 * (outboard first, data last), so a data file that exists is complete and verified. Renames
 * become durable at the next `sync()` (one fsync per touched directory): the castore commits
 * a PathInfo only after that, so a crash leaves at worst unreferenced blobs, never partial ones.
 */
import { open, mkdir, rename, rm, readdir, stat, unlink, readFile } from 'node:fs/promises'
import { openSync, writeSync, closeSync, fsyncSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { AbortOptions } from '../abort.ts'
import type { BlobPutOptions, BlobPutResult, BlobReadOptions, BlobStat, BlobStore } from './blob-store.ts'
import { BlobHasher } from './blob-hashing.ts'
import type { OutboardSink } from './blob-hashing.ts'
import { clampRange } from './memory-blob-store.ts'
import { digestEquals, toHex, fromHex } from './digest.ts'
import type { B3Digest } from './digest.ts'
import { DigestMismatchError, NotFoundError } from './errors.ts'

const WRITE_BUFFER = 512 * 1024
const READ_BUFFER = 512 * 1024
const READ_AHEAD = 3
const HEX_NAME = /^[0-9a-f]{64}$/

/**
 * Writes all `length` bytes of `data` at `position`: a short write (the disk filling up) is
 * continued, and fails with the system's error (ENOSPC) instead of leaving a hole.
 */
async function writeFully (fh: FileHandle, data: Uint8Array, length: number, position: number): Promise<void> {
  let done = 0
  while (done < length) {
    const { bytesWritten } = await fh.write(data, done, length - done, position + done)
    if (bytesWritten === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    done += bytesWritten
  }
}

export interface FsBlobStoreInit {
  /** directory that holds `blobs/` and `tmp/` */
  root: string
  /** fsync files and directories (default true; tests of throughput may turn it off) */
  fsync?: boolean
}

export class FsBlobStore implements BlobStore {
  readonly root: string
  private readonly fsync: boolean
  private readonly dirtyDirs = new Set<string>()
  private readonly knownDirs = new Set<string>()

  private constructor (init: FsBlobStoreInit) {
    this.root = init.root
    this.fsync = init.fsync ?? true
  }

  /** Opens (creating if needed) a store and removes leftovers of interrupted writes. */
  static async open (init: FsBlobStoreInit): Promise<FsBlobStore> {
    const store = new FsBlobStore(init)
    await mkdir(join(init.root, 'blobs'), { recursive: true })
    await rm(join(init.root, 'tmp'), { recursive: true, force: true })
    await mkdir(join(init.root, 'tmp'), { recursive: true })
    return store
  }

  dataPath (digest: B3Digest): string {
    const hex = toHex(digest)
    return join(this.root, 'blobs', hex.slice(0, 2), hex)
  }

  private tmpPath (): string {
    return join(this.root, 'tmp', randomBytes(12).toString('hex'))
  }

  async has (digest: B3Digest, options?: AbortOptions): Promise<boolean> {
    return (await this.stat(digest, options)) !== undefined
  }

  async stat (digest: B3Digest, options?: AbortOptions): Promise<BlobStat | undefined> {
    options?.signal?.throwIfAborted()
    try {
      const s = await stat(this.dataPath(digest))
      return { size: s.size }
    } catch (err: any) {
      if (err.code === 'ENOENT') return undefined
      throw err
    }
  }

  async * read (digest: B3Digest, options: BlobReadOptions = {}): AsyncGenerator<Uint8Array> {
    let fh: FileHandle
    try {
      fh = await open(this.dataPath(digest), 'r')
    } catch (err: any) {
      if (err.code === 'ENOENT') throw new NotFoundError(`blob ${toHex(digest)} not found`)
      throw err
    }
    // keep READ_AHEAD reads in flight so the disk (or page cache) works while we yield
    const queue: Array<Promise<Uint8Array>> = []
    try {
      const { size } = await fh.stat()
      const { start, end } = clampRange(size, options)
      let next = start
      const issue = (): void => {
        const n = Math.min(READ_BUFFER, end - next)
        const at = next
        next += n
        queue.push(fh.read(Buffer.allocUnsafe(n), 0, n, at).then(({ bytesRead, buffer }) => {
          if (bytesRead !== n) throw new NotFoundError(`blob ${toHex(digest)} shrank while being read`)
          return buffer
        }))
      }
      while (next < end && queue.length < READ_AHEAD) issue()
      while (queue.length > 0) {
        options.signal?.throwIfAborted()
        const piece = await queue.shift()!
        if (next < end) issue()
        yield piece
      }
    } finally {
      // the consumer may stop early: let pending reads finish before the handle is closed
      await Promise.allSettled(queue)
      await fh.close()
    }
  }

  async outboard (digest: B3Digest, options?: AbortOptions): Promise<Uint8Array | undefined> {
    const s = await this.stat(digest, options)
    if (s === undefined) return undefined
    if (s.size <= 16384) return new Uint8Array(0)
    try {
      return new Uint8Array(await readFile(this.dataPath(digest) + '.obao', { signal: options?.signal }))
    } catch (err: any) {
      if (err.code === 'ENOENT') return undefined
      throw err
    }
  }

  async put (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: BlobPutOptions): Promise<BlobPutResult> {
    const { size, signal } = options
    signal?.throwIfAborted()
    const tmp = this.tmpPath()
    let obTmp: string | undefined
    let obFd: number | undefined
    const pending: Array<{ offset: number, pair: Uint8Array }> = []
    const flushPending = (): void => {
      for (const p of pending) {
        // a short write (disk full) must not leave a hole: finish it or fail with the error
        let done = 0
        while (done < 64) {
          const n = writeSync(obFd!, p.pair, done, 64 - done, p.offset + done)
          if (n === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
          done += n
        }
      }
      pending.length = 0
    }
    const sink: OutboardSink = {
      write: (offset, pair) => {
        if (obFd === undefined) {
          obTmp = this.tmpPath()
          obFd = openSync(obTmp, 'wx')
        }
        pending.push({ offset, pair: new Uint8Array(pair) })
        if (pending.length >= 4096) flushPending()
      }
    }
    const hasher = new BlobHasher(size, sink)
    let fh: FileHandle | undefined
    try {
      if (size <= WRITE_BUFFER) {
        // small blob: hash in memory first, so a duplicate costs no file at all
        const data = new Uint8Array(size)
        for await (const piece of source) {
          signal?.throwIfAborted()
          const at = hasher.bytesSeen
          hasher.update(piece)
          data.set(piece, at)
        }
        const digest = this.checkDigest(hasher.finalize(), options)
        if (await this.has(digest)) return { digest, size, added: false }
        fh = await open(tmp, 'wx')
        await writeFully(fh, data, size, 0)
        return await this.commit(fh, tmp, digest, hasher.outboard, undefined, size)
      }
      fh = await open(tmp, 'wx')
      const file = fh
      let buffers = [Buffer.allocUnsafe(WRITE_BUFFER), Buffer.allocUnsafe(WRITE_BUFFER)]
      const inflight: Array<Promise<unknown> | undefined> = [undefined, undefined]
      let which = 0
      let fill = 0
      let filePos = 0
      const flush = async (): Promise<void> => {
        if (fill === 0) return
        const buf = buffers[which]
        const at = filePos
        const n = fill
        inflight[which] = writeFully(file, buf, n, at)
        filePos += n
        fill = 0
        which ^= 1
        if (inflight[which] !== undefined) { await inflight[which]; inflight[which] = undefined }
      }
      for await (const piece of source) {
        signal?.throwIfAborted()
        hasher.update(piece)
        let off = 0
        while (off < piece.byteLength) {
          const n = Math.min(WRITE_BUFFER - fill, piece.byteLength - off)
          buffers[which].set(piece.subarray(off, off + n), fill)
          fill += n
          off += n
          if (fill === WRITE_BUFFER) await flush()
        }
      }
      await flush()
      await Promise.all(inflight)
      buffers = []
      const digest = this.checkDigest(hasher.finalize(), options)
      if (obFd !== undefined) flushPending()
      if (await this.has(digest)) {
        await fh.close(); fh = undefined
        await unlink(tmp)
        return { digest, size, added: false }
      }
      return await this.commit(fh, tmp, digest, hasher.outboard, obFd === undefined ? undefined : { fd: obFd, path: obTmp! }, size)
    } catch (err) {
      if (fh !== undefined) await fh.close().catch(() => {})
      await rm(tmp, { force: true })
      throw err
    } finally {
      if (obFd !== undefined) { try { closeSync(obFd) } catch {} }
      if (obTmp !== undefined) await rm(obTmp, { force: true })
    }
  }

  private checkDigest (digest: B3Digest, options: BlobPutOptions): B3Digest {
    if (options.expected !== undefined && !digestEquals(options.expected, digest)) {
      throw new DigestMismatchError('blob', toHex(options.expected), toHex(digest))
    }
    options.onHashed?.(digest)
    return digest
  }

  /** fsync the data (and outboard), rename outboard then data into place. */
  private async commit (fh: FileHandle, tmp: string, digest: B3Digest, outboard: Uint8Array | undefined, large: { fd: number, path: string } | undefined, size: number): Promise<BlobPutResult> {
    if (this.fsync) await fh.sync()
    await fh.close()
    const dest = this.dataPath(digest)
    const dir = join(dest, '..')
    if (!this.knownDirs.has(dir)) {
      await mkdir(dir, { recursive: true })
      this.knownDirs.add(dir)
    }
    if (outboard !== undefined && outboard.byteLength > 0) {
      const obTmp = this.tmpPath()
      const ob = await open(obTmp, 'wx')
      try {
        await writeFully(ob, outboard, outboard.byteLength, 0)
        if (this.fsync) await ob.sync()
      } finally { await ob.close() }
      await rename(obTmp, dest + '.obao')
    } else if (large !== undefined) {
      // outboard too big for memory: it was written in place to its own temp file
      if (this.fsync) fsyncSync(large.fd)
      await rename(large.path, dest + '.obao')
    }
    await rename(tmp, dest)
    this.dirtyDirs.add(dir)
    return { digest, size, added: true }
  }

  /** Makes the renames of every blob added since the last call durable. */
  async sync (): Promise<void> {
    if (!this.fsync) { this.dirtyDirs.clear(); return }
    const dirs = [...this.dirtyDirs]
    this.dirtyDirs.clear()
    await Promise.all(dirs.map(async d => {
      const h = await open(d, 'r')
      try { await h.sync() } finally { await h.close() }
    }))
  }

  async delete (digest: B3Digest, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const dest = this.dataPath(digest)
    await rm(dest, { force: true })
    await rm(dest + '.obao', { force: true })
  }

  async * list (options?: AbortOptions): AsyncGenerator<B3Digest> {
    const top = join(this.root, 'blobs')
    for (const shard of (await readdir(top)).sort()) {
      options?.signal?.throwIfAborted()
      for (const name of (await readdir(join(top, shard))).sort()) {
        if (HEX_NAME.test(name)) yield fromHex(name)
      }
    }
  }
}
