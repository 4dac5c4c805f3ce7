/**
 * A fast path for the requests binary caches live on: `GET`/`HEAD` without a body, HTTP/1.1,
 * keep-alive, possibly pipelined (Guix). Parsing these heads and writing the responses on the
 * raw socket costs a fraction of `node:http`'s per-request machinery (measured: a raw-socket
 * responder answers a sequential narinfo walk ~2.5× faster than a trivial node:http server, and
 * faster than nginx, on the dev VMs) — which is what the narinfo latency figure needs.
 *
 * Anything else — another method, a body (`Content-Length`/`Transfer-Encoding`), `Expect`,
 * `Upgrade`, HTTP/1.0, obsolete line folding, duplicate framing headers, a malformed line — is
 * not parsed here: the connection is handed to `node:http` (llhttp) at that request boundary,
 * with the bytes already read pushed back, and stays there. Request bodies (uploads) are thus
 * only ever parsed by llhttp, so there is no second body parser to smuggle requests through.
 *
 * Limits mirror the node:http ones: a head must be complete within `headersTimeoutMs` (408),
 * be at most `maxHeaderBytes` (431); an idle keep-alive connection is closed after
 * `keepAliveTimeoutMs`; any socket silent for `idleTimeoutMs` is destroyed.
 */
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { BodySource, CacheHandler, CacheRequest, CacheResponse } from './types.ts'

export interface FastPathContext {
  handler: CacheHandler
  /** answers from memory without awaiting anything, or undefined (then `handler` is used) */
  handlerSync?: (request: CacheRequest) => CacheResponse | undefined
  /** the listener's timer wheel for head and keep-alive timeouts */
  deadlines: Deadlines
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  idleTimeoutMs: number
  maxHeaderBytes: number
  /** gives the connection to node:http, with `pending` (unparsed bytes) pushed back */
  handOver: (socket: Socket, pending: Buffer) => void
  onError?: (err: unknown) => void
  /** answer 503 and close instead of serving (over the connection limit) */
  overLimit?: boolean
  /** counts requests in flight on the socket (for graceful stop) */
  busy: (socket: Socket, delta: number) => void
}

const CRLFCRLF = Buffer.from('\r\n\r\n')
const REQUEST_LINE = /^(GET|HEAD) ([!-~]+) HTTP\/1\.1$/
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*?)[ \t]*$/
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/
/** Headers that mean "not for the fast path": bodies, upgrades, expectations. */
const HAND_OVER = new Set(['content-length', 'transfer-encoding', 'expect', 'upgrade', 'http2-settings'])

let dateText = ''
let dateSecond = -1
function httpDate (): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateText = new Date(now).toUTCString()
  }
  return dateText
}

const GET = Buffer.from('GET ')
const HEAD = Buffer.from('HEAD ')
/** Could `data` (the start of a request) be a GET or HEAD? (Undecided prefixes count as yes.) */
function startsLikeOurs (data: Buffer): boolean {
  const n = Math.min(data.length, 5)
  return data.compare(GET, 0, Math.min(n, 4), 0, Math.min(n, 4)) === 0 || data.compare(HEAD, 0, n, 0, n) === 0
}

/** The head of a response, as bytes (header values from our own code; CR/LF refused anyway). */
function responseHead (response: CacheResponse, close: boolean, keepAliveSeconds: number): Buffer {
  let head = `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? 'Unknown'}\r\n`
  for (const key in response.headers) {
    const value = response.headers[key]
    if (key === 'content-length' || key === 'connection' || BAD_VALUE.test(value)) continue
    head += `${key}: ${value}\r\n`
  }
  head += `date: ${httpDate()}\r\ncontent-length: ${response.length}\r\n`
  head += close ? 'connection: close\r\n\r\n' : `connection: keep-alive\r\nkeep-alive: timeout=${keepAliveSeconds}\r\n\r\n`
  return Buffer.from(head, 'latin1')
}

interface ParsedHead {
  method: string
  target: string
  headers: Record<string, string>
  close: boolean
}

/** Parses a request head for the fast path, or undefined when node:http must handle it. */
function parseHead (text: string): ParsedHead | undefined {
  const lines = text.split('\r\n')
  const m = REQUEST_LINE.exec(lines[0])
  if (m === null) return undefined
  const headers: Record<string, string> = {}
  for (let i = 1; i < lines.length; i++) {
    const h = HEADER_LINE.exec(lines[i])
    if (h === null) return undefined // obs-fold, bare CR/LF, bad token…
    const name = h[1].toLowerCase()
    if (HAND_OVER.has(name) || BAD_VALUE.test(h[2])) return undefined
    if (headers[name] !== undefined) {
      if (name === 'host') return undefined
      headers[name] += `, ${h[2]}`
    } else {
      headers[name] = h[2]
    }
  }
  const connection = (headers.connection ?? '').toLowerCase()
  if (connection.includes('upgrade')) return undefined
  return { method: m[1], target: m[2], headers, close: connection.split(',').some(t => t.trim() === 'close') }
}

/** A connection's pending timeout: `fire` runs once `at` (ms since the epoch) has passed. */
export interface Deadline {
  at: number
  fire: () => void
}

/**
 * One interval timer for the head/keep-alive timeouts of every fast-path connection of a
 * listener, instead of a setTimeout/clearTimeout pair per request (which shows in profiles).
 * Timeouts fire up to `intervalMs` late.
 */
export class Deadlines {
  private readonly entries = new Set<Deadline>()
  private readonly intervalMs: number
  private timer?: NodeJS.Timeout

  constructor (intervalMs: number) {
    this.intervalMs = intervalMs
  }

  add (entry: Deadline): void {
    this.entries.add(entry)
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs)
      this.timer.unref()
    }
  }

  delete (entry: Deadline): void {
    this.entries.delete(entry)
    if (this.entries.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  private tick (): void {
    const now = Date.now()
    for (const e of this.entries) {
      if (e.at <= now) {
        e.at = Infinity
        e.fire()
      }
    }
  }

  close (): void {
    this.entries.clear()
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }
}

/** Buffers recycled between responses (bodies are copied into them by `BodySource.fill`). */
const POOL_BUFFER_BYTES = 512 * 1024
const POOL_MAX_FREE = 64
/** Buffers of one response handed to the socket and not yet flushed (backpressure). */
const MAX_IN_FLIGHT = 4
const free: Buffer[] = []

/** A socket-like sink: Node's `Socket` and `ServerResponse` both fit. */
export interface BodySink {
  readonly destroyed: boolean
  write: (chunk: Uint8Array, callback?: (err?: Error | null) => void) => boolean
  on: (event: 'close' | 'drain', listener: () => void) => unknown
  off: (event: 'close' | 'drain', listener: () => void) => unknown
}

/** Streams a pull source into a sink with pooled buffers; at most MAX_IN_FLIGHT unflushed. */
export async function sendSource (sink: BodySink, source: BodySource, length: number): Promise<void> {
  let inFlight = 0
  let wake: (() => void) | undefined
  const onClose = (): void => { const w = wake; wake = undefined; w?.() }
  sink.on('close', onClose)
  let sent = 0
  try {
    while (sent < length) {
      while (inFlight >= MAX_IN_FLIGHT && !sink.destroyed) await new Promise<void>(resolve => { wake = resolve })
      if (sink.destroyed) return
      const buf = free.pop() ?? Buffer.allocUnsafe(POOL_BUFFER_BYTES)
      const want = Math.min(buf.length, length - sent)
      let n: number
      try {
        n = await source.fill(want === buf.length ? buf : buf.subarray(0, want))
      } catch (err) {
        free.push(buf)
        throw err
      }
      if (n === 0) {
        free.push(buf)
        throw new Error(`response body has ${sent} bytes, announced ${length}`)
      }
      sent += n
      inFlight++
      sink.write(n === buf.length ? buf : buf.subarray(0, n), () => {
        inFlight--
        if (free.length < POOL_MAX_FREE) free.push(buf)
        const w = wake
        wake = undefined
        w?.()
      })
    }
  } finally {
    sink.off('close', onClose)
    source.close()
  }
}

/** Resolves on `drain` or `close`, whichever comes first, and removes both listeners. */
export async function drained (sink: BodySink): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => {
      sink.off('drain', done)
      sink.off('close', done)
      resolve()
    }
    sink.on('drain', done)
    sink.on('close', done)
  })
}

/** Streams an async iterable into a sink, waiting for `drain` when its buffer is full. */
export async function sendIterable (sink: BodySink, body: AsyncIterable<Uint8Array>, length: number): Promise<void> {
  let sent = 0
  for await (const piece of body) {
    sent += piece.byteLength
    if (sent > length) throw new Error(`response body is longer than its announced ${length} bytes`)
    if (!sink.write(piece)) {
      if (sink.destroyed) return
      await drained(sink)
      if (sink.destroyed) return
    }
  }
  if (sent !== length && !sink.destroyed) throw new Error(`response body has ${sent} bytes, announced ${length}`)
}

/** Serves `socket` on the fast path until it closes or is handed over to node:http. */
export function serveFast (socket: Socket, ctx: FastPathContext): void {
  let pending: Buffer = Buffer.alloc(0)
  let busy = false
  let handedOver = false
  let closing = false
  let controller: AbortController | undefined
  let gone = false
  let served = 0
  const keepAliveSeconds = Math.max(1, Math.floor(ctx.keepAliveTimeoutMs / 1000))
  /** what happens when the deadline passes: 'head' → 408, 'idle' → close */
  let waiting: 'head' | 'idle' | undefined
  const deadline: Deadline = {
    at: Infinity,
    fire: () => {
      if (waiting === 'head') fail(408)
      else if (waiting === 'idle' && !busy) { closing = true; socket.end() }
      waiting = undefined
    }
  }
  ctx.deadlines.add(deadline)

  const wait = (what: 'head' | 'idle' | undefined): void => {
    if (waiting === what) return
    waiting = what
    deadline.at = what === undefined ? Infinity : Date.now() + (what === 'head' ? ctx.headersTimeoutMs : ctx.keepAliveTimeoutMs)
  }
  const fail = (status: number): void => {
    wait(undefined)
    closing = true
    const text = `${status} ${STATUS_CODES[status] ?? ''}\n`
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`)
  }
  const onData = (d: Buffer): void => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d])
    if (!busy) next()
  }
  const onEnd = (): void => {
    if (!busy && !handedOver) { wait(undefined); socket.end() }
    closing = true
  }
  const onClose = (): void => {
    ctx.deadlines.delete(deadline)
    gone = true
    controller?.abort(new Error('client went away'))
  }
  const onTimeout = (): void => { socket.destroy() }
  const detach = (): void => {
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('close', onClose)
    socket.off('timeout', onTimeout)
    ctx.deadlines.delete(deadline)
  }
  socket.on('data', onData)
  socket.on('end', onEnd)
  socket.on('close', onClose)
  socket.on('error', () => { /* 'close' follows */ })
  socket.setTimeout(ctx.idleTimeoutMs)
  socket.on('timeout', onTimeout)

  const handOver = (): void => {
    handedOver = true
    detach()
    ctx.handOver(socket, pending)
    pending = Buffer.alloc(0)
  }

  /** Answers the complete requests in `pending`, synchronously while it can. */
  function next (): void {
    while (!busy && !handedOver && !closing && !socket.destroyed) {
      // not a GET/HEAD (PUT, other methods, garbage): node:http takes it as soon as that is clear
      if (pending.length > 0 && !startsLikeOurs(pending)) { handOver(); return }
      const end = pending.indexOf(CRLFCRLF)
      if (end < 0) {
        if (pending.length > ctx.maxHeaderBytes) { fail(431); return }
        wait(pending.length === 0 && served > 0 ? 'idle' : 'head')
        return
      }
      wait(undefined)
      if (end > ctx.maxHeaderBytes) { fail(431); return }
      const head = parseHead(pending.subarray(0, end).toString('latin1'))
      if (head === undefined) { handOver(); return }
      pending = pending.subarray(end + 4)
      served++
      if (ctx.overLimit === true) {
        const text = 'too many connections; retry\n'
        closing = true
        socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: ${text.length}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${text}`)
        return
      }
      const request = makeRequest(head)
      const quick = ctx.handlerSync?.(request)
      if (quick !== undefined && (quick.body === undefined || quick.body instanceof Uint8Array)) {
        writeSmall(head, quick)
        if (head.close) { closing = true; socket.end(); return }
        continue
      }
      busy = true
      ctx.busy(socket, 1)
      void respond(head, request).finally(() => {
        busy = false
        ctx.busy(socket, -1)
        if (head.close || closing) {
          wait(undefined)
          if (!socket.destroyed) socket.end()
          return
        }
        next()
      })
      return
    }
  }

  function signalOf (): AbortSignal {
    if (controller === undefined) {
      controller = new AbortController()
      if (gone) controller.abort(new Error('client went away'))
    }
    return controller.signal
  }

  function makeRequest (head: ParsedHead): CacheRequest {
    controller = undefined
    return {
      method: head.method,
      url: head.target,
      headers: head.headers,
      remoteAddress: socket.remoteAddress,
      get signal () { return signalOf() }
    }
  }

  /** A response whose body is in memory (or none): one write. */
  function writeSmall (head: ParsedHead, response: CacheResponse): void {
    const close = head.close || closing || response.headers.connection === 'close'
    const prefix = responseHead(response, close, keepAliveSeconds)
    if (head.method === 'HEAD' || response.length === 0 || !(response.body instanceof Uint8Array)) socket.write(prefix)
    else socket.write(Buffer.concat([prefix, response.body]))
    if (close) closing = true
  }

  async function respond (head: ParsedHead, request: CacheRequest): Promise<void> {
    const response = await ctx.handler(request)
    if (socket.destroyed) return
    if (head.method === 'HEAD' || response.length === 0 || response.body === undefined || response.body instanceof Uint8Array) {
      writeSmall(head, response)
      return
    }
    const close = head.close || closing || response.headers.connection === 'close'
    socket.write(responseHead(response, close, keepAliveSeconds))
    if (close) closing = true
    const signal = signalOf()
    try {
      if (response.source !== undefined) await sendSource(socket, response.source({ signal }), response.length)
      else await sendIterable(socket, response.body({ signal }), response.length)
    } catch (err: any) {
      if (!signal.aborted && err?.name !== 'Truncated') ctx.onError?.(err)
      // what was written goes out, then the connection ends: the client sees a short body
      closing = true
      socket.end()
      setTimeout(() => socket.destroy(), 1000).unref()
    }
  }

  next()
}
