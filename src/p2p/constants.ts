/**
 * Named defaults of the peer-to-peer layer, each with the spec passage it follows
 * (shared/specs/libp2p-notes.md, shared/specs/content-addressing.md §2, §5).
 */

/** Fetch protocol (fetch-protocol.ts): one request, one response per stream. */
export const FETCH_PROTOCOL = '/storeswarm/fetch/1.0.0'
/** Path-info protocol (path-info-protocol.ts). */
export const PATH_INFO_PROTOCOL = '/storeswarm/path-info/1.0.0'
/**
 * Private Kademlia protocol id: keeps nodes off the public IPFS Amino DHT (`/ipfs/kad/1.0.0`)
 * (libp2p-notes.md gotcha 5, content-addressing.md §5.3 "do not join the public DHT by default").
 */
export const DHT_PROTOCOL = '/storeswarm/kad/1.0.0'

/**
 * Domain separator of DHT alias keys (content-addressing.md §5.3 option (b), libp2p-notes.md §2
 * `dhtKeyFor`): kad-dht 16's ADD_PROVIDER / GET_PROVIDERS handlers reject non-sha2-256
 * multihashes, so every key is `sha256(DHT_KEY_DOMAIN ‖ kind ‖ 0x00 ‖ payload)`. Identical on
 * every peer; changing it splits the swarm.
 */
export const DHT_KEY_DOMAIN = 'storeswarm/dht-key/v1\0'

/** log2(chunks per group): 16 KiB groups, iroh `IROH_BLOCK_SIZE` (content-addressing.md §2.5). */
export const GROUP_LOG = 4
export const GROUP_BYTES = 1024 << GROUP_LOG

/** Largest request frame (digest + ranges). iroh caps requests at 1 MiB (§2.6); ours are tiny. */
export const MAX_REQUEST_BYTES = 64 * 1024
/** Largest path-info response (JSON). */
export const MAX_PATH_INFO_BYTES = 1024 * 1024
/** Largest encoded castore Directory accepted from a peer. */
export const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024
/** Most directories one directory-closure response may carry. */
export const MAX_DIRECTORIES = 1_000_000

/**
 * Read high-water mark: `for await` over a stream applies no backpressure
 * (libp2p-notes.md gotcha 9), so reads pause above this many queued bytes.
 */
export const READ_HIGH_WATER = 4 * 1024 * 1024

/** How long a server waits for the request frame. */
export const REQUEST_TIMEOUT_MS = 10_000
/** A transfer with no progress for this long is aborted and the peer marked slow (per-peer timeout). */
export const IDLE_TIMEOUT_MS = 10_000
/** Blobs up to this size are fetched into memory in one request; larger ones via a partial file. */
export const SMALL_BLOB = 1024 * 1024
/** Default piece (range request) for splitting large blobs: 256 groups = 4 MiB. */
export const PIECE_GROUPS = 256
/** Blobs fetched at once within one store path. */
export const BLOB_CONCURRENCY = 8
/** Default budget for finding a path among peers on a cache miss ("a few hundred ms"). */
export const SUBSTITUTE_BUDGET_MS = 500
/** Providers asked at most per lookup. */
export const MAX_PROVIDERS = 20
/** Penalty score beyond which a peer is ignored for downloads. */
export const BAN_SCORE = 100
/** Half-life of penalty points for failures that are not lies (timeouts, broken streams). */
export const PENALTY_HALF_LIFE_MS = 60_000
/**
 * Copies of a blob range a node sends before it refers further requesters to the peers it sent
 * them to (referrals.ts): each piece leaves a node at most this many times unless a requester
 * insists, so a seeder's upload does not grow with the size of a flash crowd.
 */
export const REFERRAL_COPIES = 2
/** Referral hops a downloader follows before it insists on being served. */
export const MAX_REFERRAL_HOPS = 10
/**
 * Longest a fetch server holds a request for ranges it is receiving right now before answering
 * "not held" (fetch-protocol.ts `awaitServable`): below the requester's IDLE_TIMEOUT_MS, and
 * instead of the requester asking again after DEFER_MS, doubling.
 */
export const SERVE_WAIT_MS = 5_000
/** While a request waits so, how often the server looks again (besides being woken by verified data). */
export const SERVE_WAIT_POLL_MS = 250
/** Wait before asking again for a piece whose referred peers were all still receiving it. */
export const DEFER_MS = 250

/**
 * Connection encrypters in order of preference. The issue asked to prefer `@libp2p/tls` (Node's
 * native TLS) for speed, but measured here (bench/p2p.ts, loopback, 256 MiB, one stream) it is
 * the slow one: 10–27 MB/s against 80–150 MB/s for Noise, because @libp2p/tls 3 runs
 * `TLSSocket` over a JS Duplex (JSStreamSocket) with 16 KiB records and a drain round trip per
 * write. So Noise is preferred and TLS offered as the alternative; flip this when that changes.
 */
export const DEFAULT_ENCRYPTERS: Array<'tls' | 'noise'> = ['noise', 'tls']
