/**
 * One pass over a blob's bytes: BLAKE3 root digest plus the 16 KiB-group pre-order outboard,
 * shared by every BlobStore backend so verification lives in one place.
 */
import { TreeHasher, outboardSize, defaultKernel } from '../blake3/index.ts'
import { BlobSizeError } from './errors.ts'

/** Outboards up to this size are assembled in memory (blobs up to 4 GiB); larger ones go to a sink. */
export const MAX_MEMORY_OUTBOARD = 16 * 1024 * 1024

export interface OutboardSink {
  write: (offset: number, pair: Uint8Array) => void
}

/** Incremental hasher over a blob of known size; counts bytes and refuses more than `size`. */
export class BlobHasher {
  readonly size: number
  readonly outboard: Uint8Array | undefined
  private readonly tree: TreeHasher
  private seen = 0

  constructor (size: number, sink?: OutboardSink) {
    if (!Number.isSafeInteger(size) || size < 0) throw new BlobSizeError(`bad blob size ${size}`)
    this.size = size
    const obSize = outboardSize(size)
    let onParent: (offset: number, pair: Uint8Array) => void
    if (sink !== undefined && obSize > MAX_MEMORY_OUTBOARD) {
      this.outboard = undefined
      onParent = (offset, pair) => { sink.write(offset, pair) }
    } else {
      const ob = new Uint8Array(obSize)
      this.outboard = ob
      onParent = (offset, pair) => { ob.set(pair, offset) }
    }
    this.tree = new TreeHasher({ size, kernel: defaultKernel(), onParent })
  }

  get bytesSeen (): number {
    return this.seen
  }

  update (piece: Uint8Array): void {
    this.seen += piece.byteLength
    if (this.seen > this.size) throw new BlobSizeError(`blob longer than its announced ${this.size} bytes`)
    this.tree.update(piece)
  }

  finalize (): Uint8Array {
    if (this.seen !== this.size) throw new BlobSizeError(`blob ended after ${this.seen} of ${this.size} bytes`)
    return this.tree.finalize()
  }
}
