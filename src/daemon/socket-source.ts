/**
 * A socket as a pull-based byte source for {@link WireReader}, lighter than a Readable's
 * async iterator: chunks from `'data'` events are queued (the socket is paused above a
 * high-water mark) and handed out by `next()` without extra promise hops when data is
 * already there. Leaving the iteration never destroys the socket, so a server can still
 * send an error after a reader gave up. An optional byte budget makes the source fail
 * once more than that many bytes were pulled (per-request argument limits).
 */
import type { Socket } from 'node:net'
import { ProtocolError } from './errors.ts'

const DONE: IteratorResult<Uint8Array> = { done: true, value: undefined }

export class SocketSource implements AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array> {
  private readonly socket: Socket
  private readonly highWaterMark: number
  private readonly queue: Uint8Array[] = []
  private head = 0
  private queued = 0
  private paused = false
  private ended = false
  private failure: Error | null = null
  private waiter: { resolve: (r: IteratorResult<Uint8Array>) => void, reject: (e: Error) => void } | null = null
  /** Bytes that may still be pulled before the source fails (default: unlimited). */
  budget = Number.POSITIVE_INFINITY

  constructor (socket: Socket, options: { highWaterMark?: number } = {}) {
    this.socket = socket
    this.highWaterMark = options.highWaterMark ?? 1024 * 1024
    socket.on('data', (chunk: Buffer) => { this.onData(chunk) })
    socket.once('end', () => { this.finish(null) })
    socket.once('close', () => { this.finish(null) })
    socket.on('error', (err) => { this.finish(err) })
  }

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    return this
  }

  private onData (chunk: Buffer): void {
    if (this.waiter != null && this.queued === 0) {
      const w = this.waiter
      this.waiter = null
      this.deliver(chunk, w.resolve, w.reject)
      return
    }
    this.queue.push(chunk)
    this.queued += chunk.byteLength
    if (!this.paused && this.queued >= this.highWaterMark) {
      this.paused = true
      this.socket.pause()
    }
  }

  private finish (err: Error | null): void {
    if (this.ended) return
    this.ended = true
    if (err != null) this.failure = err
    const w = this.waiter
    this.waiter = null
    if (w == null) return
    if (this.failure != null) w.reject(this.failure)
    else w.resolve(DONE)
  }

  private deliver (chunk: Uint8Array, resolve: (r: IteratorResult<Uint8Array>) => void, reject: (e: Error) => void): void {
    this.budget -= chunk.byteLength
    if (this.budget < 0) {
      reject(new ProtocolError('request arguments exceed the size limit of this server', 'ERR_TOO_LARGE'))
      return
    }
    resolve({ done: false, value: chunk })
  }

  async next (): Promise<IteratorResult<Uint8Array>> {
    if (this.head < this.queue.length) {
      const chunk = this.queue[this.head]
      this.queue[this.head++] = undefined as unknown as Uint8Array
      if (this.head === this.queue.length) {
        this.queue.length = 0
        this.head = 0
      } else if (this.head > 1024) {
        this.queue.splice(0, this.head)
        this.head = 0
      }
      this.queued -= chunk.byteLength
      if (this.paused && this.queued < this.highWaterMark / 2) {
        this.paused = false
        this.socket.resume()
      }
      return await new Promise((resolve, reject) => { this.deliver(chunk, resolve, reject) })
    }
    if (this.failure != null) throw this.failure
    if (this.ended) return DONE
    return await new Promise((resolve, reject) => { this.waiter = { resolve, reject } })
  }

  /** Stops reading: the socket itself is left alone. */
  async return (): Promise<IteratorResult<Uint8Array>> {
    return DONE
  }
}
