/**
 * The request/response model of the binary-cache service. Deliberately smaller than WHATWG
 * `Request`/`Response` (whose web streams cost too much per NAR byte): a request carries its
 * body as an async iterable, a response its exact length and a lazy body. `node-adapter.ts`
 * maps these onto `node:http`; `fetch-adapter.ts` onto WHATWG objects.
 */
import type { AbortOptions } from '../abort.ts'

export interface CacheRequest {
  /** upper-case method */
  method: string
  /** request target as received: origin-form `/path?query` (absolute-form is accepted too) */
  url: string
  /** lower-case header names */
  headers: Record<string, string | string[] | undefined>
  /** peer address (for loopback-only uploads) */
  remoteAddress?: string
  /** request body (uploads), pulled on demand */
  body?: AsyncIterable<Uint8Array>
  /** aborted when the client goes away or the service stops */
  signal: AbortSignal
}

/**
 * A pull-style body: `fill` copies the next bytes into a buffer the caller owns (so the
 * listener recycles its buffers), returning 0 at the end; `close` releases what it holds.
 */
export interface BodySource {
  fill: (buf: Uint8Array) => Promise<number>
  close: () => void
}

export interface CacheResponse {
  status: number
  /** lower-case header names; `content-length` is added from `length` */
  headers: Record<string, string>
  /** exact number of body bytes (also for HEAD, where no body is sent) */
  length: number
  /** the body; lazy, so a HEAD never starts producing it */
  body?: Uint8Array | ((options: AbortOptions) => AsyncIterable<Uint8Array>)
  /** the same body as a pull source (preferred by the node:http listener when present) */
  source?: (options: AbortOptions) => BodySource
}

export type CacheHandler = (request: CacheRequest) => Promise<CacheResponse>
