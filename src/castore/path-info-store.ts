/**
 * PathInfoStore: PathInfo records by store-path hash part (snix `PathInfoService`, §1.6).
 * Backends validate what they store; the castore facade (store.ts) additionally checks that a
 * path's whole castore closure is present before it puts the PathInfo (the commit point).
 */
import type { AbortOptions } from '../abort.ts'
import type { PathInfo } from './path-info.ts'

export interface PathInfoStore {
  /** by hash part (32 nix32 characters) */
  get: (hashPart: string, options?: AbortOptions) => Promise<PathInfo | undefined>
  put: (info: PathInfo, options?: AbortOptions) => Promise<void>
  delete: (hashPart: string, options?: AbortOptions) => Promise<void>
  list: (options?: AbortOptions) => AsyncIterable<PathInfo>
}
