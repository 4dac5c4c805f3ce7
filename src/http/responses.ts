/**
 * One small function per outcome (§3.1, §3.3, §3.5 of binary-cache.md). Every response has an
 * exact `length` (→ `Content-Length`, which Guix's pipelined narinfo client needs, §5.5);
 * "not here" is always 404, never 5xx (Nix 2.8 retries 5xx and can abort, §3.3).
 */
import type { AbortOptions } from '../abort.ts'
import { CACHE_CONTROL, CONTENT_TYPE } from './constants.ts'
import type { HttpError } from './errors.ts'
import type { BodySource, CacheResponse } from './types.ts'
import type { ByteRange } from './range.ts'

const utf8 = new TextEncoder()

export function textResponse (status: number, text: string, headers: Record<string, string> = {}): CacheResponse {
  const body = utf8.encode(text)
  return { status, headers: { 'content-type': CONTENT_TYPE.text, ...headers }, length: body.length, body }
}

export function bytesResponse (body: Uint8Array, contentType: string, headers: Record<string, string> = {}): CacheResponse {
  return { status: 200, headers: { 'content-type': contentType, ...headers }, length: body.length, body }
}

export function cacheInfoResponse (text: string): CacheResponse {
  return bytesResponse(utf8.encode(text), CONTENT_TYPE.cacheInfo)
}

export function narInfoResponse (text: Uint8Array, contentType: string = CONTENT_TYPE.narInfo): CacheResponse {
  return bytesResponse(text, contentType, { 'cache-control': CACHE_CONTROL.narInfo })
}

export function notFound (what = 'not found'): CacheResponse {
  return textResponse(404, `${what}\n`, { 'cache-control': CACHE_CONTROL.notFound })
}

export function errorResponse (err: HttpError): CacheResponse {
  return textResponse(err.status, `${err.message}\n`, { 'cache-control': CACHE_CONTROL.noStore, ...err.headers })
}

export function emptyResponse (status: number, headers: Record<string, string> = {}): CacheResponse {
  return { status, headers, length: 0 }
}

export interface StreamedResource {
  /** full size of the resource */
  size: number
  contentType: string
  /** produces bytes [offset, offset + length) */
  read: (offset: number, length: number, options: AbortOptions) => AsyncIterable<Uint8Array>
  /** the same bytes as a pull source, when the resource has one */
  open?: (offset: number, length: number, options: AbortOptions) => BodySource
  /** strong validator (`ETag`) */
  etag?: string
  cacheControl?: string
}

/**
 * A NAR-like resource: 200 with `Accept-Ranges: bytes` (Nix 2.8 resumes only when it saw it,
 * §3.5), or 206 with `Content-Range` for a satisfiable single range.
 */
export function streamResponse (resource: StreamedResource, range: ByteRange | undefined): CacheResponse {
  const headers: Record<string, string> = {
    'content-type': resource.contentType,
    'accept-ranges': 'bytes',
    'cache-control': resource.cacheControl ?? CACHE_CONTROL.nar
  }
  if (resource.etag !== undefined) headers.etag = resource.etag
  const start = range?.start ?? 0
  const length = range === undefined ? resource.size : range.end - range.start
  if (range !== undefined) headers['content-range'] = `bytes ${range.start}-${range.end - 1}/${resource.size}`
  const response: CacheResponse = { status: range === undefined ? 200 : 206, headers, length, body: (options) => resource.read(start, length, options) }
  const open = resource.open
  if (open !== undefined) response.source = (options) => open(start, length, options)
  return response
}
