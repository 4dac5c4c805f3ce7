/**
 * Where ERIS blocks live: a content-addressed map from 32-byte reference (BLAKE2b-256 of the
 * encrypted block) to the 1 KiB / 32 KiB encrypted block. Transports (spec §4.4) serve exactly
 * this: `GET /uri-res/N2R?urn:blake2b:<ref>` → the block.
 */
import type { AbortOptions } from '../abort.ts'
import { base32Encode } from './base32.ts'
import { ERIS_BLOCK_SIZE_1KIB, ERIS_BLOCK_SIZE_32KIB, REFERENCE_LENGTH } from './constants.ts'

export interface ErisBlockStore {
  /** The block with this reference, or `undefined` if the store does not have it. */
  get: (reference: Uint8Array, options?: AbortOptions) => Promise<Uint8Array | undefined>
  /** Stores a block under its reference. Storing an existing reference again is a no-op. */
  put: (reference: Uint8Array, block: Uint8Array, options?: AbortOptions) => Promise<void>
  has: (reference: Uint8Array, options?: AbortOptions) => Promise<boolean>
}

function checkReference (reference: Uint8Array): void {
  if (!(reference instanceof Uint8Array) || reference.length !== REFERENCE_LENGTH) {
    throw new RangeError(`block reference must be ${REFERENCE_LENGTH} bytes`)
  }
}

/**
 * In-memory block store. It does not verify that a reference is the hash of its block (the
 * decoder verifies every block it reads); it does reject references and blocks of impossible sizes.
 */
export class MemoryBlockStore implements ErisBlockStore {
  readonly #blocks = new Map<string, Uint8Array>()
  #byteLength = 0

  async get (reference: Uint8Array, options?: AbortOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted()
    checkReference(reference)
    return this.#blocks.get(base32Encode(reference))
  }

  async put (reference: Uint8Array, block: Uint8Array, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    checkReference(reference)
    if (!(block instanceof Uint8Array) || (block.length !== ERIS_BLOCK_SIZE_1KIB && block.length !== ERIS_BLOCK_SIZE_32KIB)) {
      throw new RangeError('ERIS blocks are 1024 or 32768 bytes')
    }
    const id = base32Encode(reference)
    if (this.#blocks.has(id)) return
    this.#blocks.set(id, block)
    this.#byteLength += block.length
  }

  async has (reference: Uint8Array, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    checkReference(reference)
    return this.#blocks.has(base32Encode(reference))
  }

  /** Removes a block; returns whether it was present. */
  delete (reference: Uint8Array): boolean {
    checkReference(reference)
    const id = base32Encode(reference)
    const block = this.#blocks.get(id)
    if (block === undefined) return false
    this.#blocks.delete(id)
    this.#byteLength -= block.length
    return true
  }

  /** Number of distinct blocks. */
  get size (): number {
    return this.#blocks.size
  }

  /** Total bytes of the distinct blocks. */
  get byteLength (): number {
    return this.#byteLength
  }

  /** Distinct blocks as `[base32 reference, block]`. */
  entries (): IterableIterator<[string, Uint8Array]> {
    return this.#blocks.entries()
  }
}
