/**
 * Errors raised by the NAR reader and writer.
 */

/** The bytes given to the reader are not a valid canonical NAR. */
export class NarParseError extends Error {
  static override name = 'NarParseError'
  override name = 'NarParseError'
  /** Byte offset in the NAR where the problem was detected. */
  offset: number
  /** The reason without the offset suffix. */
  reason: string

  constructor (reason: string, offset: number) {
    super(`${reason} (at NAR offset ${offset})`)
    this.reason = reason
    this.offset = offset
  }
}

/** The tree given to the writer cannot be written as a canonical NAR. */
export class NarWriteError extends Error {
  static override name = 'NarWriteError'
  override name = 'NarWriteError'
}

/**
 * The reader was used in a way its contract forbids (e.g. reading a file's
 * contents after moving on to the next event). Not caused by the NAR bytes.
 */
export class NarUsageError extends Error {
  static override name = 'NarUsageError'
  override name = 'NarUsageError'
}
