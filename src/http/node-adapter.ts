/**
 * The listener for a `CacheHandler`: a `node:http` server whose connections start on the
 * raw-socket fast path for plain GET/HEAD (fast-path.ts) and are handed to node:http itself for
 * everything else (uploads, other methods). Bodies are streamed with backpressure — pull
 * sources into recycled buffers, iterables with `drain` — and every response has
 * `Content-Length`. Hostile clients do not hurt the others:
 *
 * - slow-loris heads: `headersTimeout` → 408 (fast path: its own timer; node:http: checked
 *   every `connectionsCheckingInterval`);
 * - stalled bodies / readers: the socket idle timeout closes the connection;
 * - oversized heads → 431 (Node); oversized bodies → 413 from the handler;
 * - too many connections: the extra ones get `503 Retry-After` to their request and are
 *   closed (Nix retries 5xx with backoff), the rest keep being served;
 * - a response body that fails half-way (or is longer/shorter than announced) ends the
 *   connection, so the client sees a truncated transfer, never a wrong one.
 *
 * Request bodies are only read when the handler reads them; when it answers without reading
 * the whole body the response carries `Connection: close`.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { once } from 'node:events'
import {
  CONNECTIONS_CHECK_INTERVAL_MS,
  HEADERS_TIMEOUT_MS,
  KEEP_ALIVE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  MAX_HEADER_BYTES,
  SOCKET_IDLE_TIMEOUT_MS,
  STOP_GRACE_MS
} from './constants.ts'
import type { CacheHandler, CacheRequest, CacheResponse } from './types.ts'
import { serveFast, sendSource, sendIterable, Deadlines } from './fast-path.ts'

export interface ListenerLimits {
  headersTimeoutMs: number
  connectionsCheckIntervalMs: number
  idleTimeoutMs: number
  keepAliveTimeoutMs: number
  maxConnections: number
  maxHeaderBytes: number
}

export const DEFAULT_LIMITS: ListenerLimits = {
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
  connectionsCheckIntervalMs: CONNECTIONS_CHECK_INTERVAL_MS,
  idleTimeoutMs: SOCKET_IDLE_TIMEOUT_MS,
  keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
  maxConnections: MAX_CONNECTIONS,
  maxHeaderBytes: MAX_HEADER_BYTES
}

export interface HttpListenerInit {
  host: string
  port: number
  handler: CacheHandler
  /** answers from memory without awaiting, or undefined (fast path only) */
  handlerSync?: (request: CacheRequest) => CacheResponse | undefined
  limits?: Partial<ListenerLimits>
  /** serve plain GET/HEAD on the raw-socket fast path (default true) */
  fastPath?: boolean
  onError?: (err: unknown) => void
}

const OVER_LIMIT = Symbol('storeswarm.overLimit')
const BUSY = Symbol('storeswarm.busy')
/** How long an unread request body is drained after an early answer. */
const LINGER_MS = 2_000

export class HttpListener {
  private readonly init: HttpListenerInit
  private readonly limits: ListenerLimits
  private readonly sockets = new Set<Socket>()
  private server?: Server
  private deadlines = new Deadlines(100)
  private bound?: { host: string, port: number }

  constructor (init: HttpListenerInit) {
    this.init = init
    this.limits = { ...DEFAULT_LIMITS, ...init.limits }
  }

  get address (): { host: string, port: number } | undefined {
    return this.bound
  }

  async start (): Promise<void> {
    const limits = this.limits
    this.deadlines = new Deadlines(Math.max(10, Math.min(250, limits.connectionsCheckIntervalMs, limits.headersTimeoutMs / 4)))
    const server = createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: 0, // uploads may take long; stalls are caught by the idle timeout
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckIntervalMs,
      noDelay: true,
      highWaterMark: 256 * 1024
    })
    server.setTimeout(limits.idleTimeoutMs, (socket) => { socket.destroy() })
    // node:http's own connection listener: connections start on the fast path and are handed
    // to it when a request needs it (fast-path.ts)
    const httpConnection = server.listeners('connection')
    server.removeAllListeners('connection')
    const toHttp = (socket: Socket): void => { for (const l of httpConnection) (l as (s: Socket) => void).call(server, socket) }
    server.on('connection', (socket: Socket) => {
      const overLimit = this.sockets.size >= limits.maxConnections
      if (overLimit) (socket as any)[OVER_LIMIT] = true
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
      if (this.init.fastPath === false) { toHttp(socket); return }
      serveFast(socket, {
        handler: this.init.handler,
        handlerSync: this.init.handlerSync,
        deadlines: this.deadlines,
        headersTimeoutMs: limits.headersTimeoutMs,
        keepAliveTimeoutMs: limits.keepAliveTimeoutMs,
        idleTimeoutMs: limits.idleTimeoutMs,
        maxHeaderBytes: limits.maxHeaderBytes,
        overLimit,
        onError: this.init.onError,
        busy: (s, delta) => { (s as any)[BUSY] = ((s as any)[BUSY] ?? 0) + delta },
        handOver: (s, pending) => {
          s.pause()
          if (pending.length > 0) s.unshift(pending)
          toHttp(s)
          s.resume()
        }
      })
    })
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { void this.serve(req, res) })
    server.on('clientError', (err: any, socket: Socket) => {
      if (!socket.writable || err.code === 'ECONNRESET') { socket.destroy(); return }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'
      const body = `${status}\n`
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    })
    this.server = server
    server.listen(this.init.port, this.init.host)
    await once(server, 'listening')
    const a = server.address()
    if (a === null || typeof a === 'string') throw new Error('listener has no TCP address')
    this.bound = { host: a.address, port: a.port }
  }

  async stop (graceMs = STOP_GRACE_MS): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    const closed = new Promise<void>(resolve => server.close(() => resolve()))
    server.closeIdleConnections()
    // connections without a request in flight (fresh or keep-alive) go now, busy ones get a grace
    for (const s of this.sockets) if (((s as any)[BUSY] ?? 0) === 0) s.destroy()
    const timer = setTimeout(() => { for (const s of this.sockets) s.destroy() }, graceMs)
    await closed
    clearTimeout(timer)
    this.deadlines.close()
  }

  private async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const socket = req.socket as Socket & { [BUSY]?: number }
    if ((socket as any)[OVER_LIMIT] === true) {
      const body = 'too many connections; retry\n'
      res.writeHead(503, { 'content-type': 'text/plain', 'content-length': String(body.length), 'retry-after': '1', connection: 'close' })
      res.end(body)
      return
    }
    socket[BUSY] = (socket[BUSY] ?? 0) + 1
    // the request's signal is made only if someone asks for it (most requests never do);
    // stop() ends connections, which aborts what is in flight
    let controller: AbortController | undefined
    let gone = false
    const signalOf = (): AbortSignal => {
      if (controller === undefined) {
        controller = new AbortController()
        if (gone) controller.abort(new Error('client went away'))
      }
      return controller.signal
    }
    res.once('close', () => {
      socket[BUSY] = (socket[BUSY] ?? 1) - 1
      if (!res.writableFinished) {
        gone = true
        controller?.abort(new Error('client went away'))
      }
    })
    const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined
    let bodyDone = !hasBody
    const body = hasBody
      ? (async function * (): AsyncGenerator<Uint8Array> {
          for await (const piece of req) yield piece as Buffer
          bodyDone = true
        })()
      : undefined
    const request: CacheRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      remoteAddress: socket.remoteAddress,
      body,
      get signal () { return signalOf() }
    }
    const response = await this.init.handler(request)
    if (res.destroyed) return
    const headers: Record<string, string> = response.headers
    headers['content-length'] = String(response.length)
    if (!bodyDone || req.readableAborted) {
      // the rest of the body is read and dropped (so the client sees this answer, not a reset)
      // for a moment, then the connection goes: an endless body cannot keep it busy
      headers.connection = 'close'
      res.once('finish', () => { setTimeout(() => socket.destroy(), LINGER_MS).unref() })
    }
    res.writeHead(response.status, headers)
    if (request.method === 'HEAD' || (response.body === undefined && response.source === undefined) || response.length === 0) {
      res.end()
      return
    }
    if (response.body instanceof Uint8Array) {
      res.end(response.body)
      return
    }
    const signal = signalOf()
    try {
      if (response.source !== undefined) await sendSource(res, response.source({ signal }), response.length)
      else if (response.body !== undefined) await sendIterable(res, response.body({ signal }), response.length)
      if (res.destroyed) return
      res.end()
    } catch (err: any) {
      if (!signal.aborted && err?.name !== 'Truncated') this.init.onError?.(err)
      // flush what was written, then end the connection: the client sees a short body
      if (!res.destroyed) {
        res.socket?.end()
        setTimeout(() => res.destroy(), 1000).unref()
      }
    }
  }
}

