/**
 * The running node's control socket, `<data-dir>/control.sock`: how CLI commands (`status`,
 * `gc`, `pin`, …) reach a node that owns the data directory (one process holds the store's
 * lock). Newline-delimited JSON: one request `{ cmd, args }` per connection, answered by any
 * number of `progress` lines and one `result` or `error` line.
 *
 * Features register handlers on the server; the client returns `undefined` when no node is
 * running, so commands can fall back to opening the store themselves.
 */
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { rm, chmod } from 'node:fs/promises'
import { join } from 'node:path'

export type ControlReply = { type: 'progress', bytes: number } | { type: 'result', value: unknown } | { type: 'error', name: string, message: string }

export interface ControlContext {
  /** sends a progress line (bytes done so far) to the client */
  progress: (bytes: number) => void
  /** aborted when the client goes away or the node stops */
  signal: AbortSignal
}

export type ControlHandler = (args: unknown[], ctx: ControlContext) => Promise<unknown>

export const CONTROL_SOCKET = 'control.sock'
const MAX_REQUEST_BYTES = 1024 * 1024

export function controlSocketPath (dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET)
}

export interface ControlServer {
  readonly path: string
  /** registers (or replaces) the handler of a command */
  handle: (cmd: string, handler: ControlHandler) => void
  close: () => Promise<void>
}

/** Listens on `<dataDir>/control.sock` (mode 0600: the data directory's owner only). */
export async function startControlServer (dataDir: string): Promise<ControlServer> {
  return await startControlServerAt(controlSocketPath(dataDir))
}

/** Listens on a control socket at `path` (mode 0600). */
export async function startControlServerAt (path: string): Promise<ControlServer> {
  const handlers = new Map<string, ControlHandler>()
  const stopping = new AbortController()
  await rm(path, { force: true })
  const server: Server = createServer((sock: Socket) => {
    let buf = ''
    let started = false
    const gone = new AbortController()
    const onStop = (): void => { gone.abort() }
    stopping.signal.addEventListener('abort', onStop, { once: true })
    sock.on('close', () => { gone.abort(); stopping.signal.removeEventListener('abort', onStop) })
    sock.on('error', () => {})
    sock.setEncoding('utf8')
    const reply = (r: ControlReply): void => { if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n') }
    sock.on('data', (d: string) => {
      if (started) return
      buf += d
      if (buf.length > MAX_REQUEST_BYTES) { reply({ type: 'error', name: 'UsageError', message: 'request too large' }); sock.end(); return }
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      started = true
      let req: any
      try { req = JSON.parse(buf.slice(0, nl)) } catch { reply({ type: 'error', name: 'UsageError', message: 'bad request' }); sock.end(); return }
      const handler = typeof req?.cmd === 'string' ? handlers.get(req.cmd) : undefined
      if (handler === undefined) {
        reply({ type: 'error', name: 'UsageError', message: `unknown control command ${JSON.stringify(req?.cmd)}` })
        sock.end()
        return
      }
      const args = Array.isArray(req.args) ? req.args as unknown[] : []
      handler(args, { progress: (bytes) => { reply({ type: 'progress', bytes }) }, signal: gone.signal })
        .then(value => { reply({ type: 'result', value: value ?? null }) })
        .catch((err: any) => { reply({ type: 'error', name: err?.name ?? 'Error', message: err?.message ?? String(err) }) })
        .finally(() => sock.end())
    })
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, () => { resolve() }) })
  await chmod(path, 0o600)
  return {
    path,
    handle: (cmd, handler) => { handlers.set(cmd, handler) },
    close: async () => {
      stopping.abort()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
      await rm(path, { force: true })
    }
  }
}

export interface ControlRequestOptions {
  onProgress?: (bytes: number) => void
  signal?: AbortSignal
}

/** Sends one command to the node running on `dataDir`; `undefined` when none is running. */
export async function controlRequest (dataDir: string, cmd: string, args: unknown[], options: ControlRequestOptions = {}): Promise<unknown> {
  return await controlRequestAt(controlSocketPath(dataDir), cmd, args, options)
}

/** Sends one command to the control socket at `path`; `undefined` when nothing listens there. */
export async function controlRequestAt (path: string, cmd: string, args: unknown[], options: ControlRequestOptions = {}): Promise<unknown> {
  const sock = connect(path)
  const onAbort = (): void => { sock.destroy(new Error('aborted')) }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    try {
      await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
    } catch (err: any) {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') return undefined
      throw err
    }
    sock.write(JSON.stringify({ cmd, args }) + '\n')
    sock.setEncoding('utf8')
    let buf = ''
    let result: ControlReply | undefined
    for await (const d of sock) {
      buf += d as string
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const r = JSON.parse(buf.slice(0, nl)) as ControlReply
        buf = buf.slice(nl + 1)
        if (r.type === 'progress') options.onProgress?.(r.bytes)
        else result = r
      }
    }
    if (result === undefined) throw new Error('the running node closed the control connection without an answer')
    if (result.type === 'error') {
      const err = new Error(result.message)
      err.name = result.name
      throw err
    }
    return (result as { value: unknown }).value ?? null
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    sock.destroy()
  }
}
