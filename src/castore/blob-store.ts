/**
 * BlobStore: content-addressed file contents, keyed by the BLAKE3 digest of the raw bytes
 * (snix `BlobService`, §1.6), each kept with its 16 KiB-group pre-order outboard so any range
 * can be served with a proof (bao-tree/iroh geometry, §2.5).
 *
 * Invariant every backend keeps: a blob is visible (`has`, `stat`, `read`) only once all of its
 * bytes are stored and their digest verified.
 */
import type { AbortOptions } from '../abort.ts'
import type { B3Digest } from './digest.ts'

export interface BlobStat {
  size: number
}

export interface BlobPutOptions extends AbortOptions {
  /** exact number of bytes the source yields (known up front: NAR entries, peers, stat) */
  size: number
  /** when given, the blob is rejected (and nothing kept) unless its digest equals this */
  expected?: B3Digest
  /**
   * Called once the source is fully consumed and hashed (and the digest checked), before the
   * blob is made durable and visible. Lets a caller move on while the write is committed.
   */
  onHashed?: (digest: B3Digest) => void
}

export interface BlobReadOptions extends AbortOptions {
  /** first byte to read (default 0) */
  offset?: number
  /** number of bytes to read (default: to the end) */
  length?: number
}

export interface BlobPutResult {
  digest: B3Digest
  size: number
  /** false when the blob was already present (deduplicated) */
  added: boolean
}

export interface BlobStore {
  has: (digest: B3Digest, options?: AbortOptions) => Promise<boolean>
  stat: (digest: B3Digest, options?: AbortOptions) => Promise<BlobStat | undefined>
  /** Streams the blob (or a range of it); throws NotFoundError when absent. */
  read: (digest: B3Digest, options?: BlobReadOptions) => AsyncIterable<Uint8Array>
  /** The pre-order outboard ((groups − 1) × 64 bytes; empty for ≤ 16 KiB), or undefined when absent. */
  outboard: (digest: B3Digest, options?: AbortOptions) => Promise<Uint8Array | undefined>
  /** Stores the bytes of `source`, hashing them as they arrive; atomic. */
  put: (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: BlobPutOptions) => Promise<BlobPutResult>
  delete: (digest: B3Digest, options?: AbortOptions) => Promise<void>
  list: (options?: AbortOptions) => AsyncIterable<B3Digest>
  close?: () => Promise<void>
}
