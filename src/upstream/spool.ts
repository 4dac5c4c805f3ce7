/**
 * The uncompressed NAR of a pull in progress, spooled to a temporary file so that clients can
 * read it while it arrives, each at its own pace, with memory bounded (one chunk per reader).
 *
 * A reader never gets the last byte before the castore has committed the path (NarHash and
 * NarSize verified): if verification fails, every reader's stream throws instead of ending, so
 * a client never receives a clean, complete response of bad bytes. After the commit (or a
 * failure) the file is removed; readers that opened it keep reading from their descriptor.
 */
import { open, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { AbortOptions } from '../abort.ts'
import { PullFailedError } from './errors.ts'
import { SPOOL_MAX_QUEUED, SPOOL_READ_CHUNK, SPOOL_WRITE_CHUNK } from './constants.ts'

export class Spool {
  readonly path: string
  readonly size: number
  /** bytes on disk (readers may read below it) */
  private written = 0
  /** bytes handed to `write` (queued or on disk) */
  private accepted = 0
  private queued = 0
  private tail: Promise<void> = Promise.resolve()
  /** small pieces gathered into one write of about `SPOOL_WRITE_CHUNK` bytes */
  private gathered: Uint8Array[] = []
  private gatheredBytes = 0
  private writeError: Error | undefined
  private committed = false
  private error: Error | undefined
  private writer: FileHandle | undefined
  private readonly waiters = new Set<() => void>()

  private constructor (path: string, size: number, writer: FileHandle) {
    this.path = path
    this.size = size
    this.writer = writer
  }

  static async create (dir: string, size: number): Promise<Spool> {
    const path = join(dir, `pull-${randomBytes(8).toString('hex')}.nar`)
    const writer = await open(path, 'wx', 0o600)
    return new Spool(path, size, writer)
  }

  get done (): boolean {
    return this.committed || this.error !== undefined
  }

  /**
   * Appends bytes of the NAR. Writes run behind the caller (who passes the same bytes on to the
   * castore meanwhile), at most `SPOOL_MAX_QUEUED` bytes behind; `piece` must not be modified.
   */
  async write (piece: Uint8Array): Promise<void> {
    const writer = this.writer
    if (writer === undefined) throw this.error ?? new PullFailedError('spool closed')
    if (this.writeError !== undefined) throw this.writeError
    // bytes past the announced size are not spooled (the castore rejects the NAR anyway)
    const n = Math.min(Math.max(0, this.size - this.accepted - this.gatheredBytes), piece.byteLength)
    if (n === 0) return
    this.gathered.push(n === piece.byteLength ? piece : piece.subarray(0, n))
    this.gatheredBytes += n
    if (this.gatheredBytes >= SPOOL_WRITE_CHUNK) this.flush(writer)
    if (this.queued > SPOOL_MAX_QUEUED) await this.tail
  }

  /** Queues the gathered pieces as one write. */
  private flush (writer: FileHandle): void {
    if (this.gatheredBytes === 0) return
    const piece = this.gathered.length === 1 ? this.gathered[0] : Buffer.concat(this.gathered)
    const n = this.gatheredBytes
    this.gathered = []
    this.gatheredBytes = 0
    const at = this.accepted
    this.accepted += n
    this.queued += n
    this.tail = this.tail.then(async () => {
      if (this.writeError !== undefined) return
      let off = 0
      while (off < n) {
        const { bytesWritten } = await writer.write(piece, off, n - off, at + off)
        off += bytesWritten
      }
      this.written = at + n
      this.queued -= n
      this.wake()
    }).catch((err: Error) => { this.writeError ??= err })
  }

  /** The castore holds the path: readers may take the last bytes, once they are on disk. */
  async commit (): Promise<void> {
    if (this.writer !== undefined) this.flush(this.writer)
    await this.tail
    if (this.writeError !== undefined) {
      // the path is stored; only readers of the spool fail (a retry is served from the castore)
      this.error = new PullFailedError(`spool ${this.path}: ${this.writeError.message}`)
    } else {
      this.committed = true
    }
    this.wake()
    await this.close()
  }

  /** The pull failed: every reader throws `error`. */
  async fail (error: Error): Promise<void> {
    if (this.committed) return
    this.error = error
    this.wake()
    await this.tail
    await this.close()
  }

  private async close (): Promise<void> {
    const w = this.writer
    this.writer = undefined
    await w?.close().catch(() => {})
    await rm(this.path, { force: true }).catch(() => {})
  }

  private wake (): void {
    for (const w of this.waiters) w()
    this.waiters.clear()
  }

  private async changed (signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { this.waiters.delete(wake); reject(signal?.reason) }
      const wake = (): void => { signal?.removeEventListener('abort', onAbort); resolve() }
      this.waiters.add(wake)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Opens a reader at byte 0; undefined when the file is gone already (the pull is over: the
   * caller serves the committed path from the castore, or reports the failure).
   */
  async openReader (): Promise<FileHandle | undefined> {
    if (this.done) return undefined
    try {
      return await open(this.path, 'r')
    } catch (err: any) {
      if (err.code === 'ENOENT') return undefined
      throw err
    }
  }

  /** The NAR as it arrives, from an open reader; throws if the pull fails. */
  async * read (fh: FileHandle, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
    try {
      let pos = 0
      while (pos < this.size) {
        if (this.error !== undefined) throw this.error
        const limit = this.committed ? this.size : Math.min(this.written, this.size - 1)
        if (pos >= limit) {
          await this.changed(options.signal)
          continue
        }
        const want = Math.min(limit - pos, SPOOL_READ_CHUNK)
        const buf = Buffer.allocUnsafe(want)
        const { bytesRead } = await fh.read(buf, 0, want, pos)
        if (bytesRead === 0) throw new PullFailedError(`spool ${this.path} ended at ${pos} of ${this.size} bytes`)
        pos += bytesRead
        yield buf.subarray(0, bytesRead)
      }
      if (this.error !== undefined) throw this.error
    } finally {
      await fh.close().catch(() => {})
    }
  }
}
