/**
 * Typed errors of the BLAKE3 tree layer.
 */

/** Which kind of tree node failed verification. */
export type VerifyNodeKind = 'parent' | 'data'

export interface Blake3VerifyErrorInit {
  /** `parent`: a 64-byte pair did not hash to the expected CV; `data`: group/chunk bytes did not. */
  kind: VerifyNodeKind
  /** Byte offset in the blob where the failing node's subtree starts. */
  offset: number
  /** First chunk index of the failing node's subtree. */
  startChunk: number
  /** End chunk index (exclusive) of the failing node's subtree. */
  endChunk: number
  /** Index of the chunk group that contains `startChunk`. */
  group: number
  /** Byte position of the failing item in the encoded stream (including any size prefix), if known. */
  streamOffset?: number
}

/** A parent pair or data did not match the hash it was expected to have. */
export class Blake3VerifyError extends Error {
  static override name = 'Blake3VerifyError'
  override name = 'Blake3VerifyError'
  kind: VerifyNodeKind
  offset: number
  startChunk: number
  endChunk: number
  group: number
  streamOffset: number | undefined

  constructor (init: Blake3VerifyErrorInit, message?: string) {
    super(message ?? `BLAKE3 verification failed: ${init.kind === 'parent' ? 'parent pair' : 'data'} of chunks [${init.startChunk}, ${init.endChunk}) (group ${init.group}, byte offset ${init.offset}${init.streamOffset !== undefined ? `, stream offset ${init.streamOffset}` : ''})`)
    this.kind = init.kind
    this.offset = init.offset
    this.startChunk = init.startChunk
    this.endChunk = init.endChunk
    this.group = init.group
    this.streamOffset = init.streamOffset
  }
}

/** The encoded stream ended before everything the ranges require had arrived. */
export class Blake3TruncatedError extends Error {
  static override name = 'Blake3TruncatedError'
  override name = 'Blake3TruncatedError'
  /** Stream position at which more bytes were needed. */
  streamOffset: number
  /** How many bytes were needed there. */
  needed: number

  constructor (streamOffset: number, needed: number, message?: string) {
    super(message ?? `encoded stream truncated: needed ${needed} more byte(s) at stream offset ${streamOffset}`)
    this.streamOffset = streamOffset
    this.needed = needed
  }
}

/** A size is invalid (negative, not an integer, too large) or the bytes fed do not match it. */
export class Blake3SizeError extends Error {
  static override name = 'Blake3SizeError'
  override name = 'Blake3SizeError'
}

/** An outboard has the wrong length for its size and group log. */
export class Blake3OutboardError extends Error {
  static override name = 'Blake3OutboardError'
  override name = 'Blake3OutboardError'
}

/** A random-access read returned fewer bytes than requested. */
export class Blake3ReadError extends Error {
  static override name = 'Blake3ReadError'
  override name = 'Blake3ReadError'
  offset: number
  length: number

  constructor (offset: number, length: number, message?: string) {
    super(message ?? `short read: expected ${length} byte(s) at offset ${offset}`)
    this.offset = offset
    this.length = length
  }
}

/** An argument is out of its domain (bad group log, root hash length, range boundaries…). */
export class Blake3ArgumentError extends Error {
  static override name = 'Blake3ArgumentError'
  override name = 'Blake3ArgumentError'
}
