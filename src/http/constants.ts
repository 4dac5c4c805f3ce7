/**
 * Constants of the HTTP binary-cache facade. Spec: shared/specs/binary-cache.md (§3 endpoints,
 * status codes and client behaviour of Nix 2.8; §5 `guix publish`), anchor-figures.md.
 */

/**
 * `Priority` in `/nix-cache-info` (§3.2): lower is preferred; cache.nixos.org says 40,
 * nix-serve and harmonia 30. A LAN/local node should win against cache.nixos.org.
 */
export const DEFAULT_NIX_PRIORITY = 30

/** What `guix publish` advertises (§5.1); the Guix client never reads it. */
export const DEFAULT_GUIX_PRIORITY = 100

/** Content types (§3.1, §5.1: harmonia/nix-serve for Nix, `guix publish` for Guix). */
export const CONTENT_TYPE = {
  cacheInfo: 'text/x-nix-cache-info',
  narInfo: 'text/x-nix-narinfo',
  nar: 'application/x-nix-nar',
  listing: 'application/json',
  log: 'text/plain; charset=utf-8',
  text: 'text/plain; charset=utf-8',
  guixNarInfo: 'application/x-nix-narinfo',
  guixNar: 'application/x-nix-archive; charset=ISO-8859-1',
  guixKey: 'application/pgp-keys; charset=ISO-8859-1'
} as const

/**
 * `Cache-Control` values. Nix 2.8 ignores them (it keeps its own sqlite cache, §3.6); Guix
 * honours them (§5.5: defaults 36 h positive, 10 min negative). NAR URLs name their content
 * (hash part + NarHash), so they never change.
 */
export const CACHE_CONTROL = {
  narInfo: 'max-age=86400',
  /** a P2P node's holdings change: let Guix re-ask soon about a path we lacked */
  notFound: 'max-age=60',
  nar: 'max-age=31536000, immutable',
  noStore: 'no-store'
} as const

/**
 * Slow-loris defence: the whole request head must arrive within this time (Node's
 * `headersTimeout`, checked every `CONNECTIONS_CHECK_INTERVAL_MS`).
 */
export const HEADERS_TIMEOUT_MS = 10_000
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000

/**
 * An idle socket (no byte read or written) is closed after this long: a client that stopped
 * reading a NAR, or an upload whose body stalls. Nix's own stall timeout is 300 s (§3.5).
 */
export const SOCKET_IDLE_TIMEOUT_MS = 120_000

/** Keep-alive connections without a request are closed after this long (curl reuses them). */
export const KEEP_ALIVE_TIMEOUT_MS = 30_000

/**
 * Open connections per listener. Beyond it a new connection gets `503` (Nix retries 5xx with
 * backoff, §3.3) and is closed, so the node keeps serving the ones it has.
 */
export const MAX_CONNECTIONS = 2048

/** Largest request head accepted (`431` beyond). */
export const MAX_HEADER_BYTES = 16 * 1024

/** Largest uploaded narinfo (real ones with thousands of references are ~200 KiB, §5.2). */
export const MAX_NARINFO_UPLOAD_BYTES = 1024 * 1024

/** Largest uploaded (compressed) NAR, by default. */
export const MAX_NAR_UPLOAD_BYTES = 64 * 1024 ** 3

/** Largest uploaded build log or `.ls` listing. */
export const MAX_SMALL_UPLOAD_BYTES = 64 * 1024 * 1024

/** Uploads processed at once; more get `503` (transient for Nix, which retries). */
export const MAX_CONCURRENT_UPLOADS = 16

/**
 * A NAR uploaded by `nix copy --to http://…` waits this long for the narinfo that makes it
 * valid (Nix PUTs the NAR first, then the narinfo), and at most this many wait at once.
 */
export const PENDING_UPLOAD_TTL_MS = 60 * 60 * 1000
export const MAX_PENDING_UPLOADS = 4096

/** Rendered narinfos and PathInfos kept in memory (signing and the database read are the costly parts). */
export const NARINFO_CACHE_ENTRIES = 20_000

/**
 * A PathInfo found in the castore is reused this long without reading it again (only positive
 * lookups are cached, so a path that arrives is served at once; `invalidate()` drops entries).
 */
export const PATH_INFO_TTL_MS = 30_000

/** Decoded Directory messages kept in memory (immutable, named by digest). */
export const DIRECTORY_CACHE_ENTRIES = 50_000

/** Compressed NARs kept on disk (compress once, serve with `Content-Length`). */
export const DEFAULT_COMPRESSED_CACHE_BYTES = 4 * 1024 ** 3

/** zstd level for NARs (zstd's default; harmonia uses 1 + long-distance matching). */
export const DEFAULT_ZSTD_LEVEL = 3

/** Body pieces are written to the socket in at most this size. */
export const WRITE_PIECE_BYTES = 256 * 1024

/** Time `stop()` lets in-flight responses finish before connections are cut. */
export const STOP_GRACE_MS = 2_000
