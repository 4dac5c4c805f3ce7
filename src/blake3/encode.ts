/**
 * Encoding of a ranges query as bao-tree / iroh-blobs send it
 * (spec: shared/specs/content-addressing.md §2.4–§2.6; bao-tree `encode_ranges_validated`).
 *
 * Pre-order walk of the tree: every parent above the groups whose subtree intersects the
 * (truncated) ranges is sent as its 64-byte pair, root first; a group wholly inside the ranges
 * is sent as its raw bytes. A group only partly inside the ranges is refined like bao-tree does:
 * its inner parents whose subtrees are partly requested, then only the requested chunks (callers
 * who want whole-group granularity round their ranges with `ChunkRanges.roundUpToGroups`).
 * With group log 0 this is exactly the bao (k = 0) slice / combined encoding minus the size prefix.
 *
 * Ranges at or beyond the last chunk select the last chunk (`ChunkRanges.truncate`), which
 * proves the blob's size.
 */
import type { AbortOptions } from '../abort.ts'
import type { Blake3Kernel } from './kernel-types.ts'
import { pairCV, parentCV } from './compress.ts'
import { CHUNK_LEN, OUT_LEN, PAIR_LEN, SIZE_PREFIX_LEN, MAX_SIZE } from './constants.ts'
import { Blake3SizeError, Blake3VerifyError } from './errors.ts'
import { hashWithOutboard } from './hasher.ts'
import { defaultKernel } from './kernel.ts'
import { PreOrderOutboard, bytesReader, equalBytes, readExactly } from './outboard.ts'
import type { RandomAccessReader } from './outboard.ts'
import type { ChunkRanges } from './ranges.ts'
import { subtreeCV } from './subtree.ts'
import { largestPowerOfTwoBelow, preOrderIndex } from './tree.ts'

/** The 8-byte little-endian size prefix of bao encodings and iroh responses. */
export function sizePrefix (size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new Blake3SizeError(`invalid size ${String(size)}`)
  }
  const out = new Uint8Array(SIZE_PREFIX_LEN)
  new DataView(out.buffer).setBigUint64(0, BigInt(size), true)
  return out
}

/**
 * Parses an 8-byte little-endian size prefix at `bytes[off]`. Throws `Blake3SizeError` for sizes
 * above 2^53 − 1 (valid u64 on the wire, but not handled here).
 */
export function parseSizePrefix (bytes: Uint8Array, off: number = 0): number {
  if (bytes.length - off < SIZE_PREFIX_LEN) {
    throw new Blake3SizeError('size prefix needs 8 bytes')
  }
  const lo = (bytes[off] | (bytes[off + 1] << 8) | (bytes[off + 2] << 16) | (bytes[off + 3] << 24)) >>> 0
  const hi = (bytes[off + 4] | (bytes[off + 5] << 8) | (bytes[off + 6] << 16) | (bytes[off + 7] << 24)) >>> 0
  if (hi >= 0x200000) {
    throw new Blake3SizeError(`size prefix ${(BigInt(hi) << 32n) | BigInt(lo)} exceeds ${MAX_SIZE}`)
  }
  return hi * 4294967296 + lo
}

/** Options of the encoders. */
export interface EncodeOptions extends AbortOptions {
  /**
   * Re-hash every group and check every parent against the root before sending it
   * (bao-tree `encode_ranges_validated`); a mismatch throws `Blake3VerifyError`. Default true.
   */
  validate?: boolean
  /** Kernel used to re-hash whole groups; default `defaultKernel()`. */
  kernel?: Blake3Kernel
}

interface StackEntry {
  start: number
  end: number
  depth: number
  expected: Uint8Array | undefined
}

function verifyError (kind: 'parent' | 'data', start: number, end: number, groupLog: number): Blake3VerifyError {
  return new Blake3VerifyError({
    kind,
    offset: start * CHUNK_LEN,
    startChunk: start,
    endChunk: end,
    group: Math.floor(start / 2 ** groupLog)
  }, `local ${kind === 'parent' ? 'outboard' : 'data'} does not match the root hash at chunks [${start}, ${end}) (group ${Math.floor(start / 2 ** groupLog)})`)
}

/**
 * Encoding of one partly requested group `bytes` (first chunk `start`): inner parents of
 * partly requested subtrees, then requested chunks, in pre-order. Returns the group's CV.
 */
function encodePartialGroup (
  bytes: Uint8Array, start: number, isRoot: boolean, ranges: ChunkRanges,
  kernel: Blake3Kernel, out: Uint8Array[]
): Uint8Array {
  const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_LEN))
  const end = start + chunks
  if (!ranges.intersects(start, end)) {
    return subtreeCV(bytes, start, isRoot, kernel)
  }
  if (chunks === 1 || ranges.covers(start, end)) {
    out.push(bytes)
    return subtreeCV(bytes, start, isRoot, kernel)
  }
  const slot = out.length
  out.push(new Uint8Array(PAIR_LEN))
  const leftLen = largestPowerOfTwoBelow(chunks) * CHUNK_LEN
  const left = encodePartialGroup(bytes.subarray(0, leftLen), start, false, ranges, kernel, out)
  const right = encodePartialGroup(bytes.subarray(leftLen), start + leftLen / CHUNK_LEN, false, ranges, kernel, out)
  out[slot].set(left, 0)
  out[slot].set(right, OUT_LEN)
  return parentCV(left, right, isRoot)
}

function concat (pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]
  let total = 0
  for (const p of pieces) total += p.length
  const out = new Uint8Array(total)
  let off = 0
  for (const p of pieces) {
    out.set(p, off)
    off += p.length
  }
  return out
}

/**
 * Encodes the ranges `ranges` (chunk units) of the blob described by `outboard`, reading its
 * bytes from `data`. Yields the encoding (no size prefix) in pieces: runs of consecutive parent
 * pairs are coalesced; data is yielded as read. Memory: one group plus O(depth).
 */
export async function * encodeRanges (
  outboard: PreOrderOutboard, data: RandomAccessReader, ranges: ChunkRanges, options: EncodeOptions = {}
): AsyncGenerator<Uint8Array, void, undefined> {
  const validate = options.validate ?? true
  const kernel = options.kernel ?? defaultKernel()
  const { size, chunks, groupLog } = outboard.geometry
  const groupChunks = 2 ** groupLog
  const query = ranges.truncate(size)
  if (query.isEmpty()) return
  const stack: StackEntry[] = [{ start: 0, end: chunks, depth: 0, expected: validate ? outboard.root : undefined }]
  let parents: Uint8Array[] = []
  while (stack.length > 0) {
    options.signal?.throwIfAborted()
    const { start, end, depth, expected } = stack.pop() as StackEntry
    const isRoot = depth === 0
    const count = end - start
    if (count > groupChunks) {
      // A parent of the group tree: its pair comes from the outboard.
      const pair = await outboard.loadPair(preOrderIndex(start / groupChunks, depth), options)
      if (expected !== undefined && !equalBytes(pairCV(pair, 0, isRoot), expected)) {
        throw verifyError('parent', start, end, groupLog)
      }
      parents.push(pair)
      const mid = start + largestPowerOfTwoBelow(count)
      if (query.intersects(mid, end)) {
        stack.push({ start: mid, end, depth: depth + 1, expected: expected !== undefined ? pair.subarray(OUT_LEN) : undefined })
      }
      if (query.intersects(start, mid)) {
        stack.push({ start, end: mid, depth: depth + 1, expected: expected !== undefined ? pair.subarray(0, OUT_LEN) : undefined })
      }
      continue
    }
    // A whole group.
    const byteStart = start * CHUNK_LEN
    const bytes = await readExactly(data, byteStart, Math.min(end * CHUNK_LEN, size) - byteStart, options)
    let piece: Uint8Array
    if (query.covers(start, end)) {
      if (expected !== undefined && !equalBytes(subtreeCV(bytes, start, isRoot, kernel), expected)) {
        throw verifyError('data', start, end, groupLog)
      }
      piece = bytes
    } else {
      const pieces: Uint8Array[] = []
      const cv = encodePartialGroup(bytes, start, isRoot, query, kernel, pieces)
      if (expected !== undefined && !equalBytes(cv, expected)) {
        throw verifyError('data', start, end, groupLog)
      }
      piece = concat(pieces)
    }
    if (parents.length > 0) {
      yield concat(parents)
      parents = []
    }
    if (piece.length > 0) yield piece
  }
  if (parents.length > 0) yield concat(parents)
}

/**
 * Like `encodeRanges`, preceded by the 8-byte little-endian size: the framing of an iroh-blobs
 * response for one blob and of bao combined encodings / slices (§2.4, §2.6).
 */
export async function * encodeRangesWithSize (
  outboard: PreOrderOutboard, data: RandomAccessReader, ranges: ChunkRanges, options: EncodeOptions = {}
): AsyncGenerator<Uint8Array, void, undefined> {
  yield sizePrefix(outboard.size)
  yield * encodeRanges(outboard, data, ranges, options)
}

/** Options of `encodeBytes`. */
export interface EncodeBytesOptions extends EncodeOptions {
  /** log2(chunks per group), default 4. */
  groupLog?: number
  /** Prepend the 8-byte size prefix. Default false. */
  sizePrefix?: boolean
}

/**
 * Convenience for in-memory blobs: computes the outboard, then encodes `ranges`.
 */
export async function * encodeBytes (data: Uint8Array, ranges: ChunkRanges, options: EncodeBytesOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const { digest, outboard } = hashWithOutboard(data, { kernel: options.kernel, groupLog: options.groupLog })
  const ob = new PreOrderOutboard({ root: digest, size: data.length, groupLog: options.groupLog, outboard })
  if (options.sizePrefix === true) yield sizePrefix(data.length)
  yield * encodeRanges(ob, bytesReader(data), ranges, options)
}
