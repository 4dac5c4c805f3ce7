/**
 * Read access to a pre-order outboard (bao-tree `PreOrderOutboard`): the 64-byte parent pairs of
 * the group tree in pre-order, without size prefix, `(groups − 1) × 64` bytes
 * (spec: shared/specs/content-addressing.md §2.5).
 */
import type { AbortOptions } from '../abort.ts'
import { pairCV } from './compress.ts'
import { GROUP_LOG, OUT_LEN, PAIR_LEN } from './constants.ts'
import { Blake3ArgumentError, Blake3OutboardError, Blake3ReadError, Blake3VerifyError } from './errors.ts'
import { TreeGeometry, largestPowerOfTwoBelow } from './tree.ts'

/** Random access to bytes (a file, a buffer, a partial store…). */
export interface RandomAccessReader {
  /**
   * Exactly `length` bytes at `offset`. The returned array may be a view; it must not be
   * modified by the reader afterwards.
   */
  read: (offset: number, length: number, options?: AbortOptions) => Promise<Uint8Array>
}

/** A `RandomAccessReader` over an in-memory buffer (zero-copy views). */
export function bytesReader (bytes: Uint8Array): RandomAccessReader {
  return {
    read: async (offset, length) => {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length) {
        throw new Blake3ReadError(offset, length, `read of ${length} byte(s) at offset ${offset} is outside the ${bytes.length}-byte buffer`)
      }
      return bytes.subarray(offset, offset + length)
    }
  }
}

/** Reads exactly `length` bytes or throws `Blake3ReadError`. */
export async function readExactly (reader: RandomAccessReader, offset: number, length: number, options?: AbortOptions): Promise<Uint8Array> {
  options?.signal?.throwIfAborted()
  const bytes = await reader.read(offset, length, options)
  if (bytes.length !== length) {
    throw new Blake3ReadError(offset, length, `short read: got ${bytes.length} of ${length} byte(s) at offset ${offset}`)
  }
  return bytes
}

/** Options of `PreOrderOutboard`. */
export interface PreOrderOutboardInit {
  /** 32-byte BLAKE3 root hash of the blob. */
  root: Uint8Array
  /** Blob size in bytes. */
  size: number
  /** log2(chunks per group), default 4. */
  groupLog?: number
  /** The outboard bytes, or a reader over them. */
  outboard: Uint8Array | RandomAccessReader
  /** Length of the outboard behind a reader, if known: checked against the geometry. */
  outboardLength?: number
}

/** Pairs fetched per read from a reader (the traversals read in increasing offset order). */
const WINDOW_PAIRS = 256

/** A blob's root hash, geometry and pre-order outboard. */
export class PreOrderOutboard {
  readonly root: Uint8Array
  readonly geometry: TreeGeometry
  private readonly reader: RandomAccessReader
  private window: Uint8Array | undefined
  private windowStart = 0

  constructor (init: PreOrderOutboardInit) {
    if (!(init.root instanceof Uint8Array) || init.root.length !== OUT_LEN) {
      throw new Blake3ArgumentError(`root hash must be ${OUT_LEN} bytes`)
    }
    this.root = init.root.slice()
    this.geometry = new TreeGeometry(init.size, init.groupLog ?? GROUP_LOG)
    const expected = this.geometry.outboardSize
    if (init.outboard instanceof Uint8Array) {
      if (init.outboard.length !== expected) {
        throw new Blake3OutboardError(`outboard is ${init.outboard.length} bytes, expected ${expected} for size ${init.size} and group log ${this.geometry.groupLog}`)
      }
      this.reader = bytesReader(init.outboard)
    } else {
      if (init.outboardLength !== undefined && init.outboardLength !== expected) {
        throw new Blake3OutboardError(`outboard is ${init.outboardLength} bytes, expected ${expected} for size ${init.size} and group log ${this.geometry.groupLog}`)
      }
      this.reader = init.outboard
    }
  }

  get size (): number {
    return this.geometry.size
  }

  get groupLog (): number {
    return this.geometry.groupLog
  }

  /** The 64-byte pair of the parent with pre-order index `index`. */
  async loadPair (index: number, options?: AbortOptions): Promise<Uint8Array> {
    const pairs = this.geometry.groups - 1
    if (!Number.isSafeInteger(index) || index < 0 || index >= pairs) {
      throw new Blake3ArgumentError(`parent index ${index} out of range [0, ${pairs})`)
    }
    const w = this.window
    if (w === undefined || index < this.windowStart || index >= this.windowStart + w.length / PAIR_LEN) {
      const count = Math.min(WINDOW_PAIRS, pairs - index)
      this.window = await readExactly(this.reader, index * PAIR_LEN, count * PAIR_LEN, options)
      this.windowStart = index
    }
    const off = (index - this.windowStart) * PAIR_LEN
    return (this.window as Uint8Array).slice(off, off + PAIR_LEN)
  }

  /**
   * Checks that every parent pair hashes to the CV its parent (or the root hash) expects.
   * Reads the outboard once, in order; does not read the data. Throws `Blake3VerifyError`.
   */
  async verify (options?: AbortOptions): Promise<void> {
    const { groups, groupLog } = this.geometry
    const chunksPerGroup = 2 ** groupLog
    const stack: Array<{ start: number, end: number, expected: Uint8Array }> = [{ start: 0, end: groups, expected: this.root }]
    let index = 0
    while (stack.length > 0) {
      const { start, end, expected } = stack.pop() as { start: number, end: number, expected: Uint8Array }
      if (end - start < 2) continue
      const pair = await this.loadPair(index++, options)
      if (!equalBytes(pairCV(pair, 0, start === 0 && end === groups), expected)) {
        throw new Blake3VerifyError({
          kind: 'parent',
          offset: start * this.geometry.groupLen,
          startChunk: start * chunksPerGroup,
          endChunk: Math.min(end * chunksPerGroup, this.geometry.chunks),
          group: start
        })
      }
      const mid = start + largestPowerOfTwoBelow(end - start)
      stack.push({ start: mid, end, expected: pair.subarray(OUT_LEN) })
      stack.push({ start, end: mid, expected: pair.subarray(0, OUT_LEN) })
    }
  }
}

/** Constant-length byte comparison. */
export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i]
  return diff === 0
}
