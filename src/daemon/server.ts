/**
 * The daemon-protocol server facade (spec `daemon-protocol.md` §1–§4, §6, §7): real
 * Nix (and, on its own socket, Guix) clients talk to the node as if it were a
 * `nix-daemon`. One {@link DaemonServer} serves one dialect on any number of
 * listeners (Unix sockets, or a stdio bridge's connections).
 *
 * Per connection: handshake (advertise 1.38 with no features and negotiate down,
 * §1.3), then the op loop — read the op code and its arguments, run the op's
 * handler inside the stderr loop (`STDERR_LAST` + reply body, or `STDERR_ERROR`),
 * repeat. Errors after the arguments were fully read keep the connection (§1.4);
 * unknown ops and malformed input get one `STDERR_ERROR` and the connection is
 * closed, as the C++ daemon does (§7.8). Every wait on the peer has a timeout, the
 * bytes of one request's arguments and the number of connections are bounded, and
 * a failing connection never affects the others.
 *
 * This module decides no paths, permissions or processes: `node/` does.
 */
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import type { Castore } from '../castore/index.ts'
import type { PublicKey } from '../nix/index.ts'
import {
  DEFAULT_MAX_COLLECTION_SIZE,
  DEFAULT_MAX_STRING_LENGTH,
  GUIX_PROTOCOL_VERSION,
  MAX_WORKER_VERSION,
  OP_NAMES,
  Op,
  STDERR_LAST,
  STDERR_NEXT,
  Verbosity
} from './constants.ts'
import type { OpName } from './constants.ts'
import { DaemonOpError, ProtocolError, UnsupportedOperationError } from './errors.ts'
import { FramedSource } from './framed.ts'
import { GUIX_CODEC_VERSION, GUIX_STORE_DIR, guixHasOp, readGuixSetOptions } from './guix.ts'
import { serverHandshake } from './handshake.ts'
import type { Dialect } from './handshake.ts'
import { walkNar } from './nar.ts'
import { OPS, opDefinition, writeReply } from './ops.ts'
import type { OpReply } from './ops.ts'
import { writeStderrError } from './stderr.ts'
import type { WireVersion } from './version.ts'
import { DEFAULT_STORE_DIR } from './version.ts'
import { WireReader, WireWriter } from './wire.ts'
import { HANDLERS, READ_ARGS_OVERRIDES } from './handlers.ts'
import { SocketSource } from './socket-source.ts'
import { PathInfoCache } from './path-info-cache.ts'
import type { PathInfoCacheOptions } from './path-info-cache.ts'
import type { UploadPolicy } from './upload.ts'

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/** Resource limits of a server; every field has a default. */
export interface DaemonServerLimits {
  /** Simultaneous connections; more are refused at the handshake (default 256). */
  maxConnections?: number
  /** Bytes of one request's arguments, payloads excluded (default 64 MiB). */
  maxRequestBytes?: number
  /** Longest string argument (default 16 MiB). */
  maxStringLength?: number
  /** Largest list/set/map argument (default 2^20). */
  maxCollectionSize?: number
  /** Largest NAR accepted in an upload (default 2^53 − 1). */
  maxNarSize?: number
  /**
   * Largest upload that has to be held in memory: AddToStore / AddTextToStore
   * (the store path depends on the hash of the whole dump) and unframed NARs of
   * clients < 1.21 (default 512 MiB).
   */
  maxBufferedSize?: number
  /** Time for a client to complete the handshake (default 30 s). */
  handshakeTimeoutMs?: number
  /** Time a connection may sit idle between ops (default 15 min). */
  idleTimeoutMs?: number
  /** Time without progress in the middle of an op, reading or writing (default 120 s). */
  ioTimeoutMs?: number
}

export type ResolvedLimits = Required<DaemonServerLimits>

export const DEFAULT_DAEMON_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  maxConnections: 256,
  maxRequestBytes: 64 * 1024 * 1024,
  maxStringLength: DEFAULT_MAX_STRING_LENGTH,
  maxCollectionSize: DEFAULT_MAX_COLLECTION_SIZE,
  maxNarSize: Number.MAX_SAFE_INTEGER,
  maxBufferedSize: 512 * 1024 * 1024,
  handshakeTimeoutMs: 30_000,
  idleTimeoutMs: 15 * 60_000,
  ioTimeoutMs: 120_000
})

/** What the server reports about connections (for logs and tests). */
export type DaemonServerEvent =
  | { type: 'connection', id: number, dialect: Dialect }
  | { type: 'handshake', id: number, clientVersion: number, version: number }
  | { type: 'op', id: number, op: OpName | number }
  | { type: 'op-error', id: number, op: OpName, message: string }
  | { type: 'close', id: number, error?: Error }

export interface DaemonServerInit {
  /** Where paths live. */
  castore: Castore
  /** `nix` (default) or `guix`; one server speaks one dialect (§1.3). */
  dialect?: Dialect
  /** Store directory served (default `/nix/store`, Guix `/gnu/store`). */
  storeDir?: string
  /** Keys whose signatures make an upload acceptable (Nix `trusted-public-keys`). */
  trustedPublicKeys?: readonly PublicKey[]
  /** Refuse unsigned, non-content-addressed uploads (default true, Nix `require-sigs`). */
  requireSigs?: boolean
  /**
   * Treat clients as trusted users (default false): they may upload unsigned paths
   * with `--no-check-sigs` (dontCheckSigs) and add signatures. A Unix socket has no
   * per-user identity in Node, so trust is a property of the socket (its mode).
   */
  trustClients?: boolean
  /** Version string sent at ≥ 1.33 (default `storeswarm`). */
  daemonNixVersion?: string
  /** Version announced in the handshake (default 1.38, Guix 0x163). */
  version?: number
  /**
   * Re-hash NARs served by NarFromPath against their NarHash (default false: Nix checks
   * the NarHash of every NAR it receives, "hash mismatch importing path", so a damaged
   * castore cannot slip bad bytes into a client's store; `VerifyStore` and the castore's
   * verify re-check on demand). With true, a mismatch aborts the stream.
   */
  verifyOnServe?: boolean
  limits?: DaemonServerLimits
  /** Cache of valid path infos (default 65 536 entries, 30 s); `false` disables it. */
  pathInfoCache?: PathInfoCacheOptions | false
  /** Receives connection events (default: none). */
  onEvent?: (event: DaemonServerEvent) => void
  /** Called after a NAR was streamed to a client (NarFromPath), for metrics. */
  onNarServed?: (event: { storePath: string, bytes: number }) => void
}

/** Configuration every connection sees. */
export interface DaemonServerContext {
  castore: Castore
  dialect: Dialect
  storeDir: string
  policy: UploadPolicy
  trustClients: boolean
  verifyOnServe: boolean
  limits: ResolvedLimits
  serverVersion: number
  /** Sent to clients ≥ 1.33. */
  daemonNixVersion: string
  pathInfoCache: PathInfoCache
  onNarServed?: (event: { storePath: string, bytes: number }) => void
}

/* ------------------------------------------------------------------------ */
/* A connection                                                              */
/* ------------------------------------------------------------------------ */

/** A duplex byte stream the server can talk over (a `net.Socket`, or anything alike). */
export type DaemonSocket = Socket

let nextConnectionId = 1
/** Bytes a streamed reply (NarFromPath) may queue in the socket before waiting for `drain`. */
const STREAM_BUFFER = 4 * 1024 * 1024
/** How long a closing connection may take to flush its last bytes. */
const CLOSE_GRACE_MS = 5_000

/** Ops of the Nix dialect: everything except Guix's and the feature-gated ones. */
const NIX_ONLY_EXCLUDED = new Set<number>([Op.BuiltinBuilders, Op.SubstituteURLs, Op.SubmitOutput, Op.AddToStoreScanning])

/**
 * One client connection: the state handlers use (negotiated version, trust,
 * reader/writer) and the op loop.
 */
export class DaemonConnection {
  readonly id: number
  readonly context: DaemonServerContext
  readonly socket: DaemonSocket
  readonly reader: WireReader
  readonly out = new WireWriter()
  /** Negotiated version (Nix); the client's version for Guix (it gates on it). */
  version = 0
  /** The version op codecs run at (Guix: Nix 1.15 layouts, §4). */
  codec: WireVersion = 0
  /** Version stderr messages are written at (selects the error format). */
  stderrVersion = 0
  readonly trusted: boolean
  /** True once STDERR_LAST of the current op was queued: errors can no longer be reported. */
  replyStarted = false
  private readonly source: SocketSource
  private readonly controller = new AbortController()

  constructor (context: DaemonServerContext, socket: DaemonSocket) {
    this.id = nextConnectionId++
    this.context = context
    this.socket = socket
    this.trusted = context.trustClients
    this.source = new SocketSource(socket)
    this.reader = new WireReader(this.source, {
      maxStringLength: context.limits.maxStringLength,
      maxCollectionSize: context.limits.maxCollectionSize
    })
    socket.once('close', () => { this.controller.abort(new ProtocolError('connection closed', 'ERR_TRUNCATED')) })
    socket.on('error', () => {}) // reported through the reader / writes
    socket.on('timeout', () => { socket.destroy(new ProtocolError('connection timed out', 'ERR_TRUNCATED')) })
  }

  /** Aborted when the socket closes. */
  get signal (): AbortSignal {
    return this.controller.signal
  }

  get storeDir (): string {
    return this.context.storeDir
  }

  get dialect (): Dialect {
    return this.context.dialect
  }

  /** Lifts the argument budget: a payload (NAR, framed stream) follows. */
  unmetered (): void {
    this.source.budget = Number.POSITIVE_INFINITY
  }

  /** Queues STDERR_LAST; the reply body follows. */
  startReply (): void {
    this.out.writeU64(STDERR_LAST)
    this.replyStarted = true
  }

  /** Queues STDERR_LAST and the reply body of `op`. */
  reply<K extends OpName> (op: K, value: OpReply[K]): void {
    this.startReply()
    writeReply(this.out, op, value, this.codec)
  }

  /** Queues a log line (STDERR_NEXT) inside the current op. */
  logLine (message: string): void {
    this.out.writeU64(STDERR_NEXT).writeString(message.endsWith('\n') ? message : message + '\n')
  }

  /** Sends what is queued. */
  async flush (): Promise<void> {
    if (this.out.length === 0) return
    await this.out.flush(this.socket, { signal: this.signal })
  }

  /**
   * Sends queued bytes, then `chunk` (large replies such as NARs). Up to
   * {@link STREAM_BUFFER} bytes may wait in the socket's buffer so the producer keeps
   * working while the kernel drains it; beyond that, waits for `drain`. `written` is
   * called once the socket no longer needs `chunk` (its buffer may then be reused).
   */
  async write (chunk: Uint8Array, written?: (chunk: Uint8Array) => void): Promise<void> {
    await this.flush()
    if (written == null) this.socket.write(chunk)
    else this.socket.write(chunk, (err) => { if (err == null) written(chunk) })
    if (this.socket.writableLength > STREAM_BUFFER) {
      await once(this.socket, 'drain', { signal: this.signal })
    }
  }

  private setTimeout (ms: number): void {
    if (typeof this.socket.setTimeout === 'function') this.socket.setTimeout(ms)
  }

  /** Runs the connection to its end; never throws. */
  async run (refuse: string | null, onEvent?: (event: DaemonServerEvent) => void): Promise<void> {
    const { context } = this
    let closeError: Error | undefined
    try {
      this.setTimeout(context.limits.handshakeTimeoutMs)
      this.source.budget = context.limits.maxRequestBytes
      const hs = await serverHandshake(this.reader, this.socket, {
        dialect: context.dialect,
        version: context.serverVersion,
        daemonNixVersion: context.daemonNixVersion,
        trusted: this.trusted,
        sendLast: refuse == null,
        signal: this.signal
      })
      if (context.dialect === 'guix') {
        this.version = hs.clientVersion
        this.codec = { version: GUIX_CODEC_VERSION, storeDir: context.storeDir }
        this.stderrVersion = hs.clientVersion
      } else {
        this.version = hs.version
        this.codec = { version: hs.version, features: hs.features, storeDir: context.storeDir }
        this.stderrVersion = hs.version
      }
      onEvent?.({ type: 'handshake', id: this.id, clientVersion: hs.clientVersion, version: hs.version })
      if (refuse != null) {
        this.sendError(refuse)
        await this.flush()
        return
      }
      while (true) {
        this.setTimeout(context.limits.idleTimeoutMs)
        this.source.budget = Number.POSITIVE_INFINITY
        if (await this.reader.atEnd()) break
        this.source.budget = context.limits.maxRequestBytes
        this.setTimeout(context.limits.ioTimeoutMs)
        const code = await this.reader.readNumber('op code', 0xffffffff)
        onEvent?.({ type: 'op', id: this.id, op: OP_NAMES[code] ?? code })
        this.replyStarted = false
        try {
          await this.dispatch(code)
        } catch (err) {
          if (!(err instanceof DaemonOpError) || this.replyStarted) throw err
          onEvent?.({ type: 'op-error', id: this.id, op: OP_NAMES[code], message: err.message })
          this.sendError(err.message)
        }
        await this.flush()
      }
    } catch (err: any) {
      closeError = err instanceof Error ? err : new Error(String(err))
      // Best effort: tell the client why, unless a reply (e.g. a NAR) is under way.
      if (!this.replyStarted && !this.socket.destroyed && this.stderrVersion !== 0) {
        try {
          this.sendError(closeError.message)
          await this.flush()
        } catch {}
      }
    } finally {
      this.controller.abort()
      // flush what is queued (e.g. an error), then close whatever the peer does
      if (!this.socket.destroyed) {
        this.socket.end(() => { this.socket.destroy() })
        // the grace timer must not keep a closed connection (its buffers) alive for its whole span
        const grace = setTimeout(() => { this.socket.destroy() }, CLOSE_GRACE_MS).unref()
        this.socket.once('close', () => { clearTimeout(grace) })
      }
      onEvent?.({ type: 'close', id: this.id, error: closeError })
    }
  }

  /** Queues STDERR_ERROR in the format of the connection (§1.4). */
  sendError (message: string): void {
    writeStderrError(this.out, { message, status: 1, level: Verbosity.Error, traces: [] }, this.stderrVersion)
  }

  private supports (code: number): boolean {
    if (OP_NAMES[code] == null) return false
    if (this.context.dialect === 'guix') return guixHasOp(code, this.context.serverVersion)
    return !NIX_ONLY_EXCLUDED.has(code)
  }

  private async dispatch (code: number): Promise<void> {
    if (!this.supports(code)) {
      // Cannot know how long the arguments are: error and close (§1.4, §7.8).
      throw new ProtocolError(`invalid operation ${code}`, 'ERR_UNKNOWN_OP')
    }
    const name = OP_NAMES[code]
    const options = {} // the socket ending ends every read; no per-read abort listeners
    let args: unknown
    if (name === 'SetOptions' && this.context.dialect === 'guix') {
      args = await readGuixSetOptions(this.reader, this.version, options)
    } else {
      const override = READ_ARGS_OVERRIDES[name]
      args = override != null
        ? await override(this.reader, this.codec, options)
        : await OPS[name].readArgs(this.reader, this.codec, options)
    }
    const handler = HANDLERS[name]
    if (handler == null) {
      await this.skipPayload(name)
      throw new UnsupportedOperationError(`operation '${name}' (${code}) is not supported by storeswarm`)
    }
    await handler(this, args as never)
  }

  /** Consumes the payload of an op we do not implement, so the stream stays in sync. */
  private async skipPayload (name: OpName): Promise<void> {
    const kind = opDefinition(Op[name]).argsPayload(this.codec)
    if (kind === 'none' || kind === 'stderr-read') return // stderr-read: we never ask for the data
    this.unmetered()
    if (kind === 'framed') await new FramedSource(this.reader, { signal: this.signal }).drain()
    else await walkNar(this.reader, { signal: this.signal, maxSize: this.context.limits.maxNarSize })
  }
}

/* ------------------------------------------------------------------------ */
/* The server                                                                */
/* ------------------------------------------------------------------------ */

/** A daemon-protocol server: `listen` on Unix sockets or hand it connections. */
export class DaemonServer {
  readonly context: DaemonServerContext
  private readonly onEvent?: (event: DaemonServerEvent) => void
  private readonly servers = new Set<Server>()
  private readonly sockets = new Set<DaemonSocket>()
  private readonly running = new Set<Promise<void>>()
  private stopped = false

  constructor (init: DaemonServerInit) {
    const dialect = init.dialect ?? 'nix'
    this.context = {
      castore: init.castore,
      dialect,
      storeDir: init.storeDir ?? (dialect === 'guix' ? GUIX_STORE_DIR : DEFAULT_STORE_DIR),
      policy: { requireSigs: init.requireSigs ?? true, trustedPublicKeys: init.trustedPublicKeys ?? [] },
      trustClients: init.trustClients ?? false,
      verifyOnServe: init.verifyOnServe ?? false,
      limits: { ...DEFAULT_DAEMON_LIMITS, ...definedOnly(init.limits ?? {}) },
      serverVersion: init.version ?? (dialect === 'guix' ? GUIX_PROTOCOL_VERSION : MAX_WORKER_VERSION),
      pathInfoCache: new PathInfoCache(init.pathInfoCache === false ? { maxEntries: 0 } : init.pathInfoCache),
      daemonNixVersion: init.daemonNixVersion ?? 'storeswarm',
      onNarServed: init.onNarServed
    }
    this.onEvent = init.onEvent
  }

  /** Number of open connections. */
  get connections (): number {
    return this.sockets.size
  }

  /** Nothing to do before `listen`; present for the js-libp2p `Startable` shape. */
  async start (): Promise<void> {
    this.stopped = false
  }

  /**
   * Listens on a Unix socket path (the caller removes stale sockets and sets the
   * mode). Resolves once listening.
   */
  async listen (path: string): Promise<Server> {
    if (this.stopped) throw new Error('daemon server is stopped')
    // half-open: a client that ends its side still gets the replies to what it sent
    const server = createServer({ allowHalfOpen: true }, (socket) => { this.handleConnection(socket) })
    server.maxConnections = this.context.limits.maxConnections * 2 // hard cap; soft cap refuses politely
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', () => {})
    this.servers.add(server)
    return server
  }

  /** Serves one connection (from a listener, a socketpair, a bridge …). */
  handleConnection (socket: DaemonSocket): Promise<void> {
    if (this.stopped) {
      socket.destroy()
      return Promise.resolve()
    }
    this.sockets.add(socket)
    const refuse = this.sockets.size > this.context.limits.maxConnections
      ? `storeswarm: too many connections (limit ${this.context.limits.maxConnections})`
      : null
    const conn = new DaemonConnection(this.context, socket)
    this.onEvent?.({ type: 'connection', id: conn.id, dialect: this.context.dialect })
    const run = conn.run(refuse, this.onEvent).finally(() => {
      this.sockets.delete(socket)
      this.running.delete(run)
    })
    this.running.add(run)
    return run
  }

  /** Stops listening and closes every connection. */
  async stop (): Promise<void> {
    this.stopped = true
    const closing = [...this.servers].map(async (s) => await new Promise<void>((resolve) => { s.close(() => { resolve() }) }))
    this.servers.clear()
    for (const socket of this.sockets) socket.destroy()
    await Promise.allSettled([...closing, ...this.running])
  }
}

function definedOnly<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Creates a daemon-protocol server (see {@link DaemonServer}). */
export function createDaemonServer (init: DaemonServerInit): DaemonServer {
  return new DaemonServer(init)
}
