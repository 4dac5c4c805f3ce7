/** In-memory BlobStore, for tests and simulations. */
import type { AbortOptions } from '../abort.ts'
import type { BlobPutOptions, BlobPutResult, BlobReadOptions, BlobStat, BlobStore } from './blob-store.ts'
import { BlobHasher } from './blob-hashing.ts'
import { digestEquals, toHex, fromHex } from './digest.ts'
import type { B3Digest } from './digest.ts'
import { DigestMismatchError, NotFoundError } from './errors.ts'

interface Held { data: Uint8Array, outboard: Uint8Array }

export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Held>()

  async has (digest: B3Digest, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.blobs.has(toHex(digest))
  }

  async stat (digest: B3Digest, options?: AbortOptions): Promise<BlobStat | undefined> {
    options?.signal?.throwIfAborted()
    const held = this.blobs.get(toHex(digest))
    return held === undefined ? undefined : { size: held.data.byteLength }
  }

  async * read (digest: B3Digest, options: BlobReadOptions = {}): AsyncGenerator<Uint8Array> {
    options.signal?.throwIfAborted()
    const held = this.blobs.get(toHex(digest))
    if (held === undefined) throw new NotFoundError(`blob ${toHex(digest)} not found`)
    const { start, end } = clampRange(held.data.byteLength, options)
    for (let pos = start; pos < end; pos += 256 * 1024) {
      options.signal?.throwIfAborted()
      yield held.data.subarray(pos, Math.min(end, pos + 256 * 1024))
    }
  }

  async outboard (digest: B3Digest, options?: AbortOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted()
    return this.blobs.get(toHex(digest))?.outboard
  }

  async put (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: BlobPutOptions): Promise<BlobPutResult> {
    const hasher = new BlobHasher(options.size)
    const data = new Uint8Array(options.size)
    for await (const piece of source) {
      options.signal?.throwIfAborted()
      const at = hasher.bytesSeen
      hasher.update(piece)
      data.set(piece, at)
    }
    const digest = hasher.finalize()
    if (options.expected !== undefined && !digestEquals(options.expected, digest)) {
      throw new DigestMismatchError('blob', toHex(options.expected), toHex(digest))
    }
    options.onHashed?.(digest)
    const key = toHex(digest)
    if (this.blobs.has(key)) return { digest, size: options.size, added: false }
    this.blobs.set(key, { data, outboard: hasher.outboard ?? new Uint8Array(0) })
    return { digest, size: options.size, added: true }
  }

  async delete (digest: B3Digest, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.blobs.delete(toHex(digest))
  }

  async * list (options?: AbortOptions): AsyncGenerator<B3Digest> {
    for (const key of [...this.blobs.keys()]) {
      options?.signal?.throwIfAborted()
      yield fromHex(key)
    }
  }
}

/** Resolves `{ offset, length }` against a blob size; out-of-range requests are RangeErrors. */
export function clampRange (size: number, options: BlobReadOptions): { start: number, end: number } {
  const start = options.offset ?? 0
  if (!Number.isSafeInteger(start) || start < 0 || start > size) throw new RangeError(`offset ${start} outside blob of ${size} bytes`)
  const length = options.length ?? size - start
  if (!Number.isSafeInteger(length) || length < 0 || start + length > size) throw new RangeError(`range ${start}+${length} outside blob of ${size} bytes`)
  return { start, end: start + length }
}
