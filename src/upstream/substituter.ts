/**
 * Upstream fallback (pull-through cache): when neither the castore nor peers have a path, the
 * node asks its upstream binary caches, in order, and serves what they have — verified, stored
 * and announced to the swarm on the way through.
 *
 * Never make Nix wait on a dead upstream (user-asks §1 item 1):
 * - each upstream has its own narinfo timeout and a circuit breaker (breaker.ts) with a
 *   background `/nix-cache-info` probe; `open` upstreams are skipped at once;
 * - an upstream whose health is not known yet (at start) is waited on for at most
 *   `unknownBudgetMs`; once a request gave up on it, every request skips it until it proves
 *   healthy — so a blackholed upstream costs at most one budget, not one per request; a
 *   timeout of a healthy upstream puts it back to "unknown" (and probes it) the same way;
 * - all usable upstreams are asked at once; the first in configuration order that has the path
 *   wins (the others are cancelled), so the wait is the slowest needed answer, not the sum;
 * - any trouble (timeout, refused, 5xx, bad signature) makes the path "not found": the facade
 *   answers 404 and Nix moves on to its next substituter. "Every upstream answered 404" is
 *   remembered for `negativeTtlMs`; concurrent requests for a path share one upstream request.
 *
 * Serving (the choice): the narinfo is answered as soon as the upstream narinfo verifies
 * against the upstream's keys (Nix fingerprint signatures; Guix signatures for `/gnu/store`);
 * the view returns a provisional PathInfo (placeholder castore root) that the HTTP facade
 * renders as usual. The NAR download starts when a client first asks for the NAR (a mass
 * narinfo query never downloads anything) and is streamed to the client while it is ingested:
 * the decompressed bytes go to a spool file (spool.ts) and then into `castore.importNar`, and
 * clients read the spool at their own pace. FileSize/FileHash (when given) are checked on the
 * compressed bytes, NarHash/NarSize by the castore; a client never gets the NAR's last byte
 * before the castore committed it, so a NAR failing verification ends every client's response
 * in an error (never a clean 200 of bad bytes), is not stored, and counts as a failure of its
 * upstream. Range requests and compressed (zstd) NARs of a provisional path wait for the commit
 * and are then served from the castore. Costs: the NAR is on disk twice while it arrives.
 * A failed pull is tried again by the next NAR request while its upstream is usable (Nix
 * retries), and the path is looked up afresh after `positiveTtlMs` or a failure.
 */
import { mkdir, readdir, rm } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { AbortOptions } from '../abort.ts'
import type { Castore, PathInfo, CastoreNode } from '../castore/index.ts'
import { toHex } from '../castore/index.ts'
import { withMissFallback } from '../castore/fallback.ts'
import { openBinaryCacheSource } from '../http/cache-source.ts'
import type { BinaryCacheSource } from '../http/cache-source.ts'
import type { PendingNar } from '../http/service.ts'
import { builtinDecompressors, decompress } from '../http/decompress.ts'
import type { Decompressors } from '../http/decompress.ts'
import { NIX_STORE_DIR } from '../nix/constants.ts'
import { Breaker } from './breaker.ts'
import {
  DEFAULT_COOL_DOWN_MS, DEFAULT_FAILURE_THRESHOLD, DEFAULT_MAX_COOL_DOWN_MS, DEFAULT_NAR_IDLE_TIMEOUT_MS,
  DEFAULT_NEGATIVE_TTL_MS, DEFAULT_POSITIVE_TTL_MS, DEFAULT_PROBE_INTERVAL_MS, DEFAULT_PROBE_TIMEOUT_MS,
  DEFAULT_UNKNOWN_BUDGET_MS, DEFAULT_UPSTREAM_TIMEOUT_MS, MAX_REMEMBERED_PATHS, NAR_READ_AHEAD
} from './constants.ts'
import { PullFailedError, UpstreamError } from './errors.ts'
import { parseUpstreamKeys, verifyUpstreamNarInfo } from './narinfo.ts'
import type { UpstreamKeys, UpstreamNarInfo } from './narinfo.ts'
import { Spool } from './spool.ts'
import { readAhead } from './read-ahead.ts'
import type { FetchedDetail, UpstreamConfig, UpstreamStats } from './types.ts'

/** What the HTTP facade asks for a provisional PathInfo (its `pendingNar` hook). */
export type { PendingNar }

export interface UpstreamSubstituterInit {
  upstreams: UpstreamConfig[]
  /** where verified paths are stored (the real castore, not a view) */
  castore: Castore
  /** directory for NARs being pulled (created; leftovers of a crash are removed at start) */
  spoolDir: string
  /** decoders beyond Node's own (xz, bzip2, … — node/decompress.ts) */
  decompressors?: Decompressors
  /** tell the swarm about a path pulled through */
  announce?: (storePaths: string[]) => unknown
  fetch?: typeof globalThis.fetch
  unknownBudgetMs?: number
  probeTimeoutMs?: number
  probeIntervalMs?: number
  failureThreshold?: number
  coolDownMs?: number
  maxCoolDownMs?: number
  negativeTtlMs?: number
  positiveTtlMs?: number
  narIdleTimeoutMs?: number
  log?: (line: string) => void
}

interface Upstream {
  url: string
  storeDir: string
  timeoutMs: number
  trust: UpstreamKeys
  narinfos: BinaryCacheSource
  nars: BinaryCacheSource
  breaker: Breaker
  stats: Omit<UpstreamStats, 'state' | 'url'>
}

interface Pull {
  spool: Promise<Spool>
  done: Promise<PathInfo>
}

interface Entry {
  key: string
  upstream: Upstream
  narinfo: UpstreamNarInfo
  info: PathInfo
  expires: number
  pull?: Pull
  /** the last pull failed: the next NAR request tries again while the upstream is usable */
  pullFailed?: boolean
  /** the PathInfo stored by a successful pull */
  committed?: PathInfo
}

type Answer = { kind: 'hit', info: UpstreamNarInfo } | { kind: 'miss' } | { kind: 'skip' }

/** castore root of a provisional PathInfo: never rendered (the facade asks `pendingNar` first) */
const PLACEHOLDER_NODE: CastoreNode = { type: 'directory', digest: new Uint8Array(32), size: 0 }

function isTimeout (err: any, signal: AbortSignal): boolean {
  if (signal.aborted) return true
  const text = `${err?.name ?? ''} ${err?.message ?? ''} ${err?.cause?.name ?? ''}`
  return /TimeoutError|timed? ?out|no data for|no response within/i.test(text)
}

function sleep (ms: number): Promise<undefined> {
  return new Promise(resolve => { const t = setTimeout(() => resolve(undefined), ms); t.unref() })
}

async function raceSignal<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return await promise
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}

export class UpstreamSubstituter extends EventTarget {
  private readonly init: UpstreamSubstituterInit
  private readonly upstreams: Upstream[]
  private readonly castore: Castore
  private readonly decodable: (compression: string) => boolean
  private readonly negative = new Map<string, number>()
  private readonly inflight = new Map<string, Promise<PathInfo | undefined>>()
  private readonly known = new Map<string, Entry>()
  private readonly provisional = new WeakMap<PathInfo, Entry>()
  private readonly pulls = new Set<Promise<unknown>>()
  private readonly controller = new AbortController()
  private started = false

  constructor (init: UpstreamSubstituterInit) {
    super()
    this.init = init
    this.castore = init.castore
    const decoders = { ...builtinDecompressors(), ...(init.decompressors ?? {}) }
    this.decodable = (c) => Object.hasOwn(decoders, c)
    this.upstreams = init.upstreams.map(config => {
      const url = config.url.replace(/\/+$/, '')
      const storeDir = config.storeDir ?? NIX_STORE_DIR
      const timeoutMs = config.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS
      const probeTimeout = Math.min(timeoutMs, init.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS)
      const narinfos = openBinaryCacheSource(url, { headersTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs, maxSmallFile: 4 * 1024 * 1024, fetch: init.fetch })
      const nars = openBinaryCacheSource(url, { headersTimeoutMs: timeoutMs, idleTimeoutMs: init.narIdleTimeoutMs ?? DEFAULT_NAR_IDLE_TIMEOUT_MS, fetch: init.fetch })
      const stats = { requests: 0, hits: 0, misses: 0, failures: 0, timeouts: 0, bytesFetched: 0 } as Upstream['stats']
      const upstream: Upstream = {
        url,
        storeDir,
        timeoutMs,
        trust: parseUpstreamKeys(storeDir, config.publicKeys),
        narinfos,
        nars,
        stats,
        breaker: new Breaker({
          threshold: init.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD,
          coolDownMs: init.coolDownMs ?? DEFAULT_COOL_DOWN_MS,
          maxCoolDownMs: init.maxCoolDownMs ?? DEFAULT_MAX_COOL_DOWN_MS,
          probeIntervalMs: init.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
          onChange: (from, to) => {
            if (to === 'open' && from !== 'half-open') init.log?.(`storeswarm: upstream ${url} is not answering, skipped for now${stats.lastError !== undefined ? ` (${stats.lastError})` : ''}`)
            if (to === 'closed' && from !== 'unknown') init.log?.(`storeswarm: upstream ${url} is answering again`)
          },
          probe: async () => {
            const signal = AbortSignal.any([AbortSignal.timeout(probeTimeout), this.controller.signal])
            try {
              const text = await narinfos.get('nix-cache-info', { signal })
              if (text === undefined) throw new UpstreamError('no /nix-cache-info')
              return true
            } catch (err: any) {
              if (this.controller.signal.aborted) return false
              if (isTimeout(err, signal)) stats.timeouts++
              else stats.failures++
              stats.lastError = `probe: ${err?.message ?? String(err)}`
              return false
            }
          }
        })
      }
      return upstream
    })
  }

  /** Store directories some upstream serves. */
  get storeDirs (): string[] {
    return [...new Set(this.upstreams.map(u => u.storeDir))]
  }

  async start (options?: AbortOptions): Promise<void> {
    if (this.started) return
    this.started = true
    await mkdir(this.init.spoolDir, { recursive: true })
    for (const name of await readdir(this.init.spoolDir)) {
      if (/^pull-[0-9a-f]+\.nar$/.test(name)) await rm(join(this.init.spoolDir, name), { force: true })
    }
    options?.signal?.throwIfAborted()
    for (const u of this.upstreams) u.breaker.start()
  }

  /** Stops probes and pulls (a pull cut short stores nothing). */
  async stop (): Promise<void> {
    this.controller.abort()
    for (const u of this.upstreams) u.breaker.stop()
    await Promise.allSettled([...this.pulls])
  }

  stats (): { upstreams: UpstreamStats[] } {
    return {
      upstreams: this.upstreams.map(u => ({ url: u.url, state: u.breaker.state, ...u.stats }))
    }
  }

  /**
   * A castore whose `getPathInfo` falls back to the upstreams of `storeDir` when `inner` (the
   * castore, or its peer-substituting view) has nothing. Give the facade `pendingNar` too.
   */
  view (inner: Castore, storeDir: string = NIX_STORE_DIR): Castore {
    return withMissFallback(inner, async (hashPart, pathOrHashPart, options) => {
      if (pathOrHashPart.startsWith('/') && !pathOrHashPart.startsWith(`${storeDir}/`)) return undefined
      const info = await this.lookup(hashPart, storeDir, options)
      if (info !== undefined && pathOrHashPart.startsWith('/') && info.storePath !== pathOrHashPart) return undefined
      return info
    })
  }

  /** The hook for the HTTP facade: how to serve the NAR of a provisional PathInfo. */
  readonly pendingNar = (info: PathInfo): PendingNar | undefined => {
    const entry = this.provisional.get(info)
    if (entry === undefined) return undefined
    return {
      stream: (options) => this.streamNar(entry, options),
      stored: async (options) => await raceSignal(this.ensurePull(entry).done, options.signal),
      committed: () => entry.committed
    }
  }

  /**
   * The PathInfo of `hashPart` from the upstreams of `storeDir`: provisional (its NAR is
   * fetched when first asked for) or undefined. Never throws for upstream trouble.
   */
  async lookup (hashPart: string, storeDir: string, options?: AbortOptions): Promise<PathInfo | undefined> {
    const key = `${storeDir}/${hashPart}`
    const now = Date.now()
    const entry = this.known.get(key)
    if (entry !== undefined && entry.expires > now) return entry.info
    const missed = this.negative.get(key)
    if (missed !== undefined && missed > now) return undefined
    let flight = this.inflight.get(key)
    if (flight === undefined) {
      flight = this.resolve(hashPart, storeDir, key).finally(() => this.inflight.delete(key))
      this.inflight.set(key, flight)
    }
    return await raceSignal(flight, options?.signal)
  }

  private async resolve (hashPart: string, storeDir: string, key: string): Promise<PathInfo | undefined> {
    const candidates = this.upstreams.filter(u => u.storeDir === storeDir)
    if (candidates.length === 0 || this.controller.signal.aborted) return undefined
    const cancel = new AbortController()
    const signal = AbortSignal.any([cancel.signal, this.controller.signal])
    const asked = candidates.map(u => u.breaker.usable ? this.askNarInfo(u, hashPart, signal, key) : undefined)
    let allMissed = true
    try {
      for (const [i, answer] of asked.entries()) {
        if (answer === undefined) { allMissed = false; continue }
        const a = await answer
        if (a.kind === 'hit') return this.remember(candidates[i], a.info, key).info
        if (a.kind === 'skip') allMissed = false
      }
    } finally {
      cancel.abort()
    }
    if (allMissed) {
      if (this.negative.size >= MAX_REMEMBERED_PATHS) this.negative.clear()
      this.negative.set(key, Date.now() + (this.init.negativeTtlMs ?? DEFAULT_NEGATIVE_TTL_MS))
    }
    return undefined
  }

  /** One narinfo request; resolves (never rejects) with what the upstream said. */
  private async askNarInfo (u: Upstream, hashPart: string, cancel: AbortSignal, key: string): Promise<Answer> {
    const budgeted = u.breaker.state === 'unknown'
    const timeout = AbortSignal.timeout(u.timeoutMs)
    const signal = AbortSignal.any([timeout, cancel])
    u.stats.requests++
    const work = (async (): Promise<Answer> => {
      try {
        const text = await u.narinfos.get(`${hashPart}.narinfo`, { signal })
        if (text === undefined) {
          u.stats.misses++
          u.breaker.succeeded()
          return { kind: 'miss' }
        }
        const info = verifyUpstreamNarInfo(text, hashPart, u.storeDir, u.trust, this.decodable)
        u.stats.hits++
        u.breaker.succeeded()
        return { kind: 'hit', info }
      } catch (err: any) {
        if (cancel.aborted && !timeout.aborted) return { kind: 'skip' }
        const timedOut = isTimeout(err, timeout)
        if (timedOut) {
          u.stats.timeouts++
          u.stats.lastError = `${hashPart}.narinfo: no answer within ${u.timeoutMs} ms`
        } else {
          u.stats.failures++
          u.stats.lastError = `${hashPart}.narinfo: ${err?.message ?? String(err)}`
        }
        u.breaker.failed(timedOut)
        return { kind: 'skip' }
      }
    })()
    if (!budgeted) return await work
    const budget = this.init.unknownBudgetMs ?? DEFAULT_UNKNOWN_BUDGET_MS
    const first = await Promise.race([work, sleep(budget)])
    if (first !== undefined) return first
    // health unknown and slow: give up on it for now; every request skips it until it proves healthy
    if (u.breaker.state === 'unknown') u.breaker.suspect = true
    void work.then(a => { if (a.kind === 'hit' && !this.known.has(key)) this.remember(u, a.info, key) })
    return { kind: 'skip' }
  }

  private remember (u: Upstream, narinfo: UpstreamNarInfo, key: string): Entry {
    const existing = this.known.get(key)
    if (existing !== undefined && existing.expires > Date.now()) return existing
    const info: PathInfo = {
      storePath: narinfo.storePath,
      node: PLACEHOLDER_NODE,
      references: [...narinfo.references].sort(),
      narHash: narinfo.narHash,
      narSize: narinfo.narSize,
      signatures: [...narinfo.signatures],
      registrationTime: Date.now(),
      ...(narinfo.deriver !== undefined ? { deriver: narinfo.deriver } : {}),
      ...(narinfo.ca !== undefined ? { ca: narinfo.ca } : {})
    }
    const entry: Entry = { key, upstream: u, narinfo, info, expires: Date.now() + (this.init.positiveTtlMs ?? DEFAULT_POSITIVE_TTL_MS) }
    if (this.known.size >= MAX_REMEMBERED_PATHS) this.known.clear()
    this.known.set(key, entry)
    this.provisional.set(info, entry)
    return entry
  }

  private async * streamNar (entry: Entry, options: AbortOptions): AsyncGenerator<Uint8Array> {
    const pull = this.ensurePull(entry)
    const spool = await raceSignal(pull.spool, options.signal)
    const reader = await spool.openReader()
    if (reader === undefined) {
      // over already: serve what was stored (or report why not)
      const stored = await raceSignal(pull.done, options.signal)
      yield * this.castore.render(stored.node, options)
      return
    }
    yield * spool.read(reader, options)
  }

  private ensurePull (entry: Entry): Pull {
    if (entry.pull !== undefined && (entry.pullFailed !== true || !entry.upstream.breaker.usable)) return entry.pull
    entry.pullFailed = false
    const spool = Spool.create(this.init.spoolDir, entry.narinfo.narSize)
    const done = this.runPull(entry, spool)
    const pull: Pull = { spool, done }
    spool.catch(() => {})
    done.catch(() => { entry.pullFailed = true })
    entry.pull = pull
    const tracked = done.catch(() => {}).finally(() => this.pulls.delete(tracked))
    this.pulls.add(tracked)
    return pull
  }

  private async runPull (entry: Entry, spoolPromise: Promise<Spool>): Promise<PathInfo> {
    const { upstream: u, narinfo } = entry
    const signal = this.controller.signal
    const started = performance.now()
    let bytes = 0
    let spool: Spool | undefined
    try {
      spool = await spoolPromise
      const raw = readAhead(await u.nars.stream(narinfo.url, { signal }), NAR_READ_AHEAD)
      // a file whose FileHash is the NarHash (uncompressed) is checked by the castore already
      const fileHash = narinfo.fileHash?.algorithm === 'sha256' && !(narinfo.compression === 'none' && toHex(narinfo.fileHash.digest) === toHex(narinfo.narHash))
        ? narinfo.fileHash
        : undefined
      const sha = fileHash === undefined ? undefined : createHash('sha256')
      const checked = (async function * () {
        for await (const piece of raw) {
          sha?.update(piece)
          bytes += piece.byteLength
          u.stats.bytesFetched += piece.byteLength
          if (narinfo.fileSize !== undefined && bytes > narinfo.fileSize) throw new UpstreamError(`${narinfo.url}: more than FileSize ${narinfo.fileSize} bytes`)
          yield piece
        }
        if (narinfo.fileSize !== undefined && bytes !== narinfo.fileSize) throw new UpstreamError(`${narinfo.url}: FileSize is ${narinfo.fileSize} but ${bytes} bytes arrived`)
        if (sha !== undefined && fileHash !== undefined && sha.digest('hex') !== toHex(fileHash.digest)) throw new UpstreamError(`${narinfo.url}: FileHash mismatch`)
      })()
      const nar = decompress(narinfo.compression, checked, this.init.decompressors ?? {}, { signal })
      const target = spool
      const teed = (async function * () {
        for await (const piece of nar) {
          await target.write(piece)
          yield piece
        }
      })()
      const { info } = await this.castore.importNar(teed, {
        storePath: narinfo.storePath,
        references: narinfo.references,
        signatures: narinfo.signatures,
        narHash: narinfo.narHash,
        narSize: narinfo.narSize,
        signal,
        ...(narinfo.deriver !== undefined ? { deriver: narinfo.deriver } : {}),
        ...(narinfo.ca !== undefined ? { ca: narinfo.ca } : {})
      })
      // committed: announce, report, then let readers have the last bytes
      entry.committed = info
      if (this.known.get(entry.key) === entry) this.known.delete(entry.key)
      u.breaker.succeeded()
      try {
        const announced = this.init.announce?.([info.storePath])
        if (announced instanceof Promise) announced.catch(() => {})
      } catch {}
      const detail: FetchedDetail = { storePath: info.storePath, url: u.url, bytes, ms: performance.now() - started }
      this.dispatchEvent(new CustomEvent('fetched', { detail }))
      await spool.commit()
      return info
    } catch (err: any) {
      const why = `${err?.message ?? String(err)}${err?.cause?.message !== undefined ? ` (${err.cause.message as string})` : ''}`
      const error = new PullFailedError(`${narinfo.storePath} from ${u.url}: ${why}`, { cause: err })
      // the next request asks the upstreams again
      if (this.known.get(entry.key) === entry) this.known.delete(entry.key)
      if (!signal.aborted) {
        if (isTimeout(err, signal)) u.stats.timeouts++
        else u.stats.failures++
        u.stats.lastError = error.message
        u.breaker.failed()
        this.init.log?.(`storeswarm: upstream: ${error.message}`)
      }
      // readers see the error last, when everything else is accounted for
      await spool?.fail(error)
      throw error
    }
  }
}

/** Creates the upstream substituter (call `start()`; `stop()` before closing the castore). */
export function createUpstreamSubstituter (init: UpstreamSubstituterInit): UpstreamSubstituter {
  return new UpstreamSubstituter(init)
}
