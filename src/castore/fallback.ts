/**
 * A castore view whose `getPathInfo` falls back to another source on a miss — the one shape
 * behind substitution from peers (src/p2p/substitution.ts) and from upstream caches
 * (src/upstream/). Everything else is the castore's own.
 */
import type { AbortOptions } from '../abort.ts'
import type { Castore } from './store.ts'
import type { PathInfo } from './path-info.ts'

const HASH_PART = /^[0-9a-df-np-sv-z]{32}$/

/**
 * Called on a local miss with the store path's hash part (already checked to be 32 nixbase32
 * characters) and what the caller asked for (a full store path or a hash part).
 */
export type MissFallback = (hashPart: string, pathOrHashPart: string, options?: AbortOptions) => Promise<PathInfo | undefined>

export function withMissFallback (castore: Castore, fallback: MissFallback): Castore {
  const view = Object.create(castore) as Castore
  view.getPathInfo = async (pathOrHashPart: string, options?: AbortOptions): Promise<PathInfo | undefined> => {
    const local = await castore.getPathInfo(pathOrHashPart, options)
    if (local !== undefined) return local
    const base = pathOrHashPart.startsWith('/') ? pathOrHashPart.slice(pathOrHashPart.lastIndexOf('/') + 1) : pathOrHashPart
    const hashPart = base.slice(0, 32)
    if (!HASH_PART.test(hashPart)) return undefined
    return await fallback(hashPart, pathOrHashPart, options)
  }
  return view
}
