/**
 * Geometry of the BLAKE3 tree over chunk groups (bao-tree `BaoTree`).
 *
 * A blob of `size` bytes has `max(1, ceil(size / 1024))` chunks; with groups of 2^k chunks it has
 * `max(1, ceil(size / (1024·2^k)))` groups. Above the groups the tree is the ordinary BLAKE3 tree
 * over groups: a subtree of `n ≥ 2` leaves splits into a complete left subtree of the largest
 * power of two `< n` leaves and the rest (spec: shared/specs/content-addressing.md §2.2, §2.3).
 * The pre-order outboard stores one 64-byte pair per parent above the groups:
 * `outboardSize = (groups − 1) × 64` (§2.5). k = 0 is the bao geometry (§2.4).
 *
 * Nodes are identified by their group range `[startGroup, endGroup)`.
 */
import { CHUNK_LEN, GROUP_LOG, MAX_GROUP_LOG, MAX_SIZE, PAIR_LEN } from './constants.ts'
import { Blake3ArgumentError, Blake3SizeError } from './errors.ts'
import { largestPowerOfTwoBelow } from './compress.ts'

export { largestPowerOfTwoBelow } from './compress.ts'

/** Throws `Blake3SizeError` unless `size` is a safe non-negative integer. */
export function checkSize (size: number): void {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_SIZE) {
    throw new Blake3SizeError(`invalid blob size ${String(size)}: must be an integer in [0, ${MAX_SIZE}]`)
  }
}

/** Throws `Blake3ArgumentError` unless `groupLog` is an integer in [0, MAX_GROUP_LOG]. */
export function checkGroupLog (groupLog: number): void {
  if (!Number.isInteger(groupLog) || groupLog < 0 || groupLog > MAX_GROUP_LOG) {
    throw new Blake3ArgumentError(`invalid group log ${String(groupLog)}: must be an integer in [0, ${MAX_GROUP_LOG}]`)
  }
}

/** Number of 1 KiB chunks of a blob (at least 1, even for the empty blob). */
export function chunkCount (size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_LEN))
}

/** Bytes per group for a group log. */
export function groupBytes (groupLog: number = GROUP_LOG): number {
  return CHUNK_LEN * 2 ** groupLog
}

/** Number of chunk groups of a blob (at least 1). */
export function groupCount (size: number, groupLog: number = GROUP_LOG): number {
  return Math.max(1, Math.ceil(size / groupBytes(groupLog)))
}

/** Bytes of the pre-order outboard (no size prefix): `(groups − 1) × 64`. */
export function outboardSize (size: number, groupLog: number = GROUP_LOG): number {
  checkSize(size)
  checkGroupLog(groupLog)
  return (groupCount(size, groupLog) - 1) * PAIR_LEN
}

/** Number of set bits of a safe non-negative integer. */
export function popcount (n: number): number {
  let count = 0
  let lo = n % 4294967296
  let hi = Math.floor(n / 4294967296)
  while (lo !== 0) { lo &= lo - 1; count++ }
  while (hi !== 0) { hi &= hi - 1; count++ }
  return count
}

/**
 * Pre-order index (among parents only) of the parent whose subtree starts at leaf `start` and
 * has `depth` ancestors. The leaves before `start` form complete subtrees holding
 * `start − popcount(start)` parents, all of which precede the node in pre-order, and so do its
 * ancestors.
 */
export function preOrderIndex (start: number, depth: number): number {
  return start - popcount(start) + depth
}

/** A parent node of the group tree. */
export interface ParentNode {
  /** Pre-order index among parents; its pair is at outboard offset `index × 64`. */
  index: number
  /** First leaf (group) of the subtree. */
  start: number
  /** First leaf of the right child (= end of the left child). */
  mid: number
  /** End leaf (exclusive). */
  end: number
  /** Number of ancestors (0 for the root). */
  depth: number
  /** True for the root of the tree (ROOT flag). */
  isRoot: boolean
}

/**
 * Depth of the subtree `[start, end)` in a tree of `leaves` leaves, or -1 if no node of the
 * tree has exactly that range.
 */
export function nodeDepth (start: number, end: number, leaves: number): number {
  let a = 0
  let b = leaves
  let depth = 0
  while (true) {
    if (a === start && b === end) return depth
    const n = b - a
    if (n < 2 || start < a || end > b) return -1
    const mid = a + largestPowerOfTwoBelow(n)
    if (end <= mid) {
      b = mid
    } else if (start >= mid) {
      a = mid
    } else {
      return -1
    }
    depth++
  }
}

/** Describes the parent `[start, end)` of a tree of `leaves` leaves (throws if it is not a parent). */
export function parentNode (start: number, end: number, leaves: number): ParentNode {
  const depth = end - start >= 2 ? nodeDepth(start, end, leaves) : -1
  if (depth < 0) {
    throw new Blake3ArgumentError(`[${start}, ${end}) is not a parent node of a tree with ${leaves} leaves`)
  }
  return {
    index: preOrderIndex(start, depth),
    start,
    mid: start + largestPowerOfTwoBelow(end - start),
    end,
    depth,
    isRoot: depth === 0
  }
}

/**
 * All parents of a tree of `leaves` leaves in pre-order (parent, left subtree, right subtree);
 * the n-th one yielded has `index === n`. Memory O(depth).
 */
export function * parentsPreOrder (leaves: number): Generator<ParentNode> {
  if (leaves < 2) return
  const stack: Array<[number, number, number]> = [[0, leaves, 0]]
  let index = 0
  while (stack.length > 0) {
    const [start, end, depth] = stack.pop() as [number, number, number]
    const mid = start + largestPowerOfTwoBelow(end - start)
    yield { index: index++, start, mid, end, depth, isRoot: depth === 0 }
    if (end - mid >= 2) stack.push([mid, end, depth + 1])
    if (mid - start >= 2) stack.push([start, mid, depth + 1])
  }
}

/** Geometry of one blob at one group size. */
export class TreeGeometry {
  /** Blob size in bytes. */
  readonly size: number
  /** log2(chunks per group). */
  readonly groupLog: number
  /** Bytes per (full) group. */
  readonly groupLen: number
  /** Number of chunks (≥ 1). */
  readonly chunks: number
  /** Number of groups (≥ 1). */
  readonly groups: number
  /** Bytes of the pre-order outboard. */
  readonly outboardSize: number

  constructor (size: number, groupLog: number = GROUP_LOG) {
    checkSize(size)
    checkGroupLog(groupLog)
    this.size = size
    this.groupLog = groupLog
    this.groupLen = groupBytes(groupLog)
    this.chunks = chunkCount(size)
    this.groups = groupCount(size, groupLog)
    this.outboardSize = (this.groups - 1) * PAIR_LEN
  }

  /** Byte offset of group `g`. */
  groupOffset (g: number): number {
    return g * this.groupLen
  }

  /** Bytes in group `g` (the last one may be partial; the only group of an empty blob has 0). */
  groupLength (g: number): number {
    return Math.min(this.groupLen, this.size - g * this.groupLen)
  }

  /** Parent `[start, end)` (in groups) of this tree. */
  parent (start: number, end: number): ParentNode {
    return parentNode(start, end, this.groups)
  }

  /** All parents in pre-order. */
  parentsPreOrder (): Generator<ParentNode> {
    return parentsPreOrder(this.groups)
  }
}
