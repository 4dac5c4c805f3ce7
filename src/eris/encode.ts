/**
 * Streaming ERIS 1.0 encoder (spec §4.2).
 *
 * Memory is bounded by (tree depth + 1) block buffers: the leaf being filled plus one partial
 * internal node per level. Leaves are encrypted as soon as they are complete and internal nodes
 * as soon as they hold `arity` pairs; only the rightmost, partial nodes wait for `finish()`.
 */
import type { AbortOptions } from '../abort.ts'
import { base32Encode } from './base32.ts'
import { formatErisUrn, isErisBlockSize } from './capability.ts'
import type { ErisReadCapability } from './capability.ts'
import { CONVERGENCE_SECRET_LENGTH, PADDING_MARKER, PAIR_LENGTH, REFERENCE_LENGTH, arity } from './constants.ts'
import type { ErisBlockSize } from './constants.ts'
import { chacha20, keyedBlake2b256, unkeyedBlake2b256 } from './crypto.ts'
import type { Blake2b256 } from './crypto.ts'
import { ErisEncodeError } from './errors.ts'

/**
 * Receives every encrypted block as it is produced, leaves first, each internal node right after
 * its last child. Identical content yields identical blocks, so the same reference can be passed
 * more than once. Both arrays are fresh and owned by the callee. Returning a promise applies
 * backpressure: encoding waits for it.
 */
export type ErisBlockSink = (reference: Uint8Array, block: Uint8Array, info: ErisBlockInfo) => void | Promise<void>

/** Where a block sits in the tree: level 0 = leaves, in content order; higher = internal nodes. */
export interface ErisBlockInfo {
  level: number
}

export interface EncodeErisOptions extends AbortOptions {
  blockSize: ErisBlockSize
  /** 32 bytes; `null`/absent = the null convergence secret (32 zero bytes), i.e. convergent encoding. */
  convergenceSecret?: Uint8Array | null
  onBlock?: ErisBlockSink
}

export interface EncodeErisResult {
  capability: ErisReadCapability
  /** `urn:eris:…` */
  urn: string
  /** Bytes of content consumed (before padding). */
  contentLength: number
  /** Blocks passed to `onBlock`, duplicates included (leaves + internal nodes). */
  blockCount: number
}

function isPromise (value: unknown): value is Promise<void> {
  return value != null && typeof (value as Promise<void>).then === 'function'
}

/**
 * Push-style encoder: `await update(chunk)` any number of times, then `await finish()`.
 * Use {@link encodeEris} for an async-iterable source.
 */
export class ErisEncoder {
  readonly blockSize: ErisBlockSize
  readonly #arity: number
  readonly #leafHasher: Blake2b256
  readonly #hasher: Blake2b256
  readonly #onBlock: ErisBlockSink | undefined
  readonly #leaf: Uint8Array
  #leafFill = 0
  /** nodes[L] collects the pairs of level L−1 into an internal node of level L (index 0 unused). */
  readonly #nodes: Uint8Array[] = []
  /** Pairs currently in nodes[L]. */
  readonly #nodeFill: number[] = []
  /** Pairs ever added to nodes[L]. */
  readonly #pairCount: number[] = []
  #contentLength = 0
  #blockCount = 0
  #finished = false
  #busy = false

  /** Use {@link ErisEncoder.create}. */
  constructor (blockSize: ErisBlockSize, leafHasher: Blake2b256, hasher: Blake2b256, onBlock?: ErisBlockSink) {
    if (!isErisBlockSize(blockSize)) {
      throw new ErisEncodeError(`invalid ERIS block size ${String(blockSize)} (must be 1024 or 32768)`)
    }
    this.blockSize = blockSize
    this.#arity = arity(blockSize)
    this.#leafHasher = leafHasher
    this.#hasher = hasher
    this.#onBlock = onBlock
    this.#leaf = new Uint8Array(blockSize)
  }

  static async create (options: EncodeErisOptions): Promise<ErisEncoder> {
    const { blockSize, convergenceSecret, onBlock } = options
    if (!isErisBlockSize(blockSize)) {
      throw new ErisEncodeError(`invalid ERIS block size ${String(blockSize)} (must be 1024 or 32768)`)
    }
    let secret: Uint8Array = new Uint8Array(CONVERGENCE_SECRET_LENGTH)
    if (convergenceSecret != null) {
      if (!(convergenceSecret instanceof Uint8Array) || convergenceSecret.length !== CONVERGENCE_SECRET_LENGTH) {
        throw new ErisEncodeError(`convergence secret must be ${CONVERGENCE_SECRET_LENGTH} bytes`)
      }
      secret = convergenceSecret
    }
    if (onBlock != null && typeof onBlock !== 'function') {
      throw new ErisEncodeError('onBlock must be a function')
    }
    const [leafHasher, hasher] = await Promise.all([keyedBlake2b256(secret), unkeyedBlake2b256()])
    return new ErisEncoder(blockSize, leafHasher, hasher, onBlock)
  }

  /** Bytes consumed so far. */
  get contentLength (): number {
    return this.#contentLength
  }

  /**
   * Consumes a chunk of content. Must not be called again before the returned promise settles.
   * After a failure (sink error, abort) the encoder refuses further use.
   */
  async update (chunk: Uint8Array, options?: AbortOptions): Promise<void> {
    if (!(chunk instanceof Uint8Array)) {
      throw new ErisEncodeError(`content chunks must be Uint8Array, got ${typeof chunk}`)
    }
    this.#enter()
    try {
      const bs = this.blockSize
      const leaf = this.#leaf
      let offset = 0
      const length = chunk.length
      while (offset < length) {
        options?.signal?.throwIfAborted()
        let plain: Uint8Array
        if (this.#leafFill === 0 && length - offset >= bs) {
          // whole block straight from the input, no copy
          plain = chunk.subarray(offset, offset + bs)
          offset += bs
        } else {
          const n = Math.min(bs - this.#leafFill, length - offset)
          leaf.set(chunk.subarray(offset, offset + n), this.#leafFill)
          this.#leafFill += n
          offset += n
          if (this.#leafFill < bs) break
          this.#leafFill = 0
          plain = leaf
        }
        const pending = this.#block(plain, 0)
        if (pending !== undefined) await pending
      }
      this.#contentLength += length
    } catch (err) {
      this.#finished = true // state is undefined after a failed block: refuse further use
      throw err
    } finally {
      this.#busy = false
    }
  }

  /** Pads, flushes the partial nodes and returns the read capability. */
  async finish (options?: AbortOptions): Promise<EncodeErisResult> {
    this.#enter()
    this.#finished = true
    try {
      options?.signal?.throwIfAborted()
      // §4.2 step 1: 0x80 then zeros; always at least one byte, so a full last block adds a block.
      const leaf = this.#leaf
      leaf[this.#leafFill] = PADDING_MARKER
      leaf.fill(0, this.#leafFill + 1)
      this.#leafFill = 0
      await this.#block(leaf, 0)

      // §4.2 step 5: close the partial nodes bottom-up until a level holds a single pair.
      let rootLevel = 0
      for (let L = 1; ; L++) {
        options?.signal?.throwIfAborted()
        if (this.#pairCount[L] === 1) {
          rootLevel = L - 1
          break
        }
        const fill = this.#nodeFill[L]
        if (fill > 0) {
          const node = this.#nodes[L]
          node.fill(0, fill * PAIR_LENGTH) // §4.2 step 4: zero-filled to the block size
          this.#nodeFill[L] = 0
          await this.#block(node, L)
        }
      }
      const root = this.#nodes[rootLevel + 1]
      const capability: ErisReadCapability = {
        blockSize: this.blockSize,
        level: rootLevel,
        rootReference: root.slice(0, REFERENCE_LENGTH),
        rootKey: root.slice(REFERENCE_LENGTH, PAIR_LENGTH)
      }
      return {
        capability,
        urn: formatErisUrn(capability),
        contentLength: this.#contentLength,
        blockCount: this.#blockCount
      }
    } finally {
      this.#busy = false
    }
  }

  #enter (): void {
    if (this.#finished) throw new ErisEncodeError('encoder already finished (or failed)')
    if (this.#busy) throw new ErisEncodeError('concurrent call: await the previous update() first')
    this.#busy = true
  }

  /**
   * Encrypts one block of `level` (§4.2 steps 3–4), hands it to the sink and adds its pair to
   * the parent node. `plain` is fully consumed before anything asynchronous happens, so the caller
   * may reuse it once this returns (even if it returns a promise).
   */
  #block (plain: Uint8Array, level: number): Promise<void> | undefined {
    const key = level === 0 ? this.#leafHasher.digest(plain) : this.#hasher.digest(plain)
    const block = chacha20(key, level, plain)
    const reference = this.#hasher.digest(block)
    this.#blockCount++
    if (this.#onBlock !== undefined) {
      const result = this.#onBlock(reference, block, { level })
      if (isPromise(result)) {
        return result.then(() => this.#addPair(level + 1, reference, key))
      }
    }
    return this.#addPair(level + 1, reference, key)
  }

  #addPair (L: number, reference: Uint8Array, key: Uint8Array): Promise<void> | undefined {
    let node = this.#nodes[L]
    if (node === undefined) {
      node = this.#nodes[L] = new Uint8Array(this.blockSize)
      this.#nodeFill[L] = 0
      this.#pairCount[L] = 0
    }
    const fill = this.#nodeFill[L]
    node.set(reference, fill * PAIR_LENGTH)
    node.set(key, fill * PAIR_LENGTH + REFERENCE_LENGTH)
    this.#pairCount[L]++
    if (fill + 1 === this.#arity) {
      this.#nodeFill[L] = 0
      return this.#block(node, L)
    }
    this.#nodeFill[L] = fill + 1
    return undefined
  }
}

/**
 * Encodes a stream of content. Chunks may have any size; memory stays bounded by the tree depth.
 *
 * @throws {ErisEncodeError} invalid block size, convergence secret or chunk type
 */
export async function encodeEris (
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: EncodeErisOptions
): Promise<EncodeErisResult> {
  options.signal?.throwIfAborted()
  const encoder = await ErisEncoder.create(options)
  for await (const chunk of source) {
    await encoder.update(chunk, options)
  }
  return encoder.finish(options)
}

export interface EncodeErisBytesResult extends EncodeErisResult {
  /** Distinct blocks keyed by base32 reference (the key format of the official test vectors). */
  blocks: Map<string, Uint8Array>
}

/** Encodes an in-memory buffer and collects the distinct blocks (for tests and small content). */
export async function encodeErisBytes (
  data: Uint8Array,
  options: Omit<EncodeErisOptions, 'onBlock'>
): Promise<EncodeErisBytesResult> {
  const blocks = new Map<string, Uint8Array>()
  const result = await encodeEris([data], {
    ...options,
    onBlock: (reference, block) => { blocks.set(base32Encode(reference), block) }
  })
  return { ...result, blocks }
}
