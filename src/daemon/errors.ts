/** Named errors of the daemon-protocol codec. */

/** Machine-readable reason of a {@link ProtocolError}. */
export type ProtocolErrorCode =
  /** The stream ended in the middle of a value. */
  | 'ERR_TRUNCATED'
  /** A length or count exceeds the codec's limit or 2^53. */
  | 'ERR_TOO_LARGE'
  /** Padding bytes after a string were not zero. */
  | 'ERR_BAD_PADDING'
  /** A handshake magic number did not match. */
  | 'ERR_BAD_MAGIC'
  /** The peer speaks a version or dialect this codec does not support. */
  | 'ERR_UNSUPPORTED_VERSION'
  /** Unknown stderr message code. */
  | 'ERR_UNKNOWN_MESSAGE'
  /** Unknown or unsupported operation number. */
  | 'ERR_UNKNOWN_OP'
  /** A value is syntactically invalid (bad enum, bad store path, …). */
  | 'ERR_BAD_VALUE'
  /** The value cannot be represented at the negotiated version. */
  | 'ERR_NOT_REPRESENTABLE'

/** Malformed, truncated or oversized protocol input (or an unencodable value). */
export class ProtocolError extends Error {
  static override name = 'ProtocolError'
  override name = 'ProtocolError'
  code: ProtocolErrorCode

  constructor (message: string, code: ProtocolErrorCode = 'ERR_BAD_VALUE', options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** One trace line of a structured daemon error (§1.4). */
export interface DaemonErrorTrace {
  hint: string
}

/**
 * An error the other side reported through `STDERR_ERROR` (§1.4). Not a protocol
 * violation: the connection stays usable after it.
 */
export class DaemonError extends Error {
  static override name = 'DaemonError'
  override name = 'DaemonError'
  /** Exit status (old format, < 1.26); 1 for structured errors. */
  status: number
  /** Verbosity level (structured format, ≥ 1.26). */
  level: number
  traces: DaemonErrorTrace[]

  constructor (message: string, status = 1, level = 0, traces: DaemonErrorTrace[] = []) {
    super(message)
    this.status = status
    this.level = level
    this.traces = traces
  }
}

/**
 * An operation failed after its arguments (and any payload) were fully read. The
 * server reports it with `STDERR_ERROR` and keeps serving the connection (§1.4).
 */
export class DaemonOpError extends Error {
  static override name = 'DaemonOpError'
  override name = 'DaemonOpError'
}

/** A recognised operation storeswarm does not implement (§2 facade column "E"). */
export class UnsupportedOperationError extends DaemonOpError {
  static override name = 'UnsupportedOperationError'
  override name = 'UnsupportedOperationError'
}

/** An upload was refused: missing signature, wrong content address, invalid reference, bad NAR. */
export class UploadRejectedError extends DaemonOpError {
  static override name = 'UploadRejectedError'
  override name = 'UploadRejectedError'
}

/** Connecting to a daemon socket failed, or a connection timed out or closed early. */
export class DaemonConnectionError extends Error {
  static override name = 'DaemonConnectionError'
  override name = 'DaemonConnectionError'
}
