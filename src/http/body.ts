/** Request bodies: size limits enforced while they stream in. */
import { PayloadTooLargeError, BadRequestError } from './errors.ts'
import type { CacheRequest } from './types.ts'

/** Declared `Content-Length`, if any (400 when malformed). */
export function declaredLength (request: CacheRequest): number | undefined {
  const v = request.headers['content-length']
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v)) throw new BadRequestError('malformed Content-Length')
  return Number(v)
}

/** Yields the body, failing with 413 as soon as it exceeds `max` bytes. */
export async function * limitedBody (request: CacheRequest, max: number, what: string): AsyncGenerator<Uint8Array> {
  const declared = declaredLength(request)
  if (declared !== undefined && declared > max) throw new PayloadTooLargeError(`${what} of ${declared} bytes exceeds the limit of ${max} bytes`)
  let total = 0
  for await (const piece of request.body ?? []) {
    total += piece.byteLength
    if (total > max) throw new PayloadTooLargeError(`${what} exceeds the limit of ${max} bytes`)
    yield piece
  }
}

/** The whole body (at most `max` bytes). */
export async function readBody (request: CacheRequest, max: number, what: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const piece of limitedBody(request, max, what)) parts.push(piece)
  return Buffer.concat(parts)
}
