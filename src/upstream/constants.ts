/** Defaults of the upstream substituter (pull-through cache, src/upstream). */

/** the longest one narinfo request to a healthy upstream may take */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 3_000
/**
 * The longest a request waits on an upstream whose health is not known yet (just started, no
 * probe answer): past it the request answers "not found" and the upstream is skipped by every
 * request until a probe or a request shows it healthy.
 */
export const DEFAULT_UNKNOWN_BUDGET_MS = 100
/** `/nix-cache-info` health probe: its timeout, and how often a healthy upstream is probed */
export const DEFAULT_PROBE_TIMEOUT_MS = 2_000
export const DEFAULT_PROBE_INTERVAL_MS = 30_000
/** consecutive failures or timeouts that open the breaker */
export const DEFAULT_FAILURE_THRESHOLD = 3
/** first cool-down of an open breaker; doubled on each failed half-open probe up to the maximum */
export const DEFAULT_COOL_DOWN_MS = 1_000
export const DEFAULT_MAX_COOL_DOWN_MS = 60_000
/** how long "no upstream has it" (every upstream answered 404) is remembered */
export const DEFAULT_NEGATIVE_TTL_MS = 10_000
/** how long a verified upstream narinfo is kept while its NAR has not been asked for */
export const DEFAULT_POSITIVE_TTL_MS = 5 * 60_000
/** a NAR body that stays silent this long is abandoned */
export const DEFAULT_NAR_IDLE_TIMEOUT_MS = 30_000
/** bounds of the in-memory maps (cleared when reached) */
export const MAX_REMEMBERED_PATHS = 100_000
/** bytes read from the spool file per chunk handed to a client */
export const SPOOL_READ_CHUNK = 1024 * 1024
/** spool writes run behind the ingest by at most this many bytes */
export const SPOOL_MAX_QUEUED = 8 * 1024 * 1024
/** small decompressed pieces are gathered into spool writes of about this size */
export const SPOOL_WRITE_CHUNK = 256 * 1024
/** compressed NAR bytes read ahead of the ingest (read-ahead.ts) */
export const NAR_READ_AHEAD = 16 * 1024 * 1024
