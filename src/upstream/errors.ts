/** Errors of the upstream substituter. */

/** An upstream answered something unusable: bad narinfo, bad signature, NAR failing its hashes. */
export class UpstreamError extends Error {
  static override name = 'UpstreamError'
  override name = 'UpstreamError'
}

/** A NAR being pulled through failed (verification, upstream gone); its readers see this. */
export class PullFailedError extends Error {
  static override name = 'PullFailedError'
  override name = 'PullFailedError'
}
