/**
 * DirectoryStore: castore Directory messages by BLAKE3 digest (snix `DirectoryService`, §1.6).
 *
 * Invariant every backend keeps: a directory is stored only after every child directory it
 * refers to (leaves before roots), so any stored directory has its whole directory closure.
 */
import type { AbortOptions } from '../abort.ts'
import type { B3Digest } from './digest.ts'
import type { Directory } from './directory.ts'

export interface DirectoryStore {
  get: (digest: B3Digest, options?: AbortOptions) => Promise<Directory | undefined>
  has: (digest: B3Digest, options?: AbortOptions) => Promise<boolean>
  /**
   * Validates and stores directories given leaves → root; every child a directory refers to must
   * be stored already or come earlier in the same call, with a plausible size. Returns the
   * digests in the order given.
   */
  put: (directories: Directory[], options?: AbortOptions) => Promise<B3Digest[]>
  /** The directory and all directories below it, root first, each once (breadth-first). */
  getRecursive: (root: B3Digest, options?: AbortOptions) => AsyncIterable<{ digest: B3Digest, directory: Directory }>
  delete: (digest: B3Digest, options?: AbortOptions) => Promise<void>
  list: (options?: AbortOptions) => AsyncIterable<B3Digest>
}
