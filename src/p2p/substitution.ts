/**
 * Substitution through peers for the HTTP and daemon facades, without touching them: a castore
 * view whose `getPathInfo` falls back to the swarm on a miss. The facade asks as usual; on a
 * miss the swarm looks the path up among peers within the budget, fetches and verifies it into
 * the real castore (trusted path info, BLAKE3 tree, NarHash), and the facade then serves it
 * from there — so a NAR is only ever streamed from verified data and never ends truncated.
 * When no peer has the path the answer is undefined (a fast 404); misses are remembered for
 * `negativeTtlMs` so a mass query does not pay the budget twice.
 */
import type { AbortOptions } from '../abort.ts'
import type { Castore } from '../castore/store.ts'
import type { PathInfo } from '../castore/path-info.ts'
import { SUBSTITUTE_BUDGET_MS } from './constants.ts'
import { withMissFallback } from '../castore/fallback.ts'

export type Substitute = (hashPart: string, options: AbortOptions & { budgetMs?: number }) => Promise<PathInfo | undefined>

export interface PeerSubstitutionInit {
  /** lookup budget per miss (default 500 ms) */
  budgetMs?: number
  /** how long a miss is remembered (default 30 s) */
  negativeTtlMs?: number
  /** called after a path arrived from peers */
  onSubstituted?: (info: PathInfo) => void
}

/** A castore whose path-info lookups fall back to `substitute` (e.g. `swarm.substituteFromPeers`). */
export function withPeerSubstitution (castore: Castore, substitute: Substitute, init: PeerSubstitutionInit = {}): Castore {
  const misses = new Map<string, number>()
  return withMissFallback(castore, async (hashPart, pathOrHashPart, options) => {
    const now = Date.now()
    const missed = misses.get(hashPart)
    if (missed !== undefined && missed > now) return undefined
    const info = await substitute(hashPart, { budgetMs: init.budgetMs ?? SUBSTITUTE_BUDGET_MS, signal: options?.signal })
    if (info === undefined) {
      misses.set(hashPart, now + (init.negativeTtlMs ?? 30_000))
      if (misses.size > 100_000) misses.clear()
      return undefined
    }
    init.onSubstituted?.(info)
    return await castore.getPathInfo(pathOrHashPart, options)
  })
}
