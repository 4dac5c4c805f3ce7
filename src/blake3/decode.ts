/**
 * Streaming verifying decoder for bao-tree / iroh-blobs range encodings
 * (spec: shared/specs/content-addressing.md §2.4–§2.6; bao-tree `ResponseDecoder`).
 *
 * Walks the same pre-order as the encoder (`encode.ts`), keeping a stack of expected chaining
 * values that starts at the root hash. Each parent pair is checked against its expected CV
 * (ROOT flag only at the top) before its children are trusted; each group (or requested chunk
 * run inside a partly requested group) is hashed and checked before it is yielded. The first
 * mismatch throws `Blake3VerifyError`; a short stream throws `Blake3TruncatedError`.
 * Memory: the expected-CV stack (O(depth)) plus one group.
 *
 * The size, if read from the 8-byte prefix, is only a claim until the last chunk has been
 * verified (`sizeVerified`), as in bao: data verified before that is genuine (its chunk
 * counters and CVs tie it to the root) but the claimed size is not yet proven.
 */
import type { AbortOptions } from '../abort.ts'
import type { Blake3Kernel } from './kernel-types.ts'
import { pairCV } from './compress.ts'
import { CHUNK_LEN, GROUP_LOG, OUT_LEN, PAIR_LEN, SIZE_PREFIX_LEN } from './constants.ts'
import { Blake3ArgumentError, Blake3VerifyError } from './errors.ts'
import { parseSizePrefix } from './encode.ts'
import { defaultKernel } from './kernel.ts'
import { equalBytes } from './outboard.ts'
import { ChunkRanges } from './ranges.ts'
import { ByteReader } from './reader.ts'
import type { ByteSource } from './reader.ts'
import { subtreeCV } from './subtree.ts'
import { checkGroupLog, checkSize, chunkCount, largestPowerOfTwoBelow, preOrderIndex } from './tree.ts'

/**
 * A verified parent pair of the group tree (an outboard entry). Inner parents of partly
 * requested groups are verified too but not yielded: they are not part of the outboard.
 */
export interface DecodedParent {
  type: 'parent'
  /** Byte offset of the pair in the pre-order outboard (pre-order index × 64). */
  offset: number
  /** `left_cv ‖ right_cv`, 64 bytes. */
  pair: Uint8Array
}

/** Verified blob bytes. */
export interface DecodedData {
  type: 'data'
  /** Byte offset in the blob. */
  offset: number
  /** The bytes (a whole group, or a run of requested chunks of a partly requested group). */
  data: Uint8Array
}

export type DecodedItem = DecodedParent | DecodedData

/** Options of `RangeDecoder`. */
export interface RangeDecoderInit {
  /** 32-byte BLAKE3 root hash the data must match. */
  root: Uint8Array
  /** Blob size if known; otherwise read from the 8-byte little-endian prefix of the stream. */
  size?: number
  /** Requested chunk ranges, as given to the encoder. Default: all. */
  ranges?: ChunkRanges
  /** log2(chunks per group): 4 (iroh) by default, 0 for bao. */
  groupLog?: number
  /** Kernel for re-hashing whole groups; default `defaultKernel()`. */
  kernel?: Blake3Kernel
}

interface StackEntry {
  start: number
  end: number
  depth: number
  expected: Uint8Array
}

/**
 * Decodes and verifies one blob's range encoding. Iterate it (once) to get the verified items;
 * `verifiedRanges()` and `sizeVerified` report progress at any time.
 */
export class RangeDecoder implements AsyncIterable<DecodedItem> {
  private readonly reader: ByteReader
  private readonly root: Uint8Array
  private readonly ranges: ChunkRanges
  private readonly groupLog: number
  private readonly kernel: Blake3Kernel
  private readonly options: AbortOptions | undefined
  private claimedSize: number | undefined
  private lastChunkVerified = false
  private readonly verified: number[] = []
  private started = false

  /**
   * @param source - the encoded stream (pieces of any size), or a `ByteReader` shared with
   *   other decoders (bytes after this blob's encoding are left unread in it)
   */
  constructor (source: ByteSource | ByteReader, init: RangeDecoderInit, options?: AbortOptions) {
    if (!(init.root instanceof Uint8Array) || init.root.length !== OUT_LEN) {
      throw new Blake3ArgumentError(`root hash must be ${OUT_LEN} bytes`)
    }
    if (init.size !== undefined) checkSize(init.size)
    const groupLog = init.groupLog ?? GROUP_LOG
    checkGroupLog(groupLog)
    this.reader = source instanceof ByteReader ? source : new ByteReader(source)
    this.root = init.root.slice()
    this.ranges = init.ranges ?? ChunkRanges.all()
    this.groupLog = groupLog
    this.kernel = init.kernel ?? defaultKernel()
    this.options = options
    this.claimedSize = init.size
  }

  /** The size in use: given, or read from the prefix (a claim until `sizeVerified`). */
  get size (): number | undefined {
    return this.claimedSize
  }

  /** True once the last chunk has been verified, which proves `size`. */
  get sizeVerified (): boolean {
    return this.lastChunkVerified
  }

  /** Chunks verified so far (exactly those whose data has been yielded). */
  verifiedRanges (): ChunkRanges {
    return ChunkRanges.fromBoundaries(this.verified)
  }

  /** Position in the encoded stream (bytes consumed, including the size prefix). */
  get streamPosition (): number {
    return this.reader.position
  }

  private markVerified (start: number, end: number): void {
    const v = this.verified
    if (v.length > 0 && v[v.length - 1] === start) {
      v[v.length - 1] = end
    } else {
      v.push(start, end)
    }
  }

  private fail (kind: 'parent' | 'data', start: number, end: number, streamOffset: number): Blake3VerifyError {
    return new Blake3VerifyError({
      kind,
      offset: start * CHUNK_LEN,
      startChunk: start,
      endChunk: end,
      group: Math.floor(start / 2 ** this.groupLog),
      streamOffset
    })
  }

  [Symbol.asyncIterator] (): AsyncGenerator<DecodedItem, void, undefined> {
    return this.decode()
  }

  /**
   * Decodes the stream, yielding each item as soon as it is verified. Can run only once.
   * `options` (if given) replaces the options passed to the constructor.
   */
  async * decode (options: AbortOptions | undefined = this.options): AsyncGenerator<DecodedItem, void, undefined> {
    if (this.started) throw new Blake3ArgumentError('RangeDecoder can only be iterated once')
    this.started = true
    const reader = this.reader
    if (this.claimedSize === undefined) {
      this.claimedSize = parseSizePrefix(await reader.read(SIZE_PREFIX_LEN, options))
    }
    const size = this.claimedSize
    const chunks = chunkCount(size)
    const groupChunks = 2 ** this.groupLog
    const query = this.ranges.truncate(size)
    if (query.isEmpty()) return
    const stack: StackEntry[] = [{ start: 0, end: chunks, depth: 0, expected: this.root }]
    while (stack.length > 0) {
      options?.signal?.throwIfAborted()
      const { start, end, depth, expected } = stack.pop() as StackEntry
      const isRoot = depth === 0
      const count = end - start
      const aboveGroups = count > groupChunks
      if (aboveGroups || (count > 1 && !query.covers(start, end))) {
        // A parent: of the group tree (an outboard entry), or inside a partly requested group.
        const at = reader.position
        const pair = (await reader.read(PAIR_LEN, options)).slice()
        if (!equalBytes(pairCV(pair, 0, isRoot), expected)) {
          throw this.fail('parent', start, end, at)
        }
        const mid = start + largestPowerOfTwoBelow(count)
        if (query.intersects(mid, end)) {
          stack.push({ start: mid, end, depth: depth + 1, expected: pair.subarray(OUT_LEN) })
        }
        if (query.intersects(start, mid)) {
          stack.push({ start, end: mid, depth: depth + 1, expected: pair.subarray(0, OUT_LEN) })
        }
        if (aboveGroups) {
          yield { type: 'parent', offset: preOrderIndex(start / groupChunks, depth) * PAIR_LEN, pair }
        }
        continue
      }
      // A leaf: a whole group, or a wholly requested run of chunks inside a group.
      const at = reader.position
      const byteStart = start * CHUNK_LEN
      const data = await reader.read(Math.min(end * CHUNK_LEN, size) - byteStart, options)
      if (!equalBytes(subtreeCV(data, start, isRoot, this.kernel), expected)) {
        throw this.fail('data', start, end, at)
      }
      this.markVerified(start, end)
      if (end === chunks) this.lastChunkVerified = true
      if (data.length > 0) yield { type: 'data', offset: byteStart, data }
    }
  }
}

/** Shorthand for `new RangeDecoder(source, init, options)`. */
export function decodeRanges (source: ByteSource | ByteReader, init: RangeDecoderInit, options?: AbortOptions): RangeDecoder {
  return new RangeDecoder(source, init, options)
}

/**
 * Decodes and verifies a whole-blob encoding (all ranges) into memory. For tests and small
 * blobs: allocates the claimed size only after the size has been proven by the last chunk
 * (data is gathered in verified pieces first).
 */
export async function decodeAll (source: ByteSource | ByteReader, init: Omit<RangeDecoderInit, 'ranges'>, options?: AbortOptions): Promise<Uint8Array> {
  const decoder = new RangeDecoder(source, { ...init, ranges: ChunkRanges.all() }, options)
  const pieces: DecodedData[] = []
  for await (const item of decoder) {
    if (item.type === 'data') pieces.push(item)
  }
  const size = decoder.size ?? 0
  const out = new Uint8Array(size)
  for (const p of pieces) out.set(p.data, p.offset)
  return out
}
