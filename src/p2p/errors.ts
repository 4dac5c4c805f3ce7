/**
 * Named errors of the peer-to-peer layer; callers check `err.name`, never message text.
 */

/** A peer broke the wire protocol (bad framing, oversize frames, wrong size prefix). */
export class ProtocolError extends Error {
  static override name = 'ProtocolError'
  override name = 'ProtocolError'
}

/** The remote does not hold the requested object (it closed the stream without a response). */
export class NotHeldError extends Error {
  static override name = 'NotHeldError'
  override name = 'NotHeldError'
}

/** No peer could deliver the object (none found, or all failed / were dropped). */
export class NoProvidersError extends Error {
  static override name = 'NoProvidersError'
  override name = 'NoProvidersError'
}

/** A path info from a peer carries no trusted signature and no valid content address. */
export class UntrustedPathInfoError extends Error {
  static override name = 'UntrustedPathInfoError'
  override name = 'UntrustedPathInfoError'
}

/** A transfer made no progress within the per-peer idle timeout. */
export class PeerTimeoutError extends Error {
  static override name = 'PeerTimeoutError'
  override name = 'PeerTimeoutError'
}

/** A peer sent data that failed verification (bad parent, bad group, wrong size, bad directory). */
export class PeerMisbehavedError extends Error {
  static override name = 'PeerMisbehavedError'
  override name = 'PeerMisbehavedError'
}

/**
 * The remote holds the object but has sent those ranges to enough peers already and names them
 * instead (referrals.ts). Not a fault: ask the referred peers, or insist.
 */
export class ReferredError extends Error {
  static override name = 'ReferredError'
  override name = 'ReferredError'
  readonly peers: string[]
  constructor (message: string, peers: string[]) {
    super(message)
    this.peers = peers
  }
}
