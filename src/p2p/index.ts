/**
 * The peer-to-peer swarm (issue 5): libp2p host, DHT key scheme, announcements, path-info and
 * fetch protocols, swarm downloader, substitution through peers. See DESIGN.md.
 */
export * from './constants.ts'
export * from './errors.ts'
export { blake3Cid, digestKey, erisKey, storePathKey } from './dht-keys.ts'
export { createHost } from './host.ts'
export type { Host, HostInit, HostServices, EncrypterName } from './host.ts'
export {
  serveFetch, openServable, fetchBlobOnStream, fetchDirectoriesOnStream, receiveBlob, receiveDirectories,
  encodeRequest, decodeRequest, encodeReferral, withIdleTimeout, blobReader, createRateLimiter, KIND_BLOB, KIND_DIRECTORY,
  KIND_BLOB_REFERRABLE, FLAG_INSIST, FLAG_WAIT, STATUS_DATA, STATUS_REFER, MAX_REFERRED
} from './fetch-protocol.ts'
export type { FetchRequest, FetchServerInit, RateLimiter, FetchServerComponents, ReceiveBlobOptions, ReceiveResult, ServablePartial, PartialSource, ServableBlob } from './fetch-protocol.ts'
export { servePathInfo, requestPathInfo } from './path-info-protocol.ts'
export { checkPathInfoTrust, checkCaContent } from './trust.ts'
export type { TrustReason } from './trust.ts'
export { PeerScores } from './peer-scores.ts'
export { Downloader, createDownloader } from './downloader.ts'
export type { DownloaderComponents, DownloaderInit, DownloadEvents, OpenStream } from './downloader.ts'
export { Announcer, createAnnouncer } from './announcer.ts'
export { Referrals, createReferrals } from './referrals.ts'
export { Locality, isPrivateAddress } from './locality.ts'
export type { ReferralsInit, ReferralsComponents, ReferralTicket } from './referrals.ts'
export { Swarm, createSwarm } from './swarm.ts'
export type { SwarmComponents, SwarmInit, SwarmEvents, FetchPathOptions } from './swarm.ts'
export { readStream, sendAll } from './stream-io.ts'
export { withPeerSubstitution } from './substitution.ts'
export type { Substitute, PeerSubstitutionInit } from './substitution.ts'
export {
  ERIS_BLOCK_PROTOCOL, MAX_ERIS_BATCH, ERIS_BLOCK_MAX_STREAMS, serveErisBlocks, requestErisBlocks,
  encodeErisBlockRequest, decodeErisBlockRequest
} from './eris-block-protocol.ts'
export type { ErisBlockServerComponents, ErisBlockServerInit, RequestErisBlocksOptions, ErisLocalBlockGetter } from './eris-block-protocol.ts'
export { PeerErisBlockStore } from './eris-peer-store.ts'
export { PeerLimits, PeerLimitError, createByteBucket, DEFAULT_PEER_LIMITS, DEFAULT_MAX_CONNECTIONS } from './limits.ts'
export type { PeerLimitsInit, PeerTicket, RefusalReason } from './limits.ts'
export type { PeerErisBlockStoreComponents, PeerErisBlockStoreInit } from './eris-peer-store.ts'
