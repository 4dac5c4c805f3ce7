/** Named errors of the castore module. */

/** A Directory, node or digest breaks the castore data-model rules. */
export class CastoreValidationError extends Error {
  static override name = 'CastoreValidationError'
  override name = 'CastoreValidationError'
}

/** Bytes could not be decoded as a castore protobuf message. */
export class CastoreDecodeError extends Error {
  static override name = 'CastoreDecodeError'
  override name = 'CastoreDecodeError'
}

/** Content did not match the digest it was stored or requested under. */
export class DigestMismatchError extends Error {
  static override name = 'DigestMismatchError'
  override name = 'DigestMismatchError'
  expected: string
  actual: string
  constructor (what: string, expected: string, actual: string) {
    super(`${what}: expected ${expected}, got ${actual}`)
    this.expected = expected
    this.actual = actual
  }
}

/** An object a tree refers to is not in the store. */
export class NotFoundError extends Error {
  static override name = 'NotFoundError'
  override name = 'NotFoundError'
}

/** A NAR being ingested or rendered does not match its recorded NarHash or NarSize. */
export class NarHashMismatchError extends Error {
  static override name = 'NarHashMismatchError'
  override name = 'NarHashMismatchError'
}

/** A blob's byte count differs from the size announced for it. */
export class BlobSizeError extends Error {
  static override name = 'BlobSizeError'
  override name = 'BlobSizeError'
}

/** The store's database is held by another process (one process owns a data directory). */
export class StoreLockedError extends Error {
  static override name = 'StoreLockedError'
  override name = 'StoreLockedError'
}

/** The disk under the store is full (ENOSPC): nothing of the write became valid. */
export class StoreFullError extends Error {
  static override name = 'StoreFullError'
  override name = 'StoreFullError'
  readonly code = 'ENOSPC'
}

/** `err` as a StoreFullError when it is (or wraps) ENOSPC, else `err` itself. */
export function asStoreFull (err: unknown, what: string): unknown {
  const e = err as { code?: string, message?: string, cause?: { code?: string, message?: string } } | undefined
  const text = `${e?.message ?? ''} ${e?.cause?.message ?? ''}`
  if (err instanceof StoreFullError || !(e?.code === 'ENOSPC' || e?.cause?.code === 'ENOSPC' || /ENOSPC|No space left on device/i.test(text))) return err
  return new StoreFullError(`no space left on device (ENOSPC) while ${what}; nothing of it was stored — free space (e.g. \`storeswarm gc --max-size SIZE\`) and retry`, { cause: err })
}
