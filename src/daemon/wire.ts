/**
 * Wire primitives of the worker protocol (§1.1): little-endian u64 words, padded
 * byte strings, lists, sets and maps.
 *
 * {@link WireReader} is a streaming reader over any async byte source (a
 * `net.Socket`, an async generator, a framed source …). It only buffers what the
 * value being read needs; every length and count is checked against a limit
 * *before* anything is allocated, and every malformed, oversized or truncated
 * input surfaces as a {@link ProtocolError}.
 *
 * {@link WireWriter} accumulates output in a growing buffer and hands it to a
 * sink with {@link WireWriter.flush} (honouring `drain` back-pressure).
 */
import { once } from 'node:events'
import {
  DEFAULT_MAX_COLLECTION_SIZE,
  DEFAULT_MAX_STRING_LENGTH,
  MAX_SAFE
} from './constants.ts'
import { ProtocolError } from './errors.ts'
import type { AbortOptions } from '../abort.ts'

/** Anything the reader can pull bytes from. `net.Socket` is an `AsyncIterable`. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array

/**
 * Where a writer's bytes go. A `net.Socket`/`Writable` (whose `write` returns
 * `false` when its buffer is full — we then wait for `drain`) or any object whose
 * `write` returns nothing or a promise.
 */
export interface ByteSink {
  write: (chunk: Uint8Array) => unknown
}

/** Limits of a reader; each read method can override them per call. */
export interface WireReaderOptions {
  /** Default cap for string/bytes lengths (default 16 MiB). */
  maxStringLength?: number
  /** Default cap for list/set/map counts (default 2^20). */
  maxCollectionSize?: number
}

const TWO_32 = 2 ** 32
const MAX_U64 = (1n << 64n) - 1n
const utf8Decoder = new TextDecoder('utf-8')
const utf8Encoder = new TextEncoder()

/** Number of zero bytes that follow a string of `len` bytes (§1.1). */
export function paddingLength (len: number): number {
  return (8 - (len % 8)) % 8
}

/** Concatenates byte arrays into one new array. */
export function concatBytes (parts: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of parts) total += p.byteLength
  const out = new Uint8Array(total)
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.byteLength
  }
  return out
}

/** Bytewise comparison of the UTF-8 encodings (std::string ordering, §1.1 sets). */
export function compareBytewise (a: string, b: string): number {
  if (a === b) return 0
  // ASCII fast path: UTF-16 order equals byte order for code units < 0x80.
  let ascii = true
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i)
    const cb = b.charCodeAt(i)
    if (ca >= 0x80 || cb >= 0x80) { ascii = false; break }
    if (ca !== cb) return ca - cb
  }
  if (ascii) return a.length - b.length
  const ea = utf8Encoder.encode(a)
  const eb = utf8Encoder.encode(b)
  const m = Math.min(ea.length, eb.length)
  for (let i = 0; i < m; i++) {
    if (ea[i] !== eb[i]) return ea[i] - eb[i]
  }
  return ea.length - eb.length
}

/** Sorted copy of `items` in std::set order, without duplicates. */
export function sortedUnique (items: Iterable<string>): string[] {
  const out = [...new Set(items)]
  out.sort(compareBytewise)
  return out
}

function isAsyncIterable (x: unknown): x is AsyncIterable<Uint8Array> {
  return x != null && typeof (x as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function'
}

/** Awaits `promise` but rejects with the signal's reason when it aborts first. */
async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}

/**
 * Streaming reader of worker-protocol primitives.
 *
 * Reads never consume a partial value on abort: bytes are buffered until the
 * whole primitive is available, then consumed at once.
 */
export class WireReader {
  private readonly chunks: Uint8Array[] = []
  private offset = 0
  private buffered = 0
  private consumed = 0
  private iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> | null
  private pending: Promise<IteratorResult<Uint8Array>> | null = null
  private ended = false
  readonly maxStringLength: number
  readonly maxCollectionSize: number

  constructor (source: ByteSource, options: WireReaderOptions = {}) {
    this.maxStringLength = options.maxStringLength ?? DEFAULT_MAX_STRING_LENGTH
    this.maxCollectionSize = options.maxCollectionSize ?? DEFAULT_MAX_COLLECTION_SIZE
    if (source instanceof Uint8Array) {
      if (source.byteLength > 0) {
        this.chunks.push(source)
        this.buffered = source.byteLength
      }
      this.iterator = null
      this.ended = true
    } else if (isAsyncIterable(source)) {
      this.iterator = source[Symbol.asyncIterator]()
    } else {
      this.iterator = source[Symbol.iterator]()
    }
  }

  /** Total bytes consumed so far. */
  get position (): number {
    return this.consumed
  }

  /** Bytes received from the source but not yet consumed. */
  get bufferedLength (): number {
    return this.buffered
  }

  /** Pulls one more chunk from the source; sets `ended` at the end. */
  private async pull (options?: AbortOptions): Promise<void> {
    const signal = options?.signal
    signal?.throwIfAborted()
    if (this.iterator == null) {
      this.ended = true
      return
    }
    if (this.pending == null) {
      this.pending = Promise.resolve(this.iterator.next())
    }
    const result = signal != null ? await raceAbort(this.pending, signal) : await this.pending
    this.pending = null
    if (result.done === true) {
      this.ended = true
      return
    }
    const chunk: unknown = result.value
    if (!(chunk instanceof Uint8Array)) {
      throw new ProtocolError('byte source yielded a non-binary chunk', 'ERR_BAD_VALUE')
    }
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk)
      this.buffered += chunk.byteLength
    }
  }

  /** Ensures `n` bytes are buffered or throws `ERR_TRUNCATED`. */
  private async fill (n: number, what: string, options?: AbortOptions): Promise<void> {
    while (this.buffered < n) {
      if (this.ended) {
        throw new ProtocolError(
          `unexpected end of stream while reading ${what} (needed ${n} bytes, got ${this.buffered})`,
          'ERR_TRUNCATED'
        )
      }
      await this.pull(options)
    }
  }

  /** Consumes `n` buffered bytes; a view when contiguous unless `copy`. */
  private take (n: number, copy: boolean): Uint8Array {
    if (n === 0) return new Uint8Array(0)
    const first = this.chunks[0]
    let out: Uint8Array
    if (first.byteLength - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n)
      out = copy ? view.slice() : view
      this.offset += n
      if (this.offset === first.byteLength) {
        this.chunks.shift()
        this.offset = 0
      }
    } else {
      out = new Uint8Array(n)
      let filled = 0
      while (filled < n) {
        const c = this.chunks[0]
        const avail = c.byteLength - this.offset
        const want = Math.min(avail, n - filled)
        out.set(c.subarray(this.offset, this.offset + want), filled)
        filled += want
        this.offset += want
        if (this.offset === c.byteLength) {
          this.chunks.shift()
          this.offset = 0
        }
      }
    }
    this.buffered -= n
    this.consumed += n
    return out
  }

  /** Reads the two 32-bit halves of a buffered u64 and consumes it. */
  private takeWord (): [number, number] {
    const c = this.chunks[0]
    let lo: number
    let hi: number
    if (c.byteLength - this.offset >= 8) {
      const o = this.offset
      lo = (c[o] | (c[o + 1] << 8) | (c[o + 2] << 16)) + c[o + 3] * 0x1000000
      hi = (c[o + 4] | (c[o + 5] << 8) | (c[o + 6] << 16)) + c[o + 7] * 0x1000000
      this.offset += 8
      this.buffered -= 8
      this.consumed += 8
      if (this.offset === c.byteLength) {
        this.chunks.shift()
        this.offset = 0
      }
    } else {
      const b = this.take(8, false)
      lo = (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000
      hi = (b[4] | (b[5] << 8) | (b[6] << 16)) + b[7] * 0x1000000
    }
    return [lo, hi]
  }

  /** Reads a u64 as a BigInt (full range). */
  async readU64 (what = 'u64', options?: AbortOptions): Promise<bigint> {
    if (this.buffered < 8) await this.fill(8, what, options)
    const [lo, hi] = this.takeWord()
    return (BigInt(hi) << 32n) | BigInt(lo)
  }

  /** Reads a u64 that must be ≤ 2^53 − 1 (or ≤ `max`), as a number. */
  async readNumber (what = 'number', max: number = MAX_SAFE, options?: AbortOptions): Promise<number> {
    if (this.buffered < 8) await this.fill(8, what, options)
    const [lo, hi] = this.takeWord()
    if (hi >= 0x200000) {
      throw new ProtocolError(
        `${what} is too large: ${((BigInt(hi) << 32n) | BigInt(lo)).toString()} exceeds ${max}`,
        'ERR_TOO_LARGE'
      )
    }
    const value = hi * TWO_32 + lo
    if (value > max) {
      throw new ProtocolError(`${what} is too large: ${value} exceeds ${max}`, 'ERR_TOO_LARGE')
    }
    return value
  }

  /** Reads a bool (u64, non-zero = true, §1.1). */
  async readBool (what = 'bool', options?: AbortOptions): Promise<boolean> {
    if (this.buffered < 8) await this.fill(8, what, options)
    const [lo, hi] = this.takeWord()
    return lo !== 0 || hi !== 0
  }

  /** Reads a collection count, checked against `maxCount` before anything is allocated. */
  async readCount (what = 'count', maxCount: number = this.maxCollectionSize, options?: AbortOptions): Promise<number> {
    const n = await this.readNumber(`${what} count`, MAX_SAFE, options)
    if (n > maxCount) {
      throw new ProtocolError(`${what} has ${n} elements, more than the limit of ${maxCount}`, 'ERR_TOO_LARGE')
    }
    return n
  }

  /** Reads a length-prefixed byte string (zero padding checked); returns a copy. */
  async readBytes (maxLen: number = this.maxStringLength, what = 'string', options?: AbortOptions): Promise<Uint8Array> {
    const len = await this.readLength(maxLen, what, options)
    const padded = len + paddingLength(len)
    if (this.buffered < padded) await this.fill(padded, what, options)
    const out = this.take(len, true)
    this.checkPadding(len, what)
    return out
  }

  /**
   * Reads a string and decodes it as UTF-8 (invalid sequences become U+FFFD; use
   * {@link readBytes} where exact bytes matter).
   */
  async readString (maxLen: number = this.maxStringLength, what = 'string', options?: AbortOptions): Promise<string> {
    const len = await this.readLength(maxLen, what, options)
    const padded = len + paddingLength(len)
    if (this.buffered < padded) await this.fill(padded, what, options)
    const s = utf8Decoder.decode(this.take(len, false))
    this.checkPadding(len, what)
    return s
  }

  /** Reads `list<string>` (also `set<string>`; order preserved). */
  async readStrings (
    maxCount: number = this.maxCollectionSize,
    maxLen: number = this.maxStringLength,
    what = 'strings',
    options?: AbortOptions
  ): Promise<string[]> {
    const n = await this.readCount(what, maxCount, options)
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push(await this.readString(maxLen, `${what}[${i}]`, options))
    return out
  }

  /** Reads `u64 count` + count items with `readItem`. */
  async readList<T> (
    readItem: (index: number) => Promise<T>,
    what = 'list',
    maxCount: number = this.maxCollectionSize,
    options?: AbortOptions
  ): Promise<T[]> {
    const n = await this.readCount(what, maxCount, options)
    const out: T[] = []
    for (let i = 0; i < n; i++) out.push(await readItem(i))
    return out
  }

  /** Reads `map<K,V>` as an array of pairs in wire order. */
  async readPairs<K, V> (
    readKey: () => Promise<K>,
    readValue: (key: K) => Promise<V>,
    what = 'map',
    maxCount: number = this.maxCollectionSize,
    options?: AbortOptions
  ): Promise<Array<[K, V]>> {
    const n = await this.readCount(what, maxCount, options)
    const out: Array<[K, V]> = []
    for (let i = 0; i < n; i++) {
      const k = await readKey()
      out.push([k, await readValue(k)])
    }
    return out
  }

  /** Reads exactly `n` raw bytes (no length, no padding) into a new array. */
  async readExact (n: number, what = 'bytes', options?: AbortOptions): Promise<Uint8Array> {
    if (!Number.isSafeInteger(n) || n < 0) throw new ProtocolError(`invalid byte count ${n} for ${what}`, 'ERR_TOO_LARGE')
    if (this.buffered < n) await this.fill(n, what, options)
    return this.take(n, true)
  }

  /**
   * Streams exactly `n` raw bytes in pieces of at most `chunkSize` bytes without
   * buffering more than one source chunk. Yielded arrays may be views of the
   * source's buffers.
   */
  async * readStream (n: number, chunkSize = 64 * 1024, what = 'data', options?: AbortOptions): AsyncGenerator<Uint8Array, void, undefined> {
    if (!Number.isSafeInteger(n) || n < 0) throw new ProtocolError(`invalid byte count ${n} for ${what}`, 'ERR_TOO_LARGE')
    let left = n
    while (left > 0) {
      const piece = await this.readAvailable(Math.min(left, chunkSize), what, options)
      left -= piece.byteLength
      yield piece
    }
  }

  /**
   * Returns between 1 and `max` bytes: whatever is buffered (pulling one chunk if
   * nothing is). The result may be a view of the source's buffer.
   */
  async readAvailable (max: number, what = 'data', options?: AbortOptions): Promise<Uint8Array> {
    if (max <= 0) return new Uint8Array(0)
    while (this.buffered === 0) {
      if (this.ended) {
        throw new ProtocolError(`unexpected end of stream while reading ${what}`, 'ERR_TRUNCATED')
      }
      await this.pull(options)
    }
    const first = this.chunks[0]
    return this.take(Math.min(max, first.byteLength - this.offset), false)
  }

  /** Skips `n` raw bytes. */
  async skip (n: number, what = 'data', options?: AbortOptions): Promise<void> {
    for await (const piece of this.readStream(n, 1 << 20, what, options)) {
      void piece
    }
  }

  /** Consumes and checks the padding after a string of `len` bytes. */
  async readPadding (len: number, what = 'string', options?: AbortOptions): Promise<void> {
    const pad = paddingLength(len)
    if (pad === 0) return
    if (this.buffered < pad) await this.fill(pad, `${what} padding`, options)
    this.checkPadding(len, what)
  }

  /** True when the source is exhausted and nothing is buffered. */
  async atEnd (options?: AbortOptions): Promise<boolean> {
    while (this.buffered === 0) {
      if (this.ended) return true
      await this.pull(options)
    }
    return false
  }

  /** Stops reading: closes the source iterator (a socket is destroyed). */
  async close (): Promise<void> {
    this.ended = true
    const it = this.iterator
    this.iterator = null
    if (it?.return != null) await it.return()
  }

  private async readLength (maxLen: number, what: string, options?: AbortOptions): Promise<number> {
    const len = await this.readNumber(`${what} length`, MAX_SAFE, options)
    if (len > maxLen) {
      throw new ProtocolError(`${what} is ${len} bytes long, more than the limit of ${maxLen}`, 'ERR_TOO_LARGE')
    }
    return len
  }

  /** Padding bytes must already be buffered. */
  private checkPadding (len: number, what: string): void {
    const pad = paddingLength(len)
    if (pad === 0) return
    const bytes = this.take(pad, false)
    for (let i = 0; i < pad; i++) {
      if (bytes[i] !== 0) throw new ProtocolError(`non-zero padding after ${what}`, 'ERR_BAD_PADDING')
    }
  }
}

const INITIAL_CAPACITY = 4096
/** Payloads at least this big are referenced instead of copied. */
const ZERO_COPY_THRESHOLD = 16 * 1024
const ZEROS = new Uint8Array(8)

/** Writes `chunk` to `sink`, waiting for `drain` or the returned promise. */
export async function writeToSink (sink: ByteSink, chunk: Uint8Array, options?: AbortOptions): Promise<void> {
  options?.signal?.throwIfAborted()
  const r = sink.write(chunk)
  if (r === false && typeof (sink as { once?: unknown }).once === 'function') {
    await once(sink as unknown as NodeJS.EventEmitter, 'drain', { signal: options?.signal })
  } else if (r != null && typeof (r as PromiseLike<unknown>).then === 'function') {
    await (r as PromiseLike<unknown>)
  }
}

/**
 * Builds worker-protocol output. Values are appended to an internal buffer; call
 * {@link take}/{@link toBytes} or {@link flush} to get them out.
 */
export class WireWriter {
  private parts: Uint8Array[] = []
  private partsLength = 0
  private buf = new Uint8Array(INITIAL_CAPACITY)
  private pos = 0

  /** Number of bytes written and not yet taken. */
  get length (): number {
    return this.partsLength + this.pos
  }

  private ensure (n: number): void {
    if (this.buf.byteLength - this.pos >= n) return
    if (this.pos > 0 && this.buf.byteLength >= ZERO_COPY_THRESHOLD) {
      this.sealBuffer()
      if (this.buf.byteLength >= n) return
    }
    let cap = this.buf.byteLength * 2
    while (cap - this.pos < n) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  private sealBuffer (): void {
    if (this.pos === 0) return
    this.parts.push(this.buf.subarray(0, this.pos))
    this.partsLength += this.pos
    this.buf = new Uint8Array(Math.max(INITIAL_CAPACITY, Math.min(this.buf.byteLength, 1 << 20)))
    this.pos = 0
  }

  /** Writes a u64 (number must be a safe non-negative integer; bigint < 2^64). */
  writeU64 (value: number | bigint): this {
    let lo: number
    let hi: number
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new ProtocolError(`cannot encode ${value} as u64`, 'ERR_NOT_REPRESENTABLE')
      }
      lo = value % TWO_32
      hi = Math.floor(value / TWO_32)
    } else {
      if (value < 0n || value > MAX_U64) {
        throw new ProtocolError(`cannot encode ${value} as u64`, 'ERR_NOT_REPRESENTABLE')
      }
      lo = Number(value & 0xffffffffn)
      hi = Number(value >> 32n)
    }
    this.ensure(8)
    const b = this.buf
    const p = this.pos
    b[p] = lo & 0xff
    b[p + 1] = (lo >>> 8) & 0xff
    b[p + 2] = (lo >>> 16) & 0xff
    b[p + 3] = (lo >>> 24) & 0xff
    b[p + 4] = hi & 0xff
    b[p + 5] = (hi >>> 8) & 0xff
    b[p + 6] = (hi >>> 16) & 0xff
    b[p + 7] = (hi >>> 24) & 0xff
    this.pos = p + 8
    return this
  }

  /** Writes a bool as 0/1. */
  writeBool (value: boolean): this {
    return this.writeU64(value ? 1 : 0)
  }

  /**
   * Writes raw bytes (no length, no padding). Payloads ≥ 16 KiB are referenced,
   * not copied: do not mutate them before the writer's output is taken.
   */
  writeRaw (bytes: Uint8Array): this {
    if (bytes.byteLength >= ZERO_COPY_THRESHOLD) {
      this.sealBuffer()
      this.parts.push(bytes)
      this.partsLength += bytes.byteLength
      return this
    }
    this.ensure(bytes.byteLength)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.byteLength
    return this
  }

  /** Writes a length-prefixed, zero-padded byte string. */
  writeBytes (bytes: Uint8Array): this {
    this.writeU64(bytes.byteLength)
    this.writeRaw(bytes)
    const pad = paddingLength(bytes.byteLength)
    if (pad > 0) this.writeRaw(ZEROS.subarray(0, pad))
    return this
  }

  /** Writes a string as UTF-8 bytes (§1.1). */
  writeString (value: string): this {
    return this.writeBytes(utf8Encoder.encode(value))
  }

  /** Writes `list<string>` in the given order. */
  writeStrings (values: readonly string[]): this {
    this.writeU64(values.length)
    for (const v of values) this.writeString(v)
    return this
  }

  /** Writes `set<string>`: sorted bytewise, duplicates removed (§1.1). */
  writeStringSet (values: Iterable<string>): this {
    return this.writeStrings(sortedUnique(values))
  }

  /** Writes `u64 count` + each item with `writeItem`. */
  writeList<T> (items: readonly T[], writeItem: (item: T) => void): this {
    this.writeU64(items.length)
    for (const item of items) writeItem(item)
    return this
  }

  /** All pending bytes as one array (does not reset the writer). */
  toBytes (): Uint8Array {
    if (this.parts.length === 0) return this.buf.slice(0, this.pos)
    return concatBytes([...this.parts, this.buf.subarray(0, this.pos)])
  }

  /** All pending bytes as one array; the writer is reset. */
  take (): Uint8Array {
    const out = this.parts.length === 0 ? this.buf.slice(0, this.pos) : this.toBytes()
    this.parts = []
    this.partsLength = 0
    this.pos = 0
    if (this.buf.byteLength > 1 << 20) this.buf = new Uint8Array(INITIAL_CAPACITY)
    return out
  }

  /** Pending bytes as a list of chunks (no concatenation); the writer is reset. */
  takeChunks (): Uint8Array[] {
    this.sealBuffer()
    const out = this.parts
    this.parts = []
    this.partsLength = 0
    return out
  }

  /** Sends all pending bytes to `sink` and resets the writer. */
  async flush (sink: ByteSink, options?: AbortOptions): Promise<void> {
    if (this.length === 0) return
    await writeToSink(sink, this.take(), options)
  }
}
