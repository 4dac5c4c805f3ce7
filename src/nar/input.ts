/**
 * Pull-based byte input over an `AsyncIterable<Uint8Array>` for the NAR reader.
 *
 * Keeps one current piece (`buf`, `pos`) and hands out views into it; only small,
 * bounded tokens that straddle piece boundaries are copied into a scratch buffer.
 */
import { NarParseError } from './errors.ts'
import { NAR_ALIGNMENT } from './constants.ts'

const EMPTY = new Uint8Array(0)
const TWO_32 = 0x1_0000_0000

/** Number of zero bytes that follow a string of `n` bytes (§1.1). */
export function paddingOf (n: number): number {
  return (NAR_ALIGNMENT - (n % NAR_ALIGNMENT)) % NAR_ALIGNMENT
}

export class NarInput {
  /** Current piece; bytes before `pos` are consumed. */
  buf: Uint8Array = EMPTY
  pos = 0
  /** NAR offset of `buf[0]`. */
  private base = 0
  /** Remainder of a source piece partly copied into a scratch `buf`. */
  private pending: Uint8Array | undefined
  private readonly iterator: AsyncIterator<Uint8Array>
  private readonly signal: AbortSignal | undefined
  private ended = false
  /** Exact text of the last u64 read when it exceeded 2^53 − 1 (for messages). */
  lastBigText = ''

  constructor (source: AsyncIterable<Uint8Array>, signal?: AbortSignal) {
    this.iterator = source[Symbol.asyncIterator]()
    this.signal = signal
  }

  /** NAR offset of the next unconsumed byte. */
  get offset (): number {
    return this.base + this.pos
  }

  available (): number {
    return this.buf.length - this.pos
  }

  /** Next non-empty piece from the source (or the pending remainder), `undefined` at the end. */
  private async pull (): Promise<Uint8Array | undefined> {
    if (this.pending !== undefined) {
      const p = this.pending
      this.pending = undefined
      return p
    }
    while (!this.ended) {
      this.signal?.throwIfAborted()
      const r = await this.iterator.next()
      if (r.done === true) {
        this.ended = true
        break
      }
      const piece = r.value
      if (!(piece instanceof Uint8Array)) {
        throw new TypeError('NAR source yielded something other than a Uint8Array')
      }
      if (piece.length > 0) return piece
    }
    return undefined
  }

  /**
   * Replace the (fully consumed) current piece with the next one.
   * Returns false at the end of the source.
   */
  async advance (): Promise<boolean> {
    const next = await this.pull()
    this.base += this.buf.length
    this.pos = 0
    if (next === undefined) {
      this.buf = EMPTY
      return false
    }
    this.buf = next
    return true
  }

  /**
   * Make `n` bytes contiguous at `buf[pos]`. `n` must be small (callers bound it
   * before calling). Throws a truncation error naming `what` at the end of input.
   */
  async ensure (n: number, what: string): Promise<void> {
    const have = this.buf.length - this.pos
    if (have >= n) return
    const start = this.offset
    if (have === 0) {
      // Common case: the current piece is exhausted exactly; try the next one whole.
      const next = await this.pull()
      this.base = start
      this.pos = 0
      if (next === undefined) {
        this.buf = EMPTY
        throw truncated(what, start)
      }
      this.buf = next
      if (next.length >= n) return
    }
    const scratch = new Uint8Array(n)
    let filled = this.buf.length - this.pos
    scratch.set(this.buf.subarray(this.pos), 0)
    while (filled < n) {
      const piece = await this.pull()
      if (piece === undefined) {
        this.buf = scratch.subarray(0, filled)
        this.base = start
        this.pos = 0
        throw truncated(what, start + filled)
      }
      const take = Math.min(piece.length, n - filled)
      scratch.set(take === piece.length ? piece : piece.subarray(0, take), filled)
      filled += take
      if (take < piece.length) this.pending = piece.subarray(take)
    }
    this.buf = scratch
    this.base = start
    this.pos = 0
  }

  // --- synchronous fast paths: succeed only when everything needed is buffered and
  // well-formed; otherwise return `undefined`/`false` and let the async path decide.

  /** Consume the exact bytes `framed` (a pre-encoded token) if they are next. */
  tryExpect (framed: Uint8Array): boolean {
    const b = this.buf
    const p = this.pos
    const n = framed.length
    if (b.length - p < n) return false
    for (let i = 0; i < n; i++) if (b[p + i] !== framed[i]) return false
    this.pos = p + n
    return true
  }

  /**
   * A length-prefixed string of at most `max` bytes (a view), if fully buffered
   * with zero padding.
   */
  tryString (max: number): Uint8Array | undefined {
    const b = this.buf
    const p = this.pos
    if (b.length - p < 8) return undefined
    if ((b[p + 4] | b[p + 5] | b[p + 6] | b[p + 7]) !== 0) return undefined
    const n = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x100_0000
    if (n > max) return undefined
    const end = p + 8 + n
    const padEnd = end + paddingOf(n)
    if (padEnd > b.length) return undefined
    for (let i = end; i < padEnd; i++) if (b[i] !== 0) return undefined
    this.pos = padEnd
    return b.subarray(p + 8, end)
  }

  /** A u64 that is a safe integer, if buffered. */
  tryU64 (): number | undefined {
    const b = this.buf
    const p = this.pos
    if (b.length - p < 8) return undefined
    const hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16)) + b[p + 7] * 0x100_0000
    if (hi > 0x1f_ffff) return undefined
    this.pos = p + 8
    return hi * TWO_32 + (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x100_0000
  }

  /** Consume `n` zero bytes if buffered. */
  tryZeros (n: number): boolean {
    const b = this.buf
    const p = this.pos
    if (b.length - p < n) return false
    for (let i = p; i < p + n; i++) if (b[i] !== 0) return false
    this.pos = p + n
    return true
  }

  /** Skip `n` bytes if buffered. */
  trySkip (n: number): boolean {
    if (this.buf.length - this.pos < n) return false
    this.pos += n
    return true
  }

  /**
   * Read a u64 LE. Values above 2^53 − 1 are returned as an unsafe (rounded)
   * number with the exact decimal text in `lastBigText`.
   */
  async readU64 (what: string): Promise<number> {
    if (this.buf.length - this.pos < 8) await this.ensure(8, what)
    const b = this.buf
    const p = this.pos
    this.pos = p + 8
    const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x100_0000
    const hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16)) + b[p + 7] * 0x100_0000
    if (hi > 0x1f_ffff) {
      this.lastBigText = ((BigInt(hi) << 32n) + BigInt(lo)).toString()
    }
    return hi * TWO_32 + lo
  }

  /**
   * Consume `n` data bytes plus their zero padding (n + padding must be small) and
   * return a view of the data, valid until the next read.
   */
  async readPadded (n: number, what: string): Promise<Uint8Array> {
    const pad = paddingOf(n)
    const total = n + pad
    if (this.buf.length - this.pos < total) await this.ensure(total, what)
    const b = this.buf
    const p = this.pos
    for (let i = p + n; i < p + total; i++) {
      if (b[i] !== 0) throw new NarParseError('non-zero padding', this.base + i)
    }
    this.pos = p + total
    return b.subarray(p, p + n)
  }

  /** Consume `n` (< 8) padding bytes, which must be zero. */
  async readZeros (n: number, what: string): Promise<void> {
    if (this.buf.length - this.pos < n) await this.ensure(n, what)
    const b = this.buf
    const p = this.pos
    for (let i = p; i < p + n; i++) {
      if (b[i] !== 0) throw new NarParseError('non-zero padding', this.base + i)
    }
    this.pos = p + n
  }

  /** Skip `n` bytes (possibly many GB) without copying. */
  async skip (n: number, what: string): Promise<void> {
    let left = n
    while (true) {
      const have = this.buf.length - this.pos
      if (have >= left) {
        this.pos += left
        return
      }
      left -= have
      this.pos = this.buf.length
      if (!await this.advance()) throw truncated(what, this.offset)
    }
  }

  /** Throws unless the source has no more bytes. */
  async expectEnd (): Promise<void> {
    if (this.available() === 0) {
      const next = await this.pull()
      if (next === undefined) return
      this.base += this.buf.length
      this.buf = next
      this.pos = 0
    }
    throw new NarParseError('trailing data after the end of the NAR', this.offset)
  }

  /** Let the source clean up (called when parsing stops early). */
  async close (): Promise<void> {
    if (this.ended) return
    this.ended = true
    await this.iterator.return?.()
  }
}

export function truncated (what: string, offset: number): NarParseError {
  return new NarParseError(`unexpected end of NAR (truncated) while reading ${what}`, offset)
}
