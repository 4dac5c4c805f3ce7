/**
 * Sets of chunk ranges in 1 KiB chunk units (bao-tree `ChunkRanges = RangeSet2<ChunkNum>`,
 * spec: shared/specs/content-addressing.md §2.5).
 *
 * A set is stored as strictly increasing boundaries `[s0, e0, s1, e1, …]`; an odd number of
 * boundaries means the last range is open (`[s, ∞)`). Values are safe non-negative integers.
 */
import { CHUNK_LEN } from './constants.ts'
import { Blake3ArgumentError } from './errors.ts'
import { chunkCount } from './tree.ts'

/** A half-open range `[start, end)`; `end` may be `Infinity` (open). */
export type Range = readonly [start: number, end: number]

function checkPoint (x: number, what: string): void {
  if (!Number.isSafeInteger(x) || x < 0) {
    throw new Blake3ArgumentError(`invalid ${what} ${String(x)}: must be a safe non-negative integer`)
  }
}

/** Number of boundaries `≤ x` (binary search). */
function upperBound (b: readonly number[], x: number): number {
  let lo = 0
  let hi = b.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (b[mid] <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Combines two boundary lists with a boolean operation on membership. */
function combine (a: readonly number[], b: readonly number[], op: (x: boolean, y: boolean) => boolean): number[] {
  const out: number[] = []
  let i = 0
  let j = 0
  let inA = false
  let inB = false
  let inOut = false
  while (i < a.length || j < b.length) {
    const x = Math.min(i < a.length ? a[i] : Infinity, j < b.length ? b[j] : Infinity)
    if (i < a.length && a[i] === x) { inA = !inA; i++ }
    if (j < b.length && b[j] === x) { inB = !inB; j++ }
    const now = op(inA, inB)
    if (now !== inOut) {
      out.push(x)
      inOut = now
    }
  }
  return out
}

/** An immutable set of chunk numbers, as disjoint half-open ranges. */
export class ChunkRanges {
  readonly #b: readonly number[]

  private constructor (boundaries: readonly number[]) {
    this.#b = boundaries
  }

  /** The empty set. */
  static empty (): ChunkRanges {
    return new ChunkRanges([])
  }

  /** All chunks `[0, ∞)`: a whole blob, whatever its size. */
  static all (): ChunkRanges {
    return new ChunkRanges([0])
  }

  /** `[start, end)`; `end` defaults to ∞. An empty range gives the empty set. */
  static from (start: number, end: number = Infinity): ChunkRanges {
    checkPoint(start, 'range start')
    if (end !== Infinity) checkPoint(end, 'range end')
    if (end <= start) return ChunkRanges.empty()
    return new ChunkRanges(end === Infinity ? [start] : [start, end])
  }

  /**
   * A request for the last chunk of a blob of any size (bao-tree `ChunkRanges::last_chunk()`):
   * anything beyond the end of a blob selects its last chunk, which proves the blob's size.
   */
  static lastChunk (): ChunkRanges {
    return new ChunkRanges([Number.MAX_SAFE_INTEGER])
  }

  /** Union of any ranges (unsorted, overlapping, empty ones allowed). */
  static fromRanges (ranges: Iterable<Range>): ChunkRanges {
    let acc: number[] = []
    for (const [s, e] of ranges) {
      acc = combine(acc, ChunkRanges.from(s, e).#b, (x, y) => x || y)
    }
    return new ChunkRanges(acc)
  }

  /**
   * From raw boundaries (e.g. decoded from the wire). Throws `Blake3ArgumentError` unless they
   * are strictly increasing safe non-negative integers.
   */
  static fromBoundaries (boundaries: readonly number[]): ChunkRanges {
    for (let i = 0; i < boundaries.length; i++) {
      checkPoint(boundaries[i], 'range boundary')
      if (i > 0 && boundaries[i] <= boundaries[i - 1]) {
        throw new Blake3ArgumentError('range boundaries must be strictly increasing')
      }
    }
    return new ChunkRanges(boundaries.slice())
  }

  /**
   * Chunks touched by byte ranges (bao-tree `round_up_to_chunks`): `[⌊s/1024⌋, ⌈e/1024⌉)`.
   * `e` may be `Infinity`.
   */
  static fromByteRanges (byteRanges: Iterable<Range>): ChunkRanges {
    const chunkRanges: Range[] = []
    for (const [s, e] of byteRanges) {
      checkPoint(s, 'byte range start')
      if (e !== Infinity) checkPoint(e, 'byte range end')
      if (e <= s) continue
      chunkRanges.push([Math.floor(s / CHUNK_LEN), e === Infinity ? Infinity : Math.ceil(e / CHUNK_LEN)])
    }
    return ChunkRanges.fromRanges(chunkRanges)
  }

  /** The boundaries `[s0, e0, s1, …]` (odd length: last range open). */
  get boundaries (): readonly number[] {
    return this.#b
  }

  isEmpty (): boolean {
    return this.#b.length === 0
  }

  /** True for `[0, ∞)`. */
  isAll (): boolean {
    return this.#b.length === 1 && this.#b[0] === 0
  }

  /** True if the last range is open (`[s, ∞)`). */
  isOpen (): boolean {
    return this.#b.length % 2 === 1
  }

  /** Whether chunk `chunk` is in the set. */
  has (chunk: number): boolean {
    return upperBound(this.#b, chunk) % 2 === 1
  }

  /** Whether any chunk of `[start, end)` is in the set. */
  intersects (start: number, end: number): boolean {
    if (end <= start) return false
    const idx = upperBound(this.#b, start)
    if (idx % 2 === 1) return true
    return idx < this.#b.length && this.#b[idx] < end
  }

  /** Whether every chunk of `[start, end)` is in the set. */
  covers (start: number, end: number): boolean {
    if (end <= start) return true
    const idx = upperBound(this.#b, start)
    if (idx % 2 === 0) return false
    return idx === this.#b.length || this.#b[idx] >= end
  }

  union (other: ChunkRanges): ChunkRanges {
    return new ChunkRanges(combine(this.#b, other.#b, (x, y) => x || y))
  }

  intersection (other: ChunkRanges): ChunkRanges {
    return new ChunkRanges(combine(this.#b, other.#b, (x, y) => x && y))
  }

  difference (other: ChunkRanges): ChunkRanges {
    return new ChunkRanges(combine(this.#b, other.#b, (x, y) => x && !y))
  }

  equals (other: ChunkRanges): boolean {
    const a = this.#b
    const b = other.#b
    return a.length === b.length && a.every((x, i) => x === b[i])
  }

  /** Whether every chunk of `other` is in this set. */
  isSuperset (other: ChunkRanges): boolean {
    return other.difference(this).isEmpty()
  }

  /** The ranges as `[start, end]` pairs (`end` is `Infinity` for an open last range). */
  toArray (): Array<[number, number]> {
    const out: Array<[number, number]> = []
    for (let i = 0; i < this.#b.length; i += 2) {
      out.push([this.#b[i], i + 1 < this.#b.length ? this.#b[i + 1] : Infinity])
    }
    return out
  }

  [Symbol.iterator] (): Iterator<[number, number]> {
    return this.toArray()[Symbol.iterator]()
  }

  /** Total number of chunks (`Infinity` if open). */
  count (): number {
    let n = 0
    for (const [s, e] of this.toArray()) n += e - s
    return n
  }

  /**
   * Adapts the set to a blob of `size` bytes as bao-tree does (`truncate_ranges`): anything at or
   * beyond the last chunk selects the last chunk. The result lies within `[0, chunks)`.
   */
  truncate (size: number): ChunkRanges {
    const chunks = chunkCount(size)
    const last = chunks - 1
    const head = this.intersection(ChunkRanges.from(0, last))
    const tail = this.intersects(last, Infinity) ? ChunkRanges.from(last, chunks) : ChunkRanges.empty()
    return head.union(tail)
  }

  /** Widens every range to whole groups of 2^groupLog chunks. */
  roundUpToGroups (groupLog: number): ChunkRanges {
    const g = 2 ** groupLog
    return ChunkRanges.fromRanges(this.toArray().map(([s, e]): Range => [
      Math.floor(s / g) * g,
      e === Infinity ? Infinity : Math.min(Math.ceil(e / g) * g, Number.MAX_SAFE_INTEGER)
    ]))
  }

  toString (): string {
    return `[${this.toArray().map(([s, e]) => `${s}..${e === Infinity ? '' : e}`).join(', ')}]`
  }
}

/** Chunk ranges → byte ranges of a blob of `size` bytes (clipped to the blob). */
export function chunkRangesToByteRanges (ranges: ChunkRanges, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (const [s, e] of ranges) {
    const start = s * CHUNK_LEN
    if (start >= size) break
    out.push([start, Math.min(size, e * CHUNK_LEN)])
  }
  return out
}
