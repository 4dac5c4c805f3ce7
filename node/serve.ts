/**
 * `storeswarm serve`: the node's main job on embedded defaults — the castore in the data
 * directory, a Nix binary cache on 127.0.0.1:37515, a Guix one only when `--http-guix` is
 * given, keys generated on first start, no network access needed. It logs where it listens
 * and the key to trust, and stops cleanly on SIGINT/SIGTERM (or when `signal` aborts).
 */
import { join } from 'node:path'
import { hostname } from 'node:os'
import { readFile } from 'node:fs/promises'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import { CompressedNarCache, createBinaryCache, FsLogStore, DEFAULT_COMPRESSED_CACHE_BYTES, MAX_NAR_UPLOAD_BYTES } from '../src/http/index.ts'
import type { BinaryCache, SigningMode, RequestEvent } from '../src/http/index.ts'
import { GUIX_STORE_DIR, NIX_STORE_DIR } from '../src/nix/constants.ts'
import { loadOrCreateKeys } from './keys.ts'
import type { Castore } from '../src/castore/index.ts'
import { ErisPathIndex } from '../src/eris/index.ts'
import type { PublicKey } from '../src/nix/index.ts'
import { resolveDaemonSocket, startDaemonSocket } from './daemon.ts'
import { startP2P } from './p2p.ts'
import type { P2PHandle, P2POptions } from './p2p.ts'
import { withPeerSubstitution } from '../src/p2p/index.ts'
import type { DaemonSocketHandle } from './daemon.ts'
import { systemDecompressors } from './decompress.ts'
import { startControlServer } from './control.ts'
import type { ControlServer } from './control.ts'
import { registerVerify } from './verify.ts'
import { startGc, registerGcControl } from './gc.ts'
import { registerWatchControl } from './watch.ts'
import type { GarbageCollector } from '../src/castore/index.ts'
import type { UpstreamConfig } from '../src/upstream/types.ts'
import { createStatusRoutes } from '../src/http/status-routes.ts'
import { createNodeMetrics } from './metrics.ts'
import type { NodeMetrics } from './metrics.ts'
import { createUpstreamSubstituter } from '../src/upstream/index.ts'
import type { UpstreamSubstituter } from '../src/upstream/index.ts'
import { createLogger } from './log.ts'

export const DEFAULT_HTTP = '127.0.0.1:37515'

export interface ServeOptions {
  dataDir: string
  /** HOST:PORT of the Nix listener (default 127.0.0.1:37515) */
  http?: string
  /** HOST:PORT of the Guix listener (none by default) */
  httpGuix?: string
  priority?: number
  compression?: 'none' | 'zstd'
  sign?: SigningMode
  keyName?: string
  nixSecretKeyFile?: string
  allowUploads?: boolean
  uploadToken?: string
  loopbackUploads?: boolean
  maxUploadBytes?: number
  compressedCacheBytes?: number
  verifyNars?: boolean
  logRequests?: boolean
  /** show the status page `/` and `/status.json` to non-loopback clients too (default false) */
  statusRemote?: boolean
  /**
   * Nix daemon protocol socket: a path, `false` for none, or undefined for the default
   * (`resolveDaemonSocket()`; skipped with a warning when that path is in use)
   */
  daemonSocket?: string | false
  /** a Guix-dialect daemon socket (none by default) */
  guixDaemonSocket?: string
  /** keys whose signatures make daemon uploads valid (default cache.nixos.org-1) */
  trustedPublicKeys?: PublicKey[]
  /** every client of the daemon socket is a trusted user */
  trustClients?: boolean
  /** compute ERIS capabilities of paths that have none, in the background (default true) */
  eris?: boolean
  /** the peer-to-peer swarm (undefined: none; `disabled` in it: --no-p2p) */
  p2p?: Omit<P2POptions, 'dataDir'>
  /** upstream binary caches tried after local data and peers (pull-through, src/upstream) */
  upstreams?: UpstreamConfig[]
  /** garbage collection: keep the store under `maxSize` bytes (LRU, unpinned paths only) */
  gc?: { maxSize?: number, intervalMs?: number }
  /** log line format (default text) */
  logFormat?: 'text' | 'json'
  log?: (line: string) => void
  /** stop when aborted (the CLI wires SIGINT/SIGTERM to it) */
  signal?: AbortSignal
}

/** Parses `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT` (host defaults to 127.0.0.1). */
export function parseListen (text: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*))?:?(\d{1,5})$/.exec(text)
  if (m === null) throw new Error(`bad listen address ${JSON.stringify(text)} (use HOST:PORT)`)
  const host = m[1] ?? (m[2] === undefined || m[2] === '' ? '127.0.0.1' : m[2])
  const port = Number(m[3])
  if (port > 65535) throw new Error(`bad port in ${JSON.stringify(text)}`)
  return { host, port }
}

/** Reads an upload token from a file (first line). */
export async function readTokenFile (file: string): Promise<string> {
  const token = (await readFile(file, 'utf8')).split('\n')[0].trim()
  if (token === '') throw new Error(`${file} holds no token`)
  return token
}

export interface RunningNode {
  nix: BinaryCache
  guix?: BinaryCache
  daemon?: DaemonSocketHandle
  guixDaemon?: DaemonSocketHandle
  p2p?: P2PHandle
  /** `<data-dir>/control.sock`: features register the commands the CLI sends a running node */
  control: ControlServer
  /** metrics and status (`/metrics`, `/status.json`, `/`, `storeswarm status`) */
  metrics: NodeMetrics
  /** the upstream caches (pull-through), when any is configured: `stats()`, `fetched` events */
  upstream?: UpstreamSubstituter
  /** garbage collection and pins: `stats()` (store size, pins, last run), `run()` */
  gc: GarbageCollector
  stop: () => Promise<void>
}

/**
 * Gives every valid path without an ERIS capability one, one path at a time, until aborted.
 * Runs after start and whenever `poke()` is called (after uploads and imports).
 */
function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) { resolve(); return }
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
  })
}

export function startErisBackfill (castore: Castore, signal: AbortSignal, log: (line: string) => void): { poke: () => void, done: Promise<void> } {
  const index = new ErisPathIndex(castore)
  let again = true
  let wake: (() => void) | undefined
  const poke = (): void => { again = true; wake?.() }
  // uploads (HTTP, daemon) and peers add paths: look again every minute
  const timer = setInterval(poke, 60_000)
  timer.unref()
  signal.addEventListener('abort', () => clearInterval(timer), { once: true })
  const done = (async () => {
    while (!signal.aborted) {
      if (!again) await new Promise<void>(resolve => { wake = resolve; signal.addEventListener('abort', () => resolve(), { once: true }) })
      again = false
      for await (const info of castore.pathInfos.list({ signal })) {
        if (signal.aborted) return
        if (info.eris !== undefined) continue
        const started = performance.now()
        try {
          await index.encodePath(info, { signal })
        } catch (err: any) {
          if (!signal.aborted) log(`storeswarm: ERIS of ${info.storePath} failed: ${err.message}`)
        }
        // a background job: use at most half of one core, so serving never waits on it
        await sleep(performance.now() - started, signal)
      }
    }
  })().catch(() => {})
  return { poke, done }
}

export async function startNode (options: ServeOptions): Promise<RunningNode> {
  const log = createLogger({ format: options.logFormat, write: options.log })
  await loadKernel()
  const keys = await loadOrCreateKeys(options.dataDir, { keyName: options.keyName, nixSecretKeyFile: options.nixSecretKeyFile })
  for (const file of keys.created) log(`storeswarm: generated ${file}`)
  const castore = await openCastore({ dataDir: options.dataDir })
  const metrics = createNodeMetrics({ dataDir: options.dataDir, castore, keys: { nixPublic: keys.nixPublic, guixPublic: keys.guixPublic } })
  let p2p: P2PHandle | undefined
  try {
    p2p = options.p2p === undefined ? undefined : await startP2P(castore, { ...options.p2p, swarm: metrics.swarmInit(options.p2p.swarm), dataDir: options.dataDir, log })
  } catch (err) {
    await castore.close()
    throw err
  }
  // on a miss, the facades ask the swarm (within a short budget) before answering 404
  const served = p2p === undefined ? castore : withPeerSubstitution(castore, metrics.wrapSubstitute(p2p.substitute), { budgetMs: options.p2p?.substituteBudgetMs })
  // then the upstream caches (pull-through, src/upstream): each listener asks those of its store dir
  const p2pHandle = p2p
  const upstream = options.upstreams === undefined || options.upstreams.length === 0
    ? undefined
    : createUpstreamSubstituter({
      upstreams: options.upstreams,
      castore,
      spoolDir: join(options.dataDir, 'tmp', 'upstream'),
      decompressors: systemDecompressors(),
      announce: p2pHandle === undefined ? undefined : async (paths) => await p2pHandle.swarm.announce(paths),
      log
    })
  try {
    await upstream?.start()
  } catch (err) {
    await p2p?.close()
    await castore.close()
    throw err
  }
  const servedNix = upstream?.storeDirs.includes(NIX_STORE_DIR) === true ? upstream.view(served, NIX_STORE_DIR) : served
  const servedGuix = upstream?.storeDirs.includes(GUIX_STORE_DIR) === true ? upstream.view(served, GUIX_STORE_DIR) : served
  const compressed = await CompressedNarCache.open({ dir: join(options.dataDir, 'cache', 'nar'), maxBytes: options.compressedCacheBytes ?? DEFAULT_COMPRESSED_CACHE_BYTES })
  const logs = new FsLogStore(join(options.dataDir, 'logs'))
  const onRequest = options.logRequests === true
    ? (e: RequestEvent) => log.format === 'json'
        ? log.event('info', 'request', { remote: e.remoteAddress, method: e.method, url: e.url, status: e.status, length: e.length, range: e.range })
        : log(`${e.remoteAddress ?? '-'} ${e.method} ${e.url} ${e.status} ${e.length}${e.range !== undefined ? ` range=${e.range}` : ''}`)
    : undefined
  const onError = (err: unknown): void => { log(`storeswarm: error: ${(err as Error)?.stack ?? String(err)}`) }
  const signing = { mode: options.sign ?? 'all', nixKey: keys.nix, guixKey: keys.guix, hostname: hostname() }
  const nix = createBinaryCache({
    castore: servedNix,
    pendingNar: upstream?.pendingNar,
    dialect: 'nix',
    storeDir: NIX_STORE_DIR,
    priority: options.priority,
    compression: options.compression ?? 'none',
    signing,
    compressed,
    logs,
    decompressors: systemDecompressors(),
    verifyNars: options.verifyNars,
    upload: {
      enabled: options.allowUploads === true,
      token: options.uploadToken,
      allowLoopback: options.loopbackUploads !== false,
      maxNarBytes: options.maxUploadBytes ?? MAX_NAR_UPLOAD_BYTES
    },
    listen: parseListen(options.http ?? DEFAULT_HTTP),
    onRequest: (e) => { metrics.httpRequest('nix', e); onRequest?.(e) },
    extraRoutes: createStatusRoutes({ metrics: () => metrics.expose(), snapshot: async () => await metrics.snapshot(), remoteStatus: options.statusRemote === true }),
    onError
  })
  const guix = options.httpGuix === undefined
    ? undefined
    : createBinaryCache({
      castore: servedGuix,
      pendingNar: upstream?.pendingNar,
      dialect: 'guix',
      storeDir: GUIX_STORE_DIR,
      signing,
      compressed,
      logs,
      verifyNars: options.verifyNars,
      listen: parseListen(options.httpGuix),
      onRequest: (e) => { metrics.httpRequest('guix', e); onRequest?.(e) },
      onError
    })
  let daemon: DaemonSocketHandle | undefined
  let guixDaemon: DaemonSocketHandle | undefined
  const daemonOptions = { trustedPublicKeys: options.trustedPublicKeys, trustClients: options.trustClients, onEvent: metrics.daemonEvent.bind(metrics), onNarServed: metrics.daemonNarServed.bind(metrics) }
  try {
    await nix.start()
    await guix?.start()
    if (options.daemonSocket !== false) {
      const path = resolveDaemonSocket(options.daemonSocket)
      try {
        daemon = await startDaemonSocket(castore, { path, ...daemonOptions })
      } catch (err: any) {
        // the default socket is a convenience: another node may hold it; an explicit one must work
        if (options.daemonSocket !== undefined) throw err
        log(`storeswarm: no daemon socket: ${err.message} (use --daemon-socket PATH)`)
      }
    }
    if (options.guixDaemonSocket !== undefined) {
      guixDaemon = await startDaemonSocket(castore, { path: options.guixDaemonSocket, dialect: 'guix', ...daemonOptions })
    }
  } catch (err) {
    await nix.stop()
    await guix?.stop()
    await daemon?.close()
    await upstream?.stop()
    await p2p?.close()
    await castore.close()
    throw err
  }
  let control: ControlServer
  try {
    control = await startControlServer(options.dataDir)
  } catch (err) {
    await Promise.all([nix.stop(), guix?.stop(), daemon?.close(), guixDaemon?.close()])
    await upstream?.stop()
    await p2p?.close()
    await castore.close()
    throw err
  }
  registerVerify(control, castore, options.dataDir)
  control.handle('status', async () => await metrics.snapshot())
  // GC: background passes when a limit is set; evicted paths leave the facades' caches at once
  const gc = startGc(castore, {
    maxSize: options.gc?.maxSize,
    intervalMs: options.gc?.intervalMs,
    log,
    onEvicted: (infos) => {
      for (const { hashPart, storePath } of infos) {
        nix.invalidate(hashPart)
        guix?.invalidate(hashPart)
        daemon?.server.context.pathInfoCache.delete(storePath)
        guixDaemon?.server.context.pathInfoCache.delete(storePath)
      }
      // their compressed NARs too (a download in flight keeps its open file)
      void compressed.forget(infos.map(i => i.hashPart)).catch(() => {})
    }
  })
  registerGcControl(control, gc)
  // `storeswarm watch` imports through the node when it owns the store
  registerWatchControl(control, castore)
  const background = new AbortController()
  const eris = options.eris === false ? undefined : startErisBackfill(castore, background.signal, log)
  const uploads = options.allowUploads !== true
    ? 'off'
    : [options.loopbackUploads !== false ? 'loopback clients' : undefined, options.uploadToken !== undefined ? 'token holders' : undefined].filter(Boolean).join(' and ') || 'nobody (no token, loopback disabled)'
  if (daemon !== undefined) log(`storeswarm: Nix daemon protocol on unix://${daemon.path}`)
  if (guixDaemon !== undefined) log(`storeswarm: Guix daemon protocol on ${guixDaemon.path}`)
  log(`storeswarm: Nix binary cache on ${nix.url ?? '?'} (StoreDir ${NIX_STORE_DIR}, Priority ${options.priority ?? 30}, NARs ${options.compression ?? 'none'}, uploads: ${uploads})`)
  if (guix !== undefined) {
    log(`storeswarm: Guix substitutes on ${guix.url ?? '?'} (StoreDir ${GUIX_STORE_DIR}); authorize with: storeswarm keys show --guix | guix archive --authorize`)
  }
  if (options.upstreams !== undefined && options.upstreams.length > 0) {
    log(`storeswarm: upstream caches, after local data and peers: ${options.upstreams.map(u => `${u.url}${u.storeDir === GUIX_STORE_DIR ? ' (Guix)' : ''}`).join(', ')}`)
  }
  // last: the line scripts wait for
  log(`storeswarm: trusted-public-keys = ${keys.nixPublic}`)
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    background.abort()
    metrics.stop()
    await eris?.done
    await gc.stop()
    await control.close()
    await Promise.all([nix.stop(), guix?.stop(), daemon?.close(), guixDaemon?.close()])
    await upstream?.stop()
    await p2p?.close()
    compressed.close()
    await castore.close()
  }
  const node: RunningNode = { nix, guix, daemon, guixDaemon, p2p, control, upstream, metrics, gc, stop }
  metrics.attach(node)
  return node
}

/** Runs until `options.signal` aborts; resolves once everything is closed. */
export async function runServe (options: ServeOptions): Promise<void> {
  const node = await startNode(options)
  const log = createLogger({ format: options.logFormat, write: options.log })
  const signal = options.signal
  if (signal !== undefined && !signal.aborted) {
    await new Promise<void>(resolve => signal.addEventListener('abort', () => resolve(), { once: true }))
  }
  log('storeswarm: stopping')
  await node.stop()
  log('storeswarm: stopped')
}
