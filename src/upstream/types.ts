/**
 * Configuration of one upstream binary cache (pull-through): the contract between the config
 * file (node/config.ts) and the upstream substituter (src/upstream/).
 */
export interface UpstreamConfig {
  /** base URL of the cache, e.g. https://cache.nixos.org */
  url: string
  /**
   * keys whose signatures make this upstream's narinfos trusted: `name:base64` (Nix), or for a
   * `/gnu/store` upstream the Guix public key s-expression `(public-key (ecc …))`
   */
  publicKeys: string[]
  /** the longest one narinfo request may take, ms */
  timeoutMs?: number
  /** `/nix/store` (default) or `/gnu/store`: which narinfo dialect the cache speaks */
  storeDir?: string
}

export type UpstreamState = 'unknown' | 'closed' | 'open' | 'half-open'

/** Counters of one upstream, as `stats()` reports them (read by /metrics and the status page). */
export interface UpstreamStats {
  url: string
  state: UpstreamState
  /** narinfo requests sent */
  requests: number
  /** narinfos found and verified */
  hits: number
  /** narinfos the upstream does not have (404) */
  misses: number
  /** errors: refused connections, bad answers, bad signatures, NARs failing verification */
  failures: number
  /** requests (narinfo, NAR headers or body, probes) that timed out */
  timeouts: number
  /** compressed NAR bytes received */
  bytesFetched: number
  lastError?: string
}

/** Detail of the `fetched` event: a path pulled through, verified and stored. */
export interface FetchedDetail {
  storePath: string
  url: string
  /** compressed bytes received */
  bytes: number
  /** from the start of the NAR download to the commit */
  ms: number
}
