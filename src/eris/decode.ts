/**
 * Streaming ERIS 1.0 decoder with full verification (spec §4.3).
 *
 * The tree is walked depth-first, left to right. Memory: one decrypted internal node per level
 * plus the current leaf (plus up to `prefetch − 1` leaves fetched ahead, if asked for).
 *
 * Checks, each failing with an {@link ErisDecodeError} naming the block as `urn:blake2b:…`:
 * - every block: present, exactly the block size, `BLAKE2b-256(block) == reference`;
 * - every internal node: `BLAKE2b-256(plaintext) == key` (catches a manipulated level or key),
 *   at least one pair, and only null (all-zero) pairs after the first null pair;
 * - the last leaf: ends in `0x80 0x00…` within that block.
 * Leaf keys cannot be checked (the convergence secret is unknown); a wrong leaf key shows up as
 * invalid padding on the last leaf, or as garbage content otherwise — as in every ERIS decoder.
 */
import type { AbortOptions } from '../abort.ts'
import { formatBlockUrn, toReadCapability } from './capability.ts'
import type { ErisReadCapability } from './capability.ts'
import { KEY_LENGTH, PADDING_MARKER, PAIR_LENGTH, REFERENCE_LENGTH } from './constants.ts'
import { chacha20, unkeyedBlake2b256 } from './crypto.ts'
import type { Blake2b256 } from './crypto.ts'
import { ErisDecodeError } from './errors.ts'
import type { ErisDecodeFailure } from './errors.ts'

/** Fetches the encrypted block with this 32-byte reference; `undefined` if it is not available. */
export type ErisBlockGetter = (reference: Uint8Array, options?: AbortOptions) => Promise<Uint8Array | undefined>

export interface DecodeErisOptions extends AbortOptions {
  /**
   * Leaf fetches kept in flight, within one parent node (default 1: strictly one block at a time).
   * Blocks are still verified and yielded in order; memory grows by `prefetch − 1` blocks.
   */
  prefetch?: number
}

interface Frame {
  /** Level of this internal node (≥ 1). */
  level: number
  /** Decrypted node: `count` pairs `r ‖ k`, then zeros. */
  node: Uint8Array
  count: number
  /** Index of the next child to yield. */
  next: number
  /** On the rightmost path of the tree: its last child holds the end of the content. */
  last: boolean
  /** Children fetched ahead (leaf parents only), for indices `next …`. */
  pending: Array<Promise<Uint8Array>> | undefined
  /** Index of the next child to start fetching. */
  fetchNext: number
}

function equal32 (a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) {
    if (a[i] !== b[i]) return false
  }
  return true
}

function fail (message: string, reason: ErisDecodeFailure, reference: Uint8Array): ErisDecodeError {
  return new ErisDecodeError(message, reason, formatBlockUrn(reference))
}

function noop (): void {}

/**
 * Decodes content, yielding it in order. Chunks are fresh arrays owned by the consumer; all but
 * the last are exactly one block long. Stopping the iteration early is fine.
 *
 * @param cap - `urn:eris:…`, 66-byte binary capability or parsed capability (validated eagerly)
 * @param getBlock - block source, called with the options' signal
 * @throws {ErisUrnError} (synchronously) for a malformed capability
 * @throws {ErisDecodeError} (from the iteration) for a missing or invalid block
 */
export function decodeEris (
  cap: string | Uint8Array | ErisReadCapability,
  getBlock: ErisBlockGetter,
  options?: DecodeErisOptions
): AsyncGenerator<Uint8Array, void, undefined> {
  const capability = toReadCapability(cap)
  if (typeof getBlock !== 'function') {
    throw new TypeError('getBlock must be a function')
  }
  const prefetch = options?.prefetch ?? 1
  if (!Number.isInteger(prefetch) || prefetch < 1) {
    throw new RangeError('prefetch must be a positive integer')
  }
  return decodeTree(capability, getBlock, prefetch, options)
}

async function * decodeTree (
  cap: ErisReadCapability,
  getBlock: ErisBlockGetter,
  prefetch: number,
  options: AbortOptions | undefined
): AsyncGenerator<Uint8Array, void, undefined> {
  const bs = cap.blockSize
  const hasher = await unkeyedBlake2b256()

  /** Fetches, verifies and decrypts one block. */
  const fetchBlock = async (reference: Uint8Array, key: Uint8Array, level: number): Promise<Uint8Array> => {
    const block = await getBlock(reference, options)
    if (block == null) {
      throw fail('block not available', 'block-missing', reference)
    }
    if (!(block instanceof Uint8Array) || block.length !== bs) {
      throw fail(`block is ${block instanceof Uint8Array ? block.length : typeof block} bytes, the read capability says ${bs}`, 'block-size', reference)
    }
    if (!equal32(hasher.digest(block), reference)) {
      throw fail('block does not match its reference', 'reference-mismatch', reference)
    }
    return chacha20(key, level, block)
  }

  /** Verifies a decrypted internal node and counts its pairs. */
  const readNode = (node: Uint8Array, reference: Uint8Array, key: Uint8Array): number => {
    if (!equal32(hasher.digest(node), key)) {
      throw fail('internal node does not hash to its key (manipulated key or level)', 'key-mismatch', reference)
    }
    let count = 0
    const arity = bs / PAIR_LENGTH
    while (count < arity && !isNullPair(node, count * PAIR_LENGTH)) count++
    if (count === 0) {
      throw fail('internal node has no reference-key pairs', 'invalid-node', reference)
    }
    for (let i = count * PAIR_LENGTH; i < bs; i++) {
      if (node[i] !== 0) {
        throw fail(`internal node has non-null data after the null pair at index ${count}`, 'invalid-node', reference)
      }
    }
    return count
  }

  const unpad = (leaf: Uint8Array, reference: Uint8Array): Uint8Array => {
    let i = leaf.length - 1
    while (i >= 0 && leaf[i] === 0) i--
    if (i < 0 || leaf[i] !== PADDING_MARKER) {
      throw fail('last block is not padded with 0x80 0x00…', 'invalid-padding', reference)
    }
    return leaf.subarray(0, i)
  }

  const referenceAt = (frame: Frame, i: number): Uint8Array =>
    frame.node.subarray(i * PAIR_LENGTH, i * PAIR_LENGTH + REFERENCE_LENGTH)
  const keyAt = (frame: Frame, i: number): Uint8Array =>
    frame.node.subarray(i * PAIR_LENGTH + REFERENCE_LENGTH, i * PAIR_LENGTH + REFERENCE_LENGTH + KEY_LENGTH)

  const fillPrefetch = (frame: Frame): void => {
    const pending = frame.pending
    if (pending === undefined) return
    while (pending.length < prefetch && frame.fetchNext < frame.count) {
      const i = frame.fetchNext++
      const p = fetchBlock(referenceAt(frame, i), keyAt(frame, i), 0)
      p.catch(noop) // consumed (and rethrown) in order; avoid unhandled rejections if abandoned
      pending.push(p)
    }
  }

  options?.signal?.throwIfAborted()
  const rootPlain = await fetchBlock(cap.rootReference, cap.rootKey, cap.level)
  if (cap.level === 0) {
    const content = unpad(rootPlain, cap.rootReference)
    if (content.length > 0) yield content
    return
  }

  const makeFrame = (node: Uint8Array, level: number, reference: Uint8Array, key: Uint8Array, last: boolean): Frame => {
    const frame: Frame = {
      level,
      node,
      count: readNode(node, reference, key),
      next: 0,
      last,
      pending: level === 1 && prefetch > 1 ? [] : undefined,
      fetchNext: 0
    }
    fillPrefetch(frame)
    return frame
  }

  const stack: Frame[] = [makeFrame(rootPlain, cap.level, cap.rootReference, cap.rootKey, true)]
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]
    if (frame.next === frame.count) {
      stack.pop()
      continue
    }
    options?.signal?.throwIfAborted()
    const i = frame.next++
    const last = frame.last && i === frame.count - 1
    const reference = referenceAt(frame, i)
    const key = keyAt(frame, i)
    const childLevel = frame.level - 1
    let plain: Uint8Array
    if (frame.pending !== undefined) {
      const p = frame.pending.shift()
      if (p === undefined) throw new Error('ERIS decoder: prefetch queue out of step') // unreachable
      plain = await p
      fillPrefetch(frame)
    } else {
      plain = await fetchBlock(reference, key, childLevel)
    }
    if (childLevel === 0) {
      if (last) {
        const content = unpad(plain, reference)
        if (content.length > 0) yield content
      } else {
        yield plain
      }
    } else {
      stack.push(makeFrame(plain, childLevel, reference, key, last))
    }
  }
}

function isNullPair (node: Uint8Array, offset: number): boolean {
  for (let i = offset; i < offset + PAIR_LENGTH; i++) {
    if (node[i] !== 0) return false
  }
  return true
}

/** Decodes into one buffer — for tests and small content only. */
export async function decodeErisBytes (
  cap: string | Uint8Array | ErisReadCapability,
  getBlock: ErisBlockGetter,
  options?: DecodeErisOptions
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of decodeEris(cap, getBlock, options)) {
    chunks.push(chunk)
    length += chunk.length
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}
