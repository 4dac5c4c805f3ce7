/**
 * Daemon-protocol client (spec §2 "Client role"): talks to a running `nix-daemon`
 * (or anything speaking the Nix dialect, storeswarm included) over a Unix socket.
 * Offers 1.38 with no features and accepts daemons ≥ 1.18; sends SetOptions like
 * every real client; reads every reply's stderr loop (activities, log lines,
 * errors). Ops run one at a time per connection; a NarFromPath stream holds the
 * connection until it has been consumed.
 *
 * Every op takes an AbortSignal; the socket has an inactivity timeout; a protocol
 * error or an abandoned NAR stream marks the connection broken.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { GATE, MAX_WORKER_VERSION, protocolVersion } from './constants.ts'
import { DaemonConnectionError, DaemonError, ProtocolError } from './errors.ts'
import { FramedSink } from './framed.ts'
import { clientHandshake } from './handshake.ts'
import type { ClientHandshakeResult } from './handshake.ts'
import { readReply, writePathInfoForTransfer, writeRequest } from './ops.ts'
import type { ClientSettings, OpArgs, OpReply } from './ops.ts'
import { expectStderrLast, readStderrLoop, toDaemonError } from './stderr.ts'
import type { StderrMessage } from './stderr.ts'
import type { UnkeyedValidPathInfo, ValidPathInfo } from './types.ts'
import type { OpName } from './constants.ts'
import { WireReader, WireWriter } from './wire.ts'
import { SocketSource } from './socket-source.ts'
import type { AbortOptions } from '../abort.ts'

/** Where `nix-daemon` listens by default (Nix `settings.nixDaemonSocketFile`). */
export const DEFAULT_NIX_DAEMON_SOCKET = '/nix/var/nix/daemon-socket/socket'

/** Oldest daemon accepted: 1.18 (QueryPathInfo valid flag, NarFromPath, AddToStoreNar; §2 "Client role"). */
export const MIN_DAEMON_VERSION = protocolVersion(1, 18)

export interface DaemonClientOptions extends AbortOptions {
  /** Daemon socket (default {@link DEFAULT_NIX_DAEMON_SOCKET}). */
  socketPath?: string
  /** Time to connect and complete the handshake (default 30 s). */
  connectTimeoutMs?: number
  /** Inactivity timeout of the connection once established (default 120 s). */
  ioTimeoutMs?: number
  /** Version offered (default 1.38, no features). */
  version?: number
  /** Send SetOptions after the handshake (default true). */
  setOptions?: boolean
  /** Limits for what the daemon may send. */
  maxStringLength?: number
  maxCollectionSize?: number
  /** Log lines / activities the daemon sends. */
  onMessage?: (msg: StderrMessage) => void
}

/** A path and its metadata as the daemon reports it. */
export type DaemonPathInfo = ValidPathInfo

/** SetOptions as a quiet client that must not make the daemon substitute or build. */
const QUIET_SETTINGS: ClientSettings = {
  keepFailed: 0,
  keepGoing: 0,
  tryFallback: 0,
  verbosity: 0,
  maxBuildJobs: 1,
  maxSilentTime: 0,
  useBuildHook: 1,
  verboseBuild: 0,
  logType: 0,
  printBuildTrace: 0,
  buildCores: 0,
  useSubstitutes: 0,
  overrides: []
}

/** One connection to a daemon. */
export class DaemonClient {
  readonly socket: Socket
  readonly reader: WireReader
  readonly handshake: ClientHandshakeResult
  private readonly onMessage?: (msg: StderrMessage) => void
  private lock: Promise<void> = Promise.resolve()
  private broken: Error | null = null
  /** Aborted when the socket closes: pending writes give up instead of waiting for 'drain'. */
  private readonly closed = new AbortController()
  /** Inactivity timeout while an op is under way (an idle connection never times out). */
  private ioTimeoutMs = 120_000

  private constructor (socket: Socket, reader: WireReader, handshake: ClientHandshakeResult, onMessage?: (msg: StderrMessage) => void) {
    this.socket = socket
    this.reader = reader
    this.handshake = handshake
    this.onMessage = onMessage
    socket.once('close', () => { this.closed.abort(new DaemonConnectionError('daemon connection closed')) })
  }

  /** `options.signal` combined with the connection's own closing. */
  private opts (options?: AbortOptions): AbortOptions {
    return { signal: options?.signal == null ? this.closed.signal : AbortSignal.any([options.signal, this.closed.signal]) }
  }

  /** Connects to a daemon socket, runs the handshake and (by default) SetOptions. */
  static async connect (options: DaemonClientOptions = {}): Promise<DaemonClient> {
    const path = options.socketPath ?? DEFAULT_NIX_DAEMON_SOCKET
    const signal = options.signal
    signal?.throwIfAborted()
    const socket = connect({ path })
    socket.on('error', () => {})
    const connectTimeout = options.connectTimeoutMs ?? 30_000
    socket.setTimeout(connectTimeout)
    const onTimeout = (): void => { socket.destroy(new DaemonConnectionError(`daemon at ${path} did not respond within ${connectTimeout} ms`)) }
    socket.on('timeout', onTimeout)
    const onAbort = (): void => { socket.destroy(signal?.reason instanceof Error ? signal.reason : new DaemonConnectionError('aborted')) }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', (err) => { reject(new DaemonConnectionError(`cannot connect to the daemon at ${path}: ${err.message}`, { cause: err })) })
        socket.once('close', () => { reject(new DaemonConnectionError(`connection to ${path} closed`)) })
      })
      const client = await DaemonClient.over(socket, options)
      socket.off('timeout', onTimeout)
      socket.on('timeout', () => { socket.destroy(new DaemonConnectionError(`daemon at ${path} stopped responding`)) })
      socket.setTimeout(0)
      client.ioTimeoutMs = options.ioTimeoutMs ?? 120_000
      return client
    } catch (err) {
      socket.destroy()
      throw err
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Runs the client side over an already connected socket. */
  static async over (socket: Socket, options: DaemonClientOptions = {}): Promise<DaemonClient> {
    const reader = new WireReader(new SocketSource(socket, { highWaterMark: 4 * 1024 * 1024 }), {
      maxStringLength: options.maxStringLength,
      maxCollectionSize: options.maxCollectionSize
    })
    const handshake = await clientHandshake(reader, socket, {
      version: options.version ?? MAX_WORKER_VERSION,
      minimumVersion: MIN_DAEMON_VERSION,
      signal: options.signal,
      onMessage: options.onMessage
    })
    const client = new DaemonClient(socket, reader, handshake, options.onMessage)
    if (options.setOptions ?? true) await client.call('SetOptions', QUIET_SETTINGS, options)
    return client
  }

  /** Negotiated protocol version. */
  get version (): number {
    return this.handshake.version
  }

  /** The daemon's Nix version (≥ 1.33), e.g. "2.8.0". */
  get daemonNixVersion (): string | null {
    return this.handshake.daemonNixVersion
  }

  /** Runs `fn` with the connection to itself. */
  private async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const previous = this.lock
    let release!: () => void
    this.lock = new Promise<void>((resolve) => { release = resolve })
    await previous
    try {
      if (this.broken != null) throw new DaemonConnectionError(`daemon connection is unusable: ${this.broken.message}`, { cause: this.broken })
      this.armTimeout(true)
      return await fn()
    } finally {
      this.armTimeout(false)
      release()
    }
  }

  /** The inactivity timeout runs only while an op is waiting on the daemon. */
  private armTimeout (on: boolean): void {
    if (this.socket.listenerCount('timeout') > 0) this.socket.setTimeout(on ? this.ioTimeoutMs : 0)
  }

  private fail (err: unknown): never {
    // A DaemonError means the daemon reported an error cleanly: the connection is fine.
    if (!(err instanceof DaemonError)) {
      this.broken ??= err instanceof Error ? err : new Error(String(err))
      this.socket.destroy()
    }
    throw err
  }

  /** Sends one op and returns its reply body. */
  async call<K extends OpName> (op: K, args: OpArgs[K], options?: AbortOptions): Promise<OpReply[K]> {
    return await this.exclusive(async () => {
      try {
        const o = this.opts(options)
        const w = new WireWriter()
        writeRequest(w, op, args, this.version)
        await w.flush(this.socket, o)
        await expectStderrLast(this.reader, this.version, { signal: o.signal, onMessage: this.onMessage })
        return await readReply(this.reader, op, this.version, o)
      } catch (err) {
        this.fail(err)
      }
    })
  }

  async isValidPath (path: string, options?: AbortOptions): Promise<boolean> {
    return await this.call('IsValidPath', { path }, options)
  }

  async queryValidPaths (paths: string[], options?: AbortOptions): Promise<string[]> {
    return await this.call('QueryValidPaths', { paths, substitute: false }, options)
  }

  async queryAllValidPaths (options?: AbortOptions): Promise<string[]> {
    return await this.call('QueryAllValidPaths', undefined, options)
  }

  async queryPathFromHashPart (hashPart: string, options?: AbortOptions): Promise<string | null> {
    return await this.call('QueryPathFromHashPart', { hashPart }, options)
  }

  /** Path info, or null when the daemon does not have the path. */
  async queryPathInfo (path: string, options?: AbortOptions): Promise<DaemonPathInfo | null> {
    const info: UnkeyedValidPathInfo | null = await this.call('QueryPathInfo', { path }, options)
    return info == null ? null : { path, ...info }
  }

  /**
   * The closure of `paths` (every path they reference, recursively), dependencies
   * before the paths that refer to them. Throws when a path is not valid.
   */
  async queryClosure (paths: Iterable<string>, options?: AbortOptions): Promise<DaemonPathInfo[]> {
    const infos = new Map<string, DaemonPathInfo>()
    const queue = [...paths]
    while (queue.length > 0) {
      const p = queue.pop() as string
      if (infos.has(p)) continue
      const info = await this.queryPathInfo(p, options)
      if (info == null) throw new DaemonError(`path '${p}' is not valid in the daemon's store`)
      infos.set(p, info)
      for (const r of info.references) if (!infos.has(r)) queue.push(r)
    }
    return topoSort(infos)
  }

  /** Path infos of everything the daemon holds, dependencies first. */
  async queryAll (options?: AbortOptions): Promise<DaemonPathInfo[]> {
    const infos = new Map<string, DaemonPathInfo>()
    for (const p of await this.queryAllValidPaths(options)) {
      const info = await this.queryPathInfo(p, options)
      if (info != null) infos.set(p, info) // may have been collected meanwhile
    }
    return topoSort(infos)
  }

  /**
   * The NAR of a path (NarFromPath, 38): exactly `narSize` bytes (from the path's
   * info, queried when not given). The connection is busy until the stream ends;
   * leaving it early breaks the connection (the NAR is unframed, §1.5).
   */
  async * narFromPath (path: string, options: AbortOptions & { narSize?: number, chunkSize?: number } = {}): AsyncGenerator<Uint8Array, void, undefined> {
    let narSize = options.narSize
    if (narSize === undefined) {
      const info = await this.queryPathInfo(path, options)
      if (info == null) throw new DaemonError(`path '${path}' is not valid in the daemon's store`)
      narSize = info.narSize
    }
    const previous = this.lock
    let release!: () => void
    this.lock = new Promise<void>((resolve) => { release = resolve })
    await previous
    let finished = false
    try {
      if (this.broken != null) throw new DaemonConnectionError(`daemon connection is unusable: ${this.broken.message}`)
      this.armTimeout(true)
      const o = this.opts(options)
      try {
        const w = new WireWriter()
        writeRequest(w, 'NarFromPath', { path }, this.version)
        await w.flush(this.socket, o)
        await expectStderrLast(this.reader, this.version, { signal: o.signal, onMessage: this.onMessage })
      } catch (err) {
        finished = err instanceof DaemonError
        this.fail(err)
      }
      yield * this.reader.readStream(narSize, options.chunkSize ?? 1024 * 1024, 'NAR', o)
      finished = true
    } finally {
      this.armTimeout(false)
      if (!finished) {
        this.broken ??= new DaemonConnectionError('a NAR stream was not read to its end')
        this.socket.destroy()
      }
      release()
    }
  }

  /**
   * Uploads paths with AddMultipleToStore (44, ≥ 1.32; older daemons get one
   * AddToStoreNar each), dependencies first. Unsigned paths need a trusted
   * connection and `dontCheckSigs` (§2 notes).
   */
  async addMultipleToStore (
    items: Iterable<{ info: ValidPathInfo, nar: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array> }> & { length?: number },
    flags: { repair?: boolean, dontCheckSigs?: boolean } = {},
    options?: AbortOptions
  ): Promise<void> {
    const list = [...items]
    if (this.version < protocolVersion(1, GATE.ADD_TO_STORE_NAR_FRAMED)) {
      throw new ProtocolError(`uploading needs a daemon ≥ 1.23 (this one speaks ${this.version >> 8}.${this.version & 0xff})`, 'ERR_UNSUPPORTED_VERSION')
    }
    if (this.version < protocolVersion(1, 32)) {
      for (const item of list) await this.addToStoreNar(item.info, item.nar(), flags, options)
      return
    }
    await this.exclusive(async () => {
      try {
        options = this.opts(options)
        const w = new WireWriter()
        writeRequest(w, 'AddMultipleToStore', { repair: flags.repair ?? false, dontCheckSigs: flags.dontCheckSigs ?? false }, this.version)
        await w.flush(this.socket, options)
        // the daemon may report an error while we are still sending; read its stderr concurrently
        const stderr = readStderrLoop(this.reader, this.version, { signal: options.signal, onMessage: this.onMessage })
        let early: unknown = null
        stderr.then((e) => { early = e ?? early }, (e) => { early = e })
        const sink = new FramedSink(this.socket)
        await sink.write(new WireWriter().writeU64(list.length).take(), options)
        for (const item of list) {
          if (early != null) break
          const head = new WireWriter()
          writePathInfoForTransfer(head, item.info)
          await sink.write(head.take(), options)
          for await (const piece of item.nar()) await sink.write(piece, options)
        }
        await sink.end(options)
        const error = await stderr
        if (error != null) throw toDaemonError(error)
      } catch (err) {
        this.fail(err)
      }
    })
  }

  /** Uploads one path with AddToStoreNar (39, framed: ≥ 1.23). */
  async addToStoreNar (
    info: ValidPathInfo, nar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    flags: { repair?: boolean, dontCheckSigs?: boolean } = {}, options?: AbortOptions
  ): Promise<void> {
    await this.exclusive(async () => {
      try {
        options = this.opts(options)
        const w = new WireWriter()
        writeRequest(w, 'AddToStoreNar', { info, repair: flags.repair ?? false, dontCheckSigs: flags.dontCheckSigs ?? false }, this.version)
        await w.flush(this.socket, options)
        const stderr = readStderrLoop(this.reader, this.version, { signal: options.signal, onMessage: this.onMessage })
        let early: unknown = null
        stderr.then((e) => { early = e ?? early }, (e) => { early = e })
        const sink = new FramedSink(this.socket)
        for await (const piece of nar) {
          if (early != null) break
          await sink.write(piece, options)
        }
        await sink.end(options)
        const error = await stderr
        if (error != null) throw toDaemonError(error)
      } catch (err) {
        this.fail(err)
      }
    })
  }

  /** Closes the connection (the daemon sees EOF between ops). */
  async close (): Promise<void> {
    await this.exclusive(async () => {
      await new Promise<void>((resolve) => {
        if (this.socket.destroyed) { resolve(); return }
        this.socket.once('close', () => { resolve() })
        this.socket.end()
        setTimeout(() => { this.socket.destroy() }, 2_000).unref()
      })
    }).catch(() => {})
    this.broken ??= new DaemonConnectionError('connection closed')
  }
}

/** Orders path infos so every path comes after the paths it references (ignoring self-references). */
export function topoSort (infos: ReadonlyMap<string, DaemonPathInfo>): DaemonPathInfo[] {
  const out: DaemonPathInfo[] = []
  const state = new Map<string, 1 | 2>()
  const keys = [...infos.keys()].sort()
  for (const root of keys) {
    if (state.has(root)) continue
    // iterative DFS, post-order
    const stack: Array<{ path: string, refs: string[], i: number }> = []
    const enter = (p: string): void => {
      state.set(p, 1)
      const info = infos.get(p) as DaemonPathInfo
      stack.push({ path: p, refs: info.references.filter((r) => r !== p && infos.has(r)).sort(), i: 0 })
    }
    enter(root)
    while (stack.length > 0) {
      const top = stack[stack.length - 1]
      if (top.i < top.refs.length) {
        const next = top.refs[top.i++]
        if (!state.has(next)) enter(next) // state 1 = cycle through a non-self reference: ignore the back edge
      } else {
        stack.pop()
        state.set(top.path, 2)
        out.push(infos.get(top.path) as DaemonPathInfo)
      }
    }
  }
  return out
}

