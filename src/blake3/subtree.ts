/**
 * Chaining value of an arbitrary subtree: a chunk group, part of a group, or several groups
 * (bao-tree `hash_subtree`, spec: shared/specs/content-addressing.md §2.3). Whole aligned
 * 16 KiB groups that are not the root go through the kernel; everything else (partial groups,
 * the root, sub-group pieces) is hashed by the pure-TS compression.
 */
import type { Blake3Kernel } from './kernel-types.ts'
import {
  chunkOutput, largestPowerOfTwoBelow, parentCVWords, storeWords, loadWords
} from './compress.ts'
import { CHUNK_LEN, GROUP_CHUNKS, GROUP_LEN, OUT_LEN } from './constants.ts'

/** Kernel batch: groups per kernel call when hashing several groups of one subtree. */
const BATCH_GROUPS = 64

/**
 * Merges `count` (a power of two) consecutive 8-word CVs at `cvs[off..]` into one, in place
 * (result at `cvs[off]`); none of the parents is the root unless `isRoot` and it is the last.
 */
function mergeComplete (cvs: Int32Array, off: number, count: number, isRoot: boolean): void {
  for (let n = count; n > 1; n >>= 1) {
    for (let i = 0; i < n; i += 2) {
      parentCVWords(cvs, off + (i << 3), cvs, off + ((i + 1) << 3), isRoot && n === 2, cvs, off + ((i >> 1) << 3))
    }
  }
}

/**
 * CV (8 words, written to `out[outOff]`) of the complete, group-aligned, non-root subtree of
 * `groups` (a power of two) whole 16 KiB groups at `data[off]`, first chunk `startChunk`.
 */
function completeGroupsCV (
  data: Uint8Array, off: number, groups: number, startChunk: number,
  kernel: Blake3Kernel, out: Int32Array, outOff: number
): void {
  if (groups === 1) {
    const bytes = new Uint8Array(OUT_LEN)
    kernel.groupCVs(data.subarray(off, off + GROUP_LEN), startChunk, bytes)
    loadWords(bytes, 0, out, outOff, 8)
    return
  }
  if (groups <= BATCH_GROUPS) {
    const bytes = new Uint8Array(groups * OUT_LEN)
    kernel.groupCVs(data.subarray(off, off + groups * GROUP_LEN), startChunk, bytes)
    const cvs = new Int32Array(groups * 8)
    loadWords(bytes, 0, cvs, 0, groups * 8)
    mergeComplete(cvs, 0, groups, false)
    out.set(cvs.subarray(0, 8), outOff)
    return
  }
  // Larger: two halves (bounded scratch per level, depth ≤ log2(groups / 64)).
  const half = groups / 2
  const pair = new Int32Array(16)
  completeGroupsCV(data, off, half, startChunk, kernel, pair, 0)
  completeGroupsCV(data, off + half * GROUP_LEN, half, startChunk + half * GROUP_CHUNKS, kernel, pair, 8)
  parentCVWords(pair, 0, pair, 8, false, out, outOff)
}

function subtreeCVWords (
  data: Uint8Array, off: number, len: number, startChunk: number, isRoot: boolean,
  kernel: Blake3Kernel, out: Int32Array, outOff: number
): void {
  const chunks = Math.max(1, Math.ceil(len / CHUNK_LEN))
  if (!isRoot && len === chunks * CHUNK_LEN && chunks % GROUP_CHUNKS === 0 &&
      startChunk % GROUP_CHUNKS === 0 && (chunks & (chunks - 1)) === 0) {
    completeGroupsCV(data, off, chunks / GROUP_CHUNKS, startChunk, kernel, out, outOff)
    return
  }
  if (chunks === 1) {
    // Never the root here: a root chunk is finished by subtreeCV() with rootBytes().
    out.set(chunkOutput(data, off, len, startChunk).chainingValueWords(), outOff)
    return
  }
  const leftChunks = largestPowerOfTwoBelow(chunks)
  const leftLen = leftChunks * CHUNK_LEN
  const pair = new Int32Array(16)
  subtreeCVWords(data, off, leftLen, startChunk, false, kernel, pair, 0)
  subtreeCVWords(data, off + leftLen, len - leftLen, startChunk + leftChunks, false, kernel, pair, 8)
  parentCVWords(pair, 0, pair, 8, isRoot, out, outOff)
}

/**
 * CV of the subtree formed by `data` (at most a power-of-two number of chunks when not on the
 * right edge of the blob), whose first chunk has index `startChunk`. With `isRoot` this is the
 * blob's 32-byte root hash (only valid when `data` is the whole blob and `startChunk` is 0).
 */
export function subtreeCV (data: Uint8Array, startChunk: number, isRoot: boolean, kernel: Blake3Kernel): Uint8Array {
  const result = new Uint8Array(OUT_LEN)
  if (isRoot && data.length <= CHUNK_LEN) {
    result.set(chunkOutput(data, 0, data.length, startChunk).rootBytes(OUT_LEN))
    return result
  }
  const words = new Int32Array(8)
  subtreeCVWords(data, 0, data.length, startChunk, isRoot, kernel, words, 0)
  storeWords(words, 0, 8, result, 0)
  return result
}
