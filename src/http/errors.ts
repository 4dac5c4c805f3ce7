/** Named errors of the HTTP binary-cache facade; each maps to one HTTP status. */

/** Base class: an error that is answered with `status` and its message as a text body. */
export class HttpError extends Error {
  static override name = 'HttpError'
  override name = 'HttpError'
  readonly status: number
  readonly headers: Record<string, string>
  constructor (status: number, message: string, headers: Record<string, string> = {}, options?: ErrorOptions) {
    super(message, options)
    this.status = status
    this.headers = headers
  }
}

/** 400: malformed request, narinfo or NAR. */
export class BadRequestError extends HttpError {
  static override name = 'BadRequestError'
  override name = 'BadRequestError'
  constructor (message: string, options?: ErrorOptions) { super(400, message, {}, options) }
}

/** 401: an upload without valid credentials. */
export class UnauthorizedError extends HttpError {
  static override name = 'UnauthorizedError'
  override name = 'UnauthorizedError'
  constructor (message: string) { super(401, message, { 'www-authenticate': 'Bearer realm="storeswarm", Basic realm="storeswarm"' }) }
}

/** 405: method not allowed here (e.g. PUT while uploads are disabled). */
export class MethodNotAllowedError extends HttpError {
  static override name = 'MethodNotAllowedError'
  override name = 'MethodNotAllowedError'
  constructor (message: string, allow: string) { super(405, message, { allow }) }
}

/** 409: an upload that does not fit the store (NAR not uploaded yet, missing references). */
export class UploadConflictError extends HttpError {
  static override name = 'UploadConflictError'
  override name = 'UploadConflictError'
  constructor (message: string) { super(409, message) }
}

/** 413: a body larger than allowed. */
export class PayloadTooLargeError extends HttpError {
  static override name = 'PayloadTooLargeError'
  override name = 'PayloadTooLargeError'
  constructor (message: string) { super(413, message, { connection: 'close' }) }
}

/** 416: a `Range` that lies outside the resource. */
export class RangeNotSatisfiableError extends HttpError {
  static override name = 'RangeNotSatisfiableError'
  override name = 'RangeNotSatisfiableError'
  constructor (size: number) { super(416, `range not satisfiable (the resource has ${size} bytes)`, { 'content-range': `bytes */${size}` }) }
}

/** 422: an uploaded NAR or narinfo whose NarHash, NarSize, FileHash or FileSize do not check out. */
export class UploadVerificationError extends HttpError {
  static override name = 'UploadVerificationError'
  override name = 'UploadVerificationError'
  constructor (message: string, options?: ErrorOptions) { super(422, message, {}, options) }
}

/** 503: too many connections or uploads right now (Nix retries 5xx with backoff). */
export class OverloadedError extends HttpError {
  static override name = 'OverloadedError'
  override name = 'OverloadedError'
  constructor (message: string) { super(503, message, { 'retry-after': '1' }) }
}

/** A compression the node cannot decode (no decoder configured for it). */
export class UnsupportedCompressionError extends Error {
  static override name = 'UnsupportedCompressionError'
  override name = 'UnsupportedCompressionError'
}

/** Compressed data that its decoder refused (corrupt, truncated, or not that format). */
export class DecompressionError extends Error {
  static override name = 'DecompressionError'
  override name = 'DecompressionError'
}

/** Importing from another binary cache failed (HTTP error, bad narinfo, untrusted signature). */
export class CacheImportError extends Error {
  static override name = 'CacheImportError'
  override name = 'CacheImportError'
}
