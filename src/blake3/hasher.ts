/**
 * Streaming BLAKE3 hashers over chunk groups.
 *
 * - `TreeHasher`: blob of known size; yields the root hash and every parent pair of the
 *   pre-order outboard at its final offset as soon as it is known (bounded memory).
 * - `Blake3Hasher`: plain streaming hash of input of unknown length (e.g. stdin).
 *
 * Whole groups go to the kernel in batches, straight from the caller's buffer when possible.
 * Spec: shared/specs/content-addressing.md §2.2 (CV stack), §2.3 (group CVs), §2.5 (outboard).
 */
import type { Blake3Kernel } from './kernel-types.ts'
import type { AbortOptions } from '../abort.ts'
import { defaultKernel } from './kernel.ts'
import { loadWords, parentCVWords, storeWords } from './compress.ts'
import { GROUP_CHUNKS, GROUP_LEN, GROUP_LOG, MAX_DEPTH, OUT_LEN, PAIR_LEN } from './constants.ts'
import { Blake3SizeError } from './errors.ts'
import { subtreeCV } from './subtree.ts'
import { TreeGeometry, nodeDepth, preOrderIndex } from './tree.ts'

/** Groups handed to the kernel per call (1 MiB at 16 KiB groups). */
const BATCH_GROUPS = 64

/** Receives one parent pair `left_cv ‖ right_cv` and its byte offset in the pre-order outboard. */
export type ParentCallback = (outboardOffset: number, pair: Uint8Array) => void

/**
 * Stack of chaining values of complete subtrees of groups (at most one per level), merged
 * eagerly while more groups are known to follow (spec §2.2 "Streaming (incremental) hashing").
 */
class CvStack {
  readonly words = new Int32Array((MAX_DEPTH + 1) * 8)
  readonly starts: number[] = []
  private readonly pairWords = new Int32Array(16)

  get length (): number {
    return this.starts.length
  }

  /**
   * Pushes the CV of group `g` (8 words at `cv[off]`), which is not the last group, and merges
   * the complete subtrees that end with it. `report(start, end, pairWords)` sees each merge.
   */
  push (cv: Int32Array, off: number, g: number, report?: (start: number, end: number, pair: Int32Array) => void): void {
    const w = this.words
    let top = this.starts.length
    w.set(cv.subarray(off, off + 8), top << 3)
    let start = g
    let total = g + 1
    while (total % 2 === 0) {
      const leftStart = this.starts.pop() as number
      top--
      if (report !== undefined) {
        this.pairWords.set(w.subarray(top << 3, (top + 2) << 3))
        report(leftStart, g + 1, this.pairWords)
      }
      parentCVWords(w, top << 3, w, (top + 1) << 3, false, w, top << 3)
      start = leftStart
      total /= 2
    }
    this.starts.push(start)
  }

  /**
   * Merges the CV of the last group (ending at leaf `end`) with everything on the stack, the
   * final merge with the ROOT flag, without modifying the stack. Returns the 32-byte root hash.
   */
  finish (last: Int32Array, end: number, report?: (start: number, end: number, pair: Int32Array) => void): Uint8Array {
    const right = Int32Array.from(last.subarray(0, 8))
    for (let i = this.starts.length - 1; i >= 0; i--) {
      const pair = this.pairWords
      pair.set(this.words.subarray(i << 3, (i + 1) << 3), 0)
      pair.set(right, 8)
      if (report !== undefined) report(this.starts[i], end, pair)
      parentCVWords(pair, 0, pair, 8, i === 0, right, 0)
    }
    const out = new Uint8Array(OUT_LEN)
    storeWords(right, 0, 8, out, 0)
    return out
  }
}

/** Options of `TreeHasher`. */
export interface TreeHasherInit {
  /** Exact number of bytes that will be fed. */
  size: number
  /** Compression kernel for whole groups; default: `defaultKernel()`. */
  kernel?: Blake3Kernel
  /** log2(chunks per group): 4 (16 KiB, iroh) by default; 0 is the bao geometry. */
  groupLog?: number
  /**
   * Called once per parent with its outboard offset and a fresh 64-byte pair, as soon as both
   * children are known (post-order, so offsets are not sequential).
   */
  onParent?: ParentCallback
}

/**
 * Hashes a blob of known size in one pass, producing the root hash and (through `onParent`)
 * the pre-order outboard. Memory: one group buffer plus an O(log n) CV stack.
 */
export class TreeHasher {
  readonly geometry: TreeGeometry
  private readonly kernel: Blake3Kernel
  private readonly onParent: ParentCallback | undefined
  private readonly stack = new CvStack()
  private readonly buffer: Uint8Array
  private readonly batchBytes: Uint8Array
  private readonly batchWords: Int32Array
  private readonly report: ((start: number, end: number, pair: Int32Array) => void) | undefined
  private fill = 0
  private fed = 0
  private nextGroup = 0
  private result: Uint8Array | undefined

  constructor (init: TreeHasherInit) {
    this.geometry = new TreeGeometry(init.size, init.groupLog ?? GROUP_LOG)
    this.kernel = init.kernel ?? defaultKernel()
    this.onParent = init.onParent
    this.buffer = new Uint8Array(Math.min(this.geometry.groupLen, init.size))
    const batch = this.geometry.groupLog === GROUP_LOG ? BATCH_GROUPS : 1
    this.batchBytes = new Uint8Array(batch * OUT_LEN)
    this.batchWords = new Int32Array(batch * 8)
    const onParent = this.onParent
    if (onParent !== undefined) {
      const groups = this.geometry.groups
      this.report = (start, end, pairWords) => {
        const pair = new Uint8Array(PAIR_LEN)
        storeWords(pairWords, 0, 16, pair, 0)
        onParent(preOrderIndex(start, nodeDepth(start, end, groups)) * PAIR_LEN, pair)
      }
    }
  }

  /** Bytes fed so far. */
  get bytesHashed (): number {
    return this.fed
  }

  /** Feeds the next bytes of the blob (any piece size). */
  update (data: Uint8Array): this {
    if (this.result !== undefined) {
      throw new Blake3SizeError('TreeHasher: update() after finalize()')
    }
    const len = data.length
    if (this.fed + len > this.geometry.size) {
      throw new Blake3SizeError(`TreeHasher: fed ${this.fed + len} bytes, more than the declared size ${this.geometry.size}`)
    }
    this.fed += len
    const { groupLen, groups } = this.geometry
    let pos = 0
    while (pos < len) {
      if (this.fill === 0 && this.nextGroup < groups - 1 && len - pos >= groupLen) {
        const n = Math.min(Math.floor((len - pos) / groupLen), groups - 1 - this.nextGroup, this.batchWords.length >> 3)
        this.fullGroups(data, pos, n)
        pos += n * groupLen
        continue
      }
      const take = Math.min(this.buffer.length - this.fill, len - pos)
      this.buffer.set(data.subarray(pos, pos + take), this.fill)
      this.fill += take
      pos += take
      if (this.fill === groupLen && this.nextGroup < groups - 1) {
        this.fullGroups(this.buffer, 0, 1)
        this.fill = 0
      }
    }
    return this
  }

  /** Hashes `n` whole groups (none of them the last) at `data[off]`. */
  private fullGroups (data: Uint8Array, off: number, n: number): void {
    const { groupLog, groupLen } = this.geometry
    const first = this.nextGroup
    if (groupLog === GROUP_LOG) {
      this.kernel.groupCVs(data.subarray(off, off + n * GROUP_LEN), first * GROUP_CHUNKS, this.batchBytes)
      loadWords(this.batchBytes, 0, this.batchWords, 0, n * 8)
    } else {
      const cv = subtreeCV(data.subarray(off, off + groupLen), first * 2 ** groupLog, false, this.kernel)
      loadWords(cv, 0, this.batchWords, 0, 8)
    }
    for (let i = 0; i < n; i++) {
      this.stack.push(this.batchWords, i << 3, first + i, this.report)
    }
    this.nextGroup += n
  }

  /**
   * Returns the 32-byte root hash. Throws `Blake3SizeError` if fewer bytes than the declared
   * size were fed. Idempotent.
   */
  finalize (): Uint8Array {
    if (this.result !== undefined) return this.result.slice()
    const { size, groups, groupLog } = this.geometry
    if (this.fed !== size) {
      throw new Blake3SizeError(`TreeHasher: fed ${this.fed} bytes, declared size ${size}`)
    }
    const last = this.buffer.subarray(0, this.fill)
    if (groups === 1) {
      this.result = subtreeCV(last, 0, true, this.kernel)
    } else {
      const cv = subtreeCV(last, (groups - 1) * 2 ** groupLog, false, this.kernel)
      const words = new Int32Array(8)
      loadWords(cv, 0, words, 0, 8)
      this.result = this.stack.finish(words, groups, this.report)
    }
    return this.result.slice()
  }
}

/** Options of `hashWithOutboard`. */
export interface OutboardOptions {
  kernel?: Blake3Kernel
  /** log2(chunks per group), default 4 (16 KiB). */
  groupLog?: number
}

/** Root hash and pre-order outboard (no size prefix) of an in-memory blob. */
export function hashWithOutboard (data: Uint8Array, options: OutboardOptions = {}): { digest: Uint8Array, outboard: Uint8Array } {
  let outboard: Uint8Array | undefined
  const hasher = new TreeHasher({
    size: data.length,
    kernel: options.kernel,
    groupLog: options.groupLog,
    onParent: (offset, pair) => { (outboard as Uint8Array).set(pair, offset) }
  })
  outboard = new Uint8Array(hasher.geometry.outboardSize)
  hasher.update(data)
  return { digest: hasher.finalize(), outboard }
}

/**
 * Hashes a stream of known total size with a `TreeHasher`, calling `init.onParent` for each
 * parent pair. Throws `Blake3SizeError` if the stream is shorter or longer than `init.size`.
 */
export async function treeHashStream (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, init: TreeHasherInit, options?: AbortOptions): Promise<Uint8Array> {
  const hasher = new TreeHasher(init)
  for await (const piece of source) {
    options?.signal?.throwIfAborted()
    hasher.update(piece)
  }
  options?.signal?.throwIfAborted()
  return hasher.finalize()
}

/** Options of `Blake3Hasher`. */
export interface Blake3HasherInit {
  kernel?: Blake3Kernel
}

/**
 * Plain streaming BLAKE3 (hash mode, 32-byte digest) for input of unknown length. A group is
 * hashed only once more input follows it (it might be the root otherwise). Same result as
 * `TreeHasher`'s root for the same bytes.
 */
export class Blake3Hasher {
  private readonly kernel: Blake3Kernel
  private readonly stack = new CvStack()
  private readonly buffer = new Uint8Array(GROUP_LEN)
  private readonly batchBytes = new Uint8Array(BATCH_GROUPS * OUT_LEN)
  private readonly batchWords = new Int32Array(BATCH_GROUPS * 8)
  private fill = 0
  private nextGroup = 0
  private total = 0

  constructor (init: Blake3HasherInit = {}) {
    this.kernel = init.kernel ?? defaultKernel()
  }

  /** Bytes fed so far. */
  get bytesHashed (): number {
    return this.total
  }

  update (data: Uint8Array): this {
    const len = data.length
    this.total += len
    if (this.total > Number.MAX_SAFE_INTEGER) {
      throw new Blake3SizeError('Blake3Hasher: input longer than 2^53 − 1 bytes')
    }
    let pos = 0
    while (pos < len) {
      if (this.fill === GROUP_LEN) {
        // More input follows, so the buffered group is not the last one.
        this.fullGroups(this.buffer, 0, 1)
        this.fill = 0
      }
      if (this.fill === 0 && len - pos > GROUP_LEN) {
        // Leave at least one byte behind: the last group must stay buffered.
        const n = Math.min(Math.floor((len - pos - 1) / GROUP_LEN), BATCH_GROUPS)
        this.fullGroups(data, pos, n)
        pos += n * GROUP_LEN
        continue
      }
      const take = Math.min(GROUP_LEN - this.fill, len - pos)
      this.buffer.set(data.subarray(pos, pos + take), this.fill)
      this.fill += take
      pos += take
    }
    return this
  }

  private fullGroups (data: Uint8Array, off: number, n: number): void {
    const first = this.nextGroup
    this.kernel.groupCVs(data.subarray(off, off + n * GROUP_LEN), first * GROUP_CHUNKS, this.batchBytes)
    loadWords(this.batchBytes, 0, this.batchWords, 0, n * 8)
    for (let i = 0; i < n; i++) {
      this.stack.push(this.batchWords, i << 3, first + i)
    }
    this.nextGroup += n
  }

  /** The 32-byte digest of everything fed so far (the hasher stays usable). */
  digest (): Uint8Array {
    const last = this.buffer.subarray(0, this.fill)
    if (this.nextGroup === 0) {
      return subtreeCV(last, 0, true, this.kernel)
    }
    const cv = subtreeCV(last, this.nextGroup * GROUP_CHUNKS, false, this.kernel)
    const words = new Int32Array(8)
    loadWords(cv, 0, words, 0, 8)
    return this.stack.finish(words, this.nextGroup + 1)
  }
}

/** BLAKE3 (hash mode, 32 bytes) of an in-memory buffer, using the default kernel. */
export function blake3 (data: Uint8Array, kernel: Blake3Kernel = defaultKernel()): Uint8Array {
  return new TreeHasher({ size: data.length, kernel }).update(data).finalize()
}
