/**
 * Configuration of one upstream binary cache (pull-through): the contract between the config
 * file (node/config.ts) and the upstream substituter (src/upstream/).
 */
export interface UpstreamConfig {
  /** base URL of the cache, e.g. https://cache.nixos.org */
  url: string
  /** keys whose signatures make this upstream's narinfos trusted, `name:base64` (Nix) */
  publicKeys: string[]
  /** the longest one narinfo request may take, ms */
  timeoutMs?: number
  /** `/nix/store` (default) or `/gnu/store`: which narinfo dialect the cache speaks */
  storeDir?: string
}
