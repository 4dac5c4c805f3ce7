/**
 * Exact-length reads from a stream of byte pieces of arbitrary sizes.
 *
 * Several decoders can consume one `ByteReader` one after another (e.g. the blobs of one
 * iroh response), since it keeps the unread tail of the current piece.
 */
import type { AbortOptions } from '../abort.ts'
import { Blake3TruncatedError } from './errors.ts'

/** Bytes arriving in pieces: an async or sync iterable of pieces, or one buffer. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array

function toAsyncIterator (source: ByteSource): AsyncIterator<Uint8Array> {
  if (source instanceof Uint8Array) {
    return (async function * () { yield source })()
  }
  if (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    return (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
  }
  if (typeof (source as Iterable<Uint8Array>)[Symbol.iterator] === 'function') {
    const it = (source as Iterable<Uint8Array>)[Symbol.iterator]()
    return { next: async () => it.next() }
  }
  throw new TypeError('byte source must be a Uint8Array or an (async) iterable of Uint8Array')
}

export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>
  private piece: Uint8Array = new Uint8Array(0)
  private pieceOffset = 0
  private done = false
  private consumed = 0

  constructor (source: ByteSource) {
    this.iterator = toAsyncIterator(source)
  }

  /** Bytes returned so far by `read` (the stream position). */
  get position (): number {
    return this.consumed
  }

  /** Next non-empty piece, or false at the end of the stream. */
  private async more (options?: AbortOptions): Promise<boolean> {
    while (!this.done) {
      options?.signal?.throwIfAborted()
      const next = await this.iterator.next()
      if (next.done === true) {
        this.done = true
        break
      }
      if (!(next.value instanceof Uint8Array)) {
        throw new TypeError('stream pieces must be Uint8Array')
      }
      if (next.value.length > 0) {
        this.piece = next.value
        this.pieceOffset = 0
        return true
      }
    }
    return false
  }

  /**
   * Exactly `length` bytes (a view into the current piece when it holds them all, otherwise a
   * fresh copy). Throws `Blake3TruncatedError` if the stream ends first. `length` must come
   * from trusted logic (it is allocated).
   */
  async read (length: number, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    const available = this.piece.length - this.pieceOffset
    if (available >= length) {
      const view = this.piece.subarray(this.pieceOffset, this.pieceOffset + length)
      this.pieceOffset += length
      this.consumed += length
      return view
    }
    const out = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      if (this.pieceOffset === this.piece.length && !(await this.more(options))) {
        throw new Blake3TruncatedError(this.consumed + filled, length - filled)
      }
      const take = Math.min(length - filled, this.piece.length - this.pieceOffset)
      out.set(this.piece.subarray(this.pieceOffset, this.pieceOffset + take), filled)
      this.pieceOffset += take
      filled += take
    }
    this.consumed += length
    return out
  }

  /** True if the stream has no more bytes (may wait for the next piece). */
  async atEnd (options?: AbortOptions): Promise<boolean> {
    if (this.pieceOffset < this.piece.length) return false
    return !(await this.more(options))
  }

  /** The unread rest of the stream: the tail of the current piece, then the remaining pieces. */
  async * rest (options?: AbortOptions): AsyncGenerator<Uint8Array> {
    while (true) {
      if (this.pieceOffset < this.piece.length) {
        const tail = this.piece.subarray(this.pieceOffset)
        this.pieceOffset = this.piece.length
        this.consumed += tail.length
        yield tail
      }
      if (!(await this.more(options))) return
    }
  }
}
