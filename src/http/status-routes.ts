/**
 * The node's own HTTP routes next to the binary cache (plugged in through
 * `BinaryCacheInit.extraRoutes`, so Nix's and Guix's routes never reach them):
 *
 * - `GET /`            the status page (status-page.ts): self-contained HTML polling /status.json
 * - `GET /status.json` the status snapshot
 * - `GET /metrics`     Prometheus text exposition 0.0.4
 *
 * The page and the snapshot name recently substituted store paths, peers and local paths (data
 * directory, sockets): by default only loopback clients see them — others get the binary cache's
 * plain home page at `/` and 403 for `/status.json`. The metrics are aggregates, served to all.
 *
 * One small function per outcome, as in responses.ts.
 */
import type { AbortOptions } from '../abort.ts'
import { EXPOSITION_CONTENT_TYPE } from '../metrics/exposition.ts'
import { bytesResponse, textResponse } from './responses.ts'
import { isLoopback } from './uploads.ts'
import { requestPath } from './routes.ts'
import { STATUS_PAGE_HTML } from './status-page.ts'
import type { CacheRequest, CacheResponse } from './types.ts'

export interface StatusRoutesInit {
  /** the Prometheus exposition text */
  metrics: () => string
  /** the status snapshot (any JSON value) */
  snapshot: (options: AbortOptions) => Promise<unknown>
  /** show the page and the snapshot to non-loopback clients too (default false) */
  remoteStatus?: boolean
}

const utf8 = new TextEncoder()
const NO_STORE = { 'cache-control': 'no-store' }
/** the page loads nothing from elsewhere: inline style and script, JSON from its own origin */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
const pageBytes = utf8.encode(STATUS_PAGE_HTML)

export function statusPageResponse (): CacheResponse {
  return bytesResponse(pageBytes, 'text/html; charset=utf-8', { ...NO_STORE, 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff' })
}

export function metricsResponse (text: string): CacheResponse {
  return bytesResponse(utf8.encode(text), EXPOSITION_CONTENT_TYPE, NO_STORE)
}

export function statusJsonResponse (value: unknown): CacheResponse {
  return bytesResponse(utf8.encode(JSON.stringify(value)), 'application/json', NO_STORE)
}

/** The `extraRoutes` hook of a binary cache serving these routes. */
export function createStatusRoutes (init: StatusRoutesInit): (request: CacheRequest) => Promise<CacheResponse | undefined> {
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined
    const path = requestPath(request.url)
    if (path === '/metrics') return metricsResponse(init.metrics())
    if (path !== '/' && path !== '/status.json') return undefined
    if (init.remoteStatus !== true && !isLoopback(request.remoteAddress)) {
      return path === '/' ? undefined : textResponse(403, 'the node status is shown to loopback clients only\n', NO_STORE)
    }
    return path === '/' ? statusPageResponse() : statusJsonResponse(await init.snapshot(request))
  }
}
