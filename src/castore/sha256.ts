/**
 * sha256 of NAR streams (the NarHash), computed either inline or on a worker thread.
 *
 * Ingest and export each hash every NAR byte with two functions (BLAKE3 per file, sha256 over
 * the NAR); on a machine with a second core, moving sha256 to a worker nearly halves the main
 * thread's work. Bytes are copied into 1 MiB batches whose buffers are transferred (not
 * cloned) to the worker; at most MAX_OUTSTANDING bytes are in flight, and `ready()` resolves
 * when the producer may continue, so memory stays bounded whatever the NAR size.
 */
import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'

/** sha256 is fastest on pieces that fit the core's cache (anchor-figures.md: ≤ 128 KiB). */
const SHA_PIECE = 128 * 1024
const BATCH = 1024 * 1024
const POOL = 4
const MAX_OUTSTANDING = 4 * 1024 * 1024

export interface NarSha256 {
  update: (piece: Uint8Array) => void
  /** resolves when the caller may feed more bytes (backpressure of the worker) */
  ready: () => Promise<void>
  digest: () => Promise<Uint8Array>
  /** releases the worker without a result */
  close: () => void
}

class InlineSha256 implements NarSha256 {
  private readonly hash = createHash('sha256')
  update (piece: Uint8Array): void {
    for (let off = 0; off < piece.byteLength; off += SHA_PIECE) {
      this.hash.update(piece.subarray(off, Math.min(piece.byteLength, off + SHA_PIECE)))
    }
  }

  async ready (): Promise<void> {}
  async digest (): Promise<Uint8Array> { return new Uint8Array(this.hash.digest()) }
  close (): void {}
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const hash = createHash('sha256')
parentPort.on('message', (msg) => {
  if (msg === null) { parentPort.postMessage({ digest: hash.digest() }); return }
  const bytes = new Uint8Array(msg)
  for (let off = 0; off < bytes.length; off += ${SHA_PIECE}) hash.update(bytes.subarray(off, Math.min(bytes.length, off + ${SHA_PIECE})))
  // hand the buffer back so the producer can reuse it (no allocation churn)
  parentPort.postMessage({ done: bytes.length, buffer: msg }, [msg])
})
`

class WorkerSha256 implements NarSha256 {
  private readonly worker: Worker
  private batch = new Uint8Array(BATCH)
  private readonly pool: ArrayBuffer[] = []
  private fill = 0
  private outstanding = 0
  private waiters: Array<() => void> = []
  private result: ((d: Uint8Array) => void) | undefined
  private failure: Error | undefined
  private rejectResult: ((err: Error) => void) | undefined

  constructor () {
    this.worker = new Worker(WORKER_SOURCE, { eval: true })
    this.worker.unref()
    this.worker.on('message', (msg: { done?: number, buffer?: ArrayBuffer, digest?: Uint8Array }) => {
      if (msg.done !== undefined) {
        this.outstanding -= msg.done
        if (msg.buffer !== undefined && msg.buffer.byteLength === BATCH && this.pool.length < POOL) this.pool.push(msg.buffer)
        if (this.outstanding <= MAX_OUTSTANDING / 2) this.wake()
      } else if (msg.digest !== undefined) {
        this.result?.(new Uint8Array(msg.digest))
      }
    })
    this.worker.on('error', (err) => { this.fail(err) })
    this.worker.on('exit', (code) => { if (code !== 0) this.fail(new Error(`sha256 worker exited with code ${code}`)) })
  }

  private fail (err: Error): void {
    this.failure ??= err
    this.rejectResult?.(err)
    this.wake()
  }

  private wake (): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  private send (): void {
    if (this.fill === 0) return
    const buf = this.fill === BATCH ? this.batch : this.batch.slice(0, this.fill)
    this.outstanding += this.fill
    this.worker.postMessage(buf.buffer, [buf.buffer as ArrayBuffer])
    const reuse = this.pool.pop()
    this.batch = reuse !== undefined ? new Uint8Array(reuse) : new Uint8Array(BATCH)
    this.fill = 0
  }

  update (piece: Uint8Array): void {
    if (this.failure !== undefined) throw this.failure
    let off = 0
    while (off < piece.byteLength) {
      const n = Math.min(BATCH - this.fill, piece.byteLength - off)
      this.batch.set(piece.subarray(off, off + n), this.fill)
      this.fill += n
      off += n
      if (this.fill === BATCH) this.send()
    }
  }

  async ready (): Promise<void> {
    while (this.outstanding > MAX_OUTSTANDING && this.failure === undefined) {
      await new Promise<void>(resolve => this.waiters.push(resolve))
    }
    if (this.failure !== undefined) throw this.failure
  }

  async digest (): Promise<Uint8Array> {
    if (this.failure !== undefined) throw this.failure
    this.send()
    try {
      return await new Promise<Uint8Array>((resolve, reject) => {
        this.result = resolve
        this.rejectResult = reject
        this.worker.postMessage(null)
      })
    } finally {
      this.close()
    }
  }

  close (): void {
    void this.worker.terminate()
  }
}

/** NARs at least this long (when the length is known) are hashed on a worker thread. */
export const OFFLOAD_THRESHOLD = 16 * 1024 * 1024

export function createNarSha256 (options: { offload?: boolean } = {}): NarSha256 {
  return options.offload === true ? new WorkerSha256() : new InlineSha256()
}
