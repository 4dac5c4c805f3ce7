/**
 * The binary-cache service: narinfos and NARs synthesised on demand from the castore, for Nix
 * (`substituters = http://…`) or Guix (`--substitute-urls=http://…`); one store directory and
 * one dialect per service (a node holding Nix and Guix paths runs two, on two ports).
 * Spec: shared/specs/binary-cache.md §3 (endpoints, status codes, Range), §5 (Guix).
 *
 * `handle(request)` answers one request (it never throws: every failure is a status); `fetch`
 * does the same for WHATWG `Request`s; `start()`/`stop()` run it on a `node:http` listener
 * (node-adapter.ts) when `listen` is given.
 *
 * NAR URLs (Nix) are `nar/<store hash part>-<NarHash nix32>.nar` — the hash part finds the
 * PathInfo, the NarHash makes the URL unique per content (a path re-imported with other bytes
 * gets another URL, so no client or proxy ever mixes two versions) — and `….nar.zst` for zstd.
 * Uncompressed NARs are rendered on the fly (Range via the seekable renderer); compressed ones
 * are compressed once into a bounded on-disk cache (compressed-cache.ts) so that every
 * response carries `Content-Length`.
 */
import type { Castore, PathInfo } from '../castore/index.ts'
import { toHex } from '../castore/index.ts'
import { renderNarRange, castoreNarEvents, NarSizeCache, NarCursor } from '../castore/nar-range.ts'
import type { NarRangeStores } from '../castore/nar-range.ts'
import type { Directory } from '../castore/index.ts'
import { narListing } from '../nar/index.ts'
import { encodeNixBase32 } from '../nix/base32.ts'
import { GUIX_STORE_DIR, NIX_STORE_DIR } from '../nix/constants.ts'
import { parseContentAddress } from '../nix/content-address.ts'
import { fingerprint } from '../nix/fingerprint.ts'
import type { NixHash } from '../nix/hash.ts'
import { renderNarInfo } from '../nix/narinfo.ts'
import { ErisPathIndex } from '../eris/store-paths.ts'
import { base32Decode } from '../eris/base32.ts'
import type { NarInfo } from '../nix/narinfo.ts'
import { signFingerprint, formatPublicKey, toPublicKey } from '../nix/signing.ts'
import type { SecretKey } from '../nix/signing.ts'
import { StorePath, parseBaseName } from '../nix/store-path.ts'
import { createGuixNarInfo, renderGuixNarInfo } from '../nix/guix-narinfo.ts'
import { addGuixSignature, formatGuixPublicKey } from '../nix/guix-signature.ts'
import type { GuixSecretKey } from '../nix/guix-signature.ts'
import type { AbortOptions } from '../abort.ts'
import { CONTENT_TYPE, DEFAULT_GUIX_PRIORITY, DEFAULT_NIX_PRIORITY, NARINFO_CACHE_ENTRIES, PATH_INFO_TTL_MS, DIRECTORY_CACHE_ENTRIES } from './constants.ts'
import { BadRequestError, HttpError, MethodNotAllowedError } from './errors.ts'
import { parseRange } from './range.ts'
import { bytesResponse, cacheInfoResponse, emptyResponse, errorResponse, narInfoResponse, notFound, streamResponse, textResponse } from './responses.ts'
import type { StreamedResource } from './responses.ts'
import { route } from './routes.ts'
import type { Dialect, Route } from './routes.ts'
import type { BodySource, CacheRequest, CacheResponse } from './types.ts'
import type { CompressedNarCache, CachedCompression } from './compressed-cache.ts'
import type { LogStore } from './log-store.ts'
import { Uploads } from './uploads.ts'
import type { UploadInit } from './uploads.ts'
import type { Decompressors } from './decompress.ts'
import { HttpListener } from './node-adapter.ts'
import type { ListenerLimits } from './node-adapter.ts'

/**
 * `all`: add the node's signature to every narinfo (upstream signatures are kept too);
 * `unsigned`: sign only paths that carry no signature (built or uploaded locally), pass the
 * others through; `none`: pass upstream signatures through, never sign.
 */
export type SigningMode = 'all' | 'unsigned' | 'none'

export interface SigningInit {
  mode?: SigningMode
  /** Nix binary-cache key (Nix dialect) */
  nixKey?: SecretKey
  /** Guix key pair's secret half (Guix dialect) */
  guixKey?: GuixSecretKey
  /** host name written into Guix signatures (informational; default `localhost`) */
  hostname?: string
}

/** What the service reports per request (for logs and tests). */
export interface RequestEvent {
  method: string
  url: string
  status: number
  length: number
  range?: string
  remoteAddress?: string
}

/** Fault injection for tests: cut a NAR response after this many body bytes. */
export interface FaultHooks {
  truncateNar?: (event: { storePath: string, status: number, range?: string }) => number | undefined
}

export interface BinaryCacheInit {
  castore: Castore
  /** answer ERIS block requests (`/uri-res/N2R?urn:blake2b:…`) from local data (default true) */
  eris?: boolean
  /** `nix` (default) or `guix` */
  dialect?: Dialect
  /** default `/nix/store` (Nix) or `/gnu/store` (Guix) */
  storeDir?: string
  /** `/nix-cache-info` Priority (default 30 for Nix, 100 for Guix) */
  priority?: number
  /** `/nix-cache-info` WantMassQuery (default true for Nix) */
  wantMassQuery?: boolean
  /** Nix: compression of the NAR URL in narinfos (default `none`; `zstd` needs `compressed`) */
  compression?: 'none' | 'zstd'
  /** Guix: the NAR URL/Compression pairs offered, in order (default zstd then none) */
  guixCompressions?: Array<'none' | 'gzip' | 'zstd'>
  signing?: SigningInit
  upload?: UploadInit
  /** on-disk cache of compressed NARs (shared between services) */
  compressed?: CompressedNarCache
  logs?: LogStore
  /** decoders for uploaded NARs beyond Node's own (xz, bzip2, …) */
  decompressors?: Decompressors
  /** re-hash every full NAR as it is served and cut the response if it does not match (default false) */
  verifyNars?: boolean
  /** read blobs of a local file store with synchronous preads (default true; see NarCursor) */
  syncReads?: boolean
  /** how long a PathInfo found in the castore is reused without asking it again (default 30 s) */
  pathInfoTtlMs?: number
  /** run on a node:http listener */
  listen?: { host: string, port: number }
  limits?: Partial<ListenerLimits>
  /** serve plain GET/HEAD on the raw-socket fast path (default true; see fast-path.ts) */
  fastPath?: boolean
  onRequest?: (event: RequestEvent) => void
  onError?: (err: unknown) => void
  faults?: FaultHooks
  /**
   * More GET/HEAD routes (status page, metrics): asked for `/` and for paths no binary-cache
   * route matches, never for narinfos, NARs or logs; undefined falls back to the cache's answer
   */
  extraRoutes?: (request: CacheRequest) => Promise<CacheResponse | undefined>
  /**
   * NARs of paths the castore answered before holding their data (pull-through, src/upstream):
   * asked before a NAR is rendered; a returned `PendingNar` serves it
   */
  pendingNar?: (info: PathInfo) => PendingNar | undefined
}

/** A NAR still arriving from an upstream cache (pull-through, src/upstream). */
export interface PendingNar {
  /** the whole uncompressed NAR as it arrives; throws (never ends cleanly) if it fails verification */
  stream: (options: AbortOptions) => AsyncIterable<Uint8Array>
  /** the path as stored once the castore holds it; rejects when the pull failed */
  stored: (options: AbortOptions) => Promise<PathInfo>
  /** the stored PathInfo when that is the case already (then served as any other path) */
  committed: () => PathInfo | undefined
}

const utf8 = new TextEncoder()

function baseName (path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

class Truncated extends Error {
  static override name = 'Truncated'
  override name = 'Truncated'
}

export class BinaryCache {
  readonly dialect: Dialect
  readonly storeDir: string
  private readonly castore: Castore
  private readonly init: BinaryCacheInit
  private readonly uploads: Uploads
  private readonly sizes = new NarSizeCache()
  private readonly narInfos = new Map<string, { key: string, text: Uint8Array }>()
  /** PathInfos found recently (positive lookups only: a path added later is seen at once) */
  private readonly infos = new Map<string, { info: PathInfo, expires: number }>()
  private readonly rendered = new WeakMap<PathInfo, Map<string, Uint8Array>>()
  private readonly directories = new Map<string, Directory>()
  private readonly renderStores: NarRangeStores
  /** ERIS blocks of the paths held, answered on `/uri-res/N2R` */
  private readonly erisBlocks: ErisPathIndex | undefined
  private listener?: HttpListener

  constructor (init: BinaryCacheInit) {
    this.init = init
    this.castore = init.castore
    this.dialect = init.dialect ?? 'nix'
    this.storeDir = init.storeDir ?? (this.dialect === 'guix' ? GUIX_STORE_DIR : NIX_STORE_DIR)
    if (init.compression === 'zstd' && init.compressed === undefined) throw new RangeError('zstd NARs need a compressed NAR cache (init.compressed)')
    this.uploads = new Uploads(this.castore, this.storeDir, this.dialect === 'nix' ? (init.upload ?? {}) : {}, init.decompressors ?? {})
    this.uploads.onCommit = (storePath) => { this.invalidate(StorePath.parse(storePath, this.storeDir).hashPart) }
    this.erisBlocks = init.eris === false ? undefined : new ErisPathIndex(this.castore)
    const directories = this.castore.directories
    const cache = this.directories
    this.renderStores = {
      blobs: this.castore.blobs,
      directories: {
        // Directory messages are immutable (named by their digest): cache them
        async get (digest, options) {
          const key = Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('latin1')
          const hit = cache.get(key)
          if (hit !== undefined) return hit
          const dir = await directories.get(digest, options)
          if (dir !== undefined) {
            if (cache.size >= DIRECTORY_CACHE_ENTRIES) cache.clear()
            cache.set(key, dir)
          }
          return dir
        }
      }
    }
  }

  /**
   * Forgets what is cached about a path (or about every path): call it when a PathInfo is
   * deleted or replaced outside this service. Paths added are seen without it.
   */
  invalidate (hashPart?: string): void {
    if (hashPart === undefined) {
      this.infos.clear()
      this.narInfos.clear()
      return
    }
    this.infos.delete(hashPart)
    this.narInfos.delete(hashPart)
  }

  /** The public key clients should trust (`name:base64`, or the Guix key s-expression). */
  get publicKey (): string | undefined {
    if (this.dialect === 'guix') return this.init.signing?.guixKey === undefined ? undefined : formatGuixPublicKey(this.init.signing.guixKey.publicKey)
    return this.init.signing?.nixKey === undefined ? undefined : formatPublicKey(toPublicKey(this.init.signing.nixKey))
  }

  /** Where the listener listens (after `start()`). */
  get address (): { host: string, port: number } | undefined {
    return this.listener?.address
  }

  get url (): string | undefined {
    const a = this.address
    if (a === undefined) return undefined
    return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
  }

  async start (): Promise<void> {
    if (this.init.listen === undefined || this.listener !== undefined) return
    this.listener = new HttpListener({
      ...this.init.listen,
      handler: async (request) => await this.handle(request),
      handlerSync: (request) => this.handleSync(request),
      limits: this.init.limits,
      fastPath: this.init.fastPath,
      onError: this.init.onError
    })
    await this.listener.start()
  }

  async stop (): Promise<void> {
    await this.listener?.stop()
  }

  /** Answers one request. Never throws. */
  async handle (request: CacheRequest): Promise<CacheResponse> {
    let response: CacheResponse
    try {
      response = await this.dispatch(request)
    } catch (err: any) {
      if (err instanceof HttpError) response = errorResponse(err)
      else {
        if (!request.signal.aborted) this.init.onError?.(err)
        response = textResponse(500, `internal error: ${err?.message ?? String(err)}\n`, { 'cache-control': 'no-store' })
      }
    }
    this.init.onRequest?.({
      method: request.method,
      url: request.url,
      status: response.status,
      length: response.length,
      ...(typeof request.headers.range === 'string' ? { range: request.headers.range } : {}),
      ...(request.remoteAddress !== undefined ? { remoteAddress: request.remoteAddress } : {})
    })
    return response
  }

  /**
   * Answers from memory, without awaiting anything, when it can: `/nix-cache-info`, and the
   * narinfo of a path looked up recently (the common case: Nix walking a closure). Returns
   * undefined for everything else (then `handle` does the work).
   */
  handleSync (request: CacheRequest): CacheResponse | undefined {
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined
    const r = route(this.dialect, request.url)
    let response: CacheResponse
    try {
      if (r.kind === 'cache-info') {
        response = cacheInfoResponse(this.cacheInfo())
      } else if (r.kind === 'narinfo') {
        const hit = this.infos.get(r.hashPart)
        if (hit === undefined || hit.expires <= Date.now()) return undefined
        this.castore.touch?.(r.hashPart)
        response = this.dialect === 'nix'
          ? narInfoResponse(this.nixNarInfo(hit.info))
          : narInfoResponse(this.guixNarInfo(hit.info), CONTENT_TYPE.guixNarInfo)
      } else {
        return undefined
      }
    } catch {
      return undefined
    }
    this.init.onRequest?.({
      method: request.method,
      url: request.url,
      status: response.status,
      length: response.length,
      ...(request.remoteAddress !== undefined ? { remoteAddress: request.remoteAddress } : {})
    })
    return response
  }

  /** The service as a WHATWG fetch handler. */
  async fetch (request: Request): Promise<Response> {
    const url = new URL(request.url)
    const headers: Record<string, string> = {}
    request.headers.forEach((v, k) => { headers[k] = v })
    const body = request.body === null ? undefined : request.body as unknown as AsyncIterable<Uint8Array>
    const res = await this.handle({ method: request.method.toUpperCase(), url: url.pathname + url.search, headers, body, signal: request.signal })
    const outHeaders = { ...res.headers, 'content-length': String(res.length) }
    if (request.method.toUpperCase() === 'HEAD' || res.body === undefined || res.status === 204 || res.status === 304) {
      return new Response(null, { status: res.status, headers: outHeaders })
    }
    const payload = res.body instanceof Uint8Array ? res.body : ReadableStream.from(res.body({ signal: request.signal }))
    return new Response(payload as ConstructorParameters<typeof Response>[0], { status: res.status, headers: outHeaders })
  }

  private async dispatch (request: CacheRequest): Promise<CacheResponse> {
    const r = route(this.dialect, request.url)
    if (r.kind === 'bad') throw new BadRequestError(r.reason)
    const method = request.method
    if (method === 'PUT' && this.dialect === 'nix') return await this.put(r, request)
    if (method !== 'GET' && method !== 'HEAD') {
      throw new MethodNotAllowedError(`${method} is not allowed on ${request.url.slice(0, 200)}`, this.dialect === 'nix' && this.uploads.enabled ? 'GET, HEAD, PUT' : 'GET, HEAD')
    }
    const options: AbortOptions = request // its signal is created only when something reads it
    switch (r.kind) {
      case 'root': return (await this.init.extraRoutes?.(request)) ?? textResponse(200, this.homePage())
      case 'cache-info': return cacheInfoResponse(this.cacheInfo())
      case 'narinfo': {
        const info = await this.lookup(r.hashPart, options)
        if (info === undefined) return notFound(`${r.hashPart}.narinfo not found`)
        return this.dialect === 'nix'
          ? narInfoResponse(this.nixNarInfo(info))
          : narInfoResponse(this.guixNarInfo(info), CONTENT_TYPE.guixNarInfo)
      }
      case 'nar': {
        const info = await this.lookup(r.hashPart, options)
        if (info === undefined || encodeNixBase32(info.narHash) !== r.narHash) return notFound(`${request.url.slice(0, 200)} not found`)
        return await this.narResponse(request, info, r.compression)
      }
      case 'guix-nar': {
        const { hashPart } = parseBaseName(r.baseName)
        const info = await this.lookup(hashPart, options)
        if (info === undefined || info.storePath !== `${this.storeDir}/${r.baseName}`) return notFound(`${request.url.slice(0, 200)} not found`)
        return await this.narResponse(request, info, r.compression)
      }
      case 'eris-block': {
        const block = await this.erisBlocks?.getBlock(base32Decode(r.reference), options)
        if (block === undefined) return notFound(`urn:blake2b:${r.reference} not found`)
        return bytesResponse(block, 'application/octet-stream')
      }
      case 'listing': {
        let info = await this.lookup(r.hashPart, options)
        if (info === undefined) return notFound(`${r.hashPart}.ls not found`)
        const pending = this.init.pendingNar?.(info)
        if (pending !== undefined) info = pending.committed() ?? await pending.stored(request).catch(() => undefined)
        if (info === undefined) return notFound(`${r.hashPart}.ls not found`)
        const parts: Uint8Array[] = []
        for await (const piece of narListing(castoreNarEvents(info.node, this.castore, options), options)) parts.push(piece)
        return bytesResponse(Buffer.concat(parts), CONTENT_TYPE.listing)
      }
      case 'log': {
        if (!r.baseName.endsWith('.drv')) return notFound('no such log')
        const log = await this.init.logs?.get(r.baseName, options)
        return log === undefined ? notFound(`no log for ${r.baseName}`) : bytesResponse(log, CONTENT_TYPE.log)
      }
      case 'signing-key': {
        const key = this.publicKey
        return key === undefined ? notFound('this node does not sign') : bytesResponse(utf8.encode(key), CONTENT_TYPE.guixKey)
      }
      default:
        return (r.kind === 'unknown' ? await this.init.extraRoutes?.(request) : undefined) ?? notFound()
    }
  }

  private async put (r: Route, request: CacheRequest): Promise<CacheResponse> {
    switch (r.kind) {
      case 'narinfo':
        await this.uploads.putNarInfo(request, r.hashPart)
        return emptyResponse(200)
      case 'upload-nar':
        await this.uploads.putNar(request, r.key)
        return emptyResponse(200)
      case 'listing':
        await this.uploads.discard(request, '.ls upload')
        return emptyResponse(200)
      case 'log': {
        const log = await this.uploads.small(request, 'log upload')
        if (this.init.logs?.put === undefined || !r.baseName.endsWith('.drv')) throw new MethodNotAllowedError('this node keeps no logs', 'GET, HEAD')
        await this.init.logs.put(r.baseName, log, { signal: request.signal })
        return emptyResponse(200)
      }
      default:
        this.uploads.authorize(request)
        throw new MethodNotAllowedError(`PUT is not allowed on ${request.url.slice(0, 200)}`, 'GET, HEAD')
    }
  }

  /** PathInfo of a hash part, if valid here and in this service's store directory. */
  private async lookup (hashPart: string, options: AbortOptions): Promise<PathInfo | undefined> {
    const now = Date.now()
    const hit = this.infos.get(hashPart)
    if (hit !== undefined && hit.expires > now) { this.castore.touch?.(hashPart); return hit.info }
    const info = await this.castore.getPathInfo(hashPart, options)
    if (info === undefined || !info.storePath.startsWith(`${this.storeDir}/`)) {
      this.infos.delete(hashPart)
      return undefined
    }
    // last access, for GC's least-recently-used order (batched in memory)
    this.castore.touch?.(hashPart)
    if (this.infos.size >= NARINFO_CACHE_ENTRIES) this.infos.clear()
    this.infos.set(hashPart, { info, expires: now + (this.init.pathInfoTtlMs ?? PATH_INFO_TTL_MS) })
    return info
  }

  private cacheInfo (): string {
    const priority = this.init.priority ?? (this.dialect === 'guix' ? DEFAULT_GUIX_PRIORITY : DEFAULT_NIX_PRIORITY)
    const mass = this.init.wantMassQuery ?? this.dialect === 'nix'
    return `StoreDir: ${this.storeDir}\nWantMassQuery: ${mass ? 1 : 0}\nPriority: ${priority}\n`
  }

  private homePage (): string {
    const key = this.publicKey
    const lines = [`storeswarm binary cache (${this.dialect === 'nix' ? 'Nix' : 'Guix'}), StoreDir ${this.storeDir}`]
    if (this.dialect === 'nix') {
      lines.push(key !== undefined ? `trusted-public-keys: ${key}` : 'narinfos carry only upstream signatures')
    } else if (key !== undefined) {
      lines.push('signing key (guix archive --authorize):', key.trimEnd())
    }
    return lines.join('\n') + '\n'
  }

  private shouldSign (info: PathInfo): boolean {
    const mode = this.init.signing?.mode ?? 'all'
    return mode === 'all' || (mode === 'unsigned' && info.signatures.length === 0)
  }

  private compressedKey (info: PathInfo): string {
    return `${StorePath.parse(info.storePath, this.storeDir).hashPart}-${encodeNixBase32(info.narHash)}`
  }

  private cachedNarInfo (info: PathInfo, extra: string, make: () => string): Uint8Array {
    // fast path: the same PathInfo object (from the lookup cache) rendered before
    let variants = this.rendered.get(info)
    const fast = variants?.get(extra)
    if (fast !== undefined) return fast
    const text = this.renderedByKey(info, extra, make)
    if (variants === undefined) {
      variants = new Map()
      this.rendered.set(info, variants)
    }
    variants.set(extra, text)
    return text
  }

  /** Rendered narinfos by content (survives a PathInfo being read again from the castore). */
  private renderedByKey (info: PathInfo, extra: string, make: () => string): Uint8Array {
    const hashPart = baseName(info.storePath).slice(0, 32)
    const key = `${info.storePath}|${toHex(info.narHash)}|${info.registrationTime}|${info.signatures.join(',')}|${extra}`
    const hit = this.narInfos.get(hashPart)
    if (hit !== undefined && hit.key === key) return hit.text
    const text = utf8.encode(make())
    if (this.narInfos.size >= NARINFO_CACHE_ENTRIES) this.narInfos.clear()
    this.narInfos.set(hashPart, { key, text })
    return text
  }

  private nixNarInfo (info: PathInfo): Uint8Array {
    const zstd = this.init.compression === 'zstd'
    const entry = zstd ? this.init.compressed?.peek(this.compressedKey(info), 'zstd') : undefined
    return this.cachedNarInfo(info, zstd ? `zstd:${entry?.size ?? ''}` : 'none', () => {
      const storePath = StorePath.parse(info.storePath, this.storeDir)
      const narHash: NixHash = { algorithm: 'sha256', digest: info.narHash }
      const url = `nar/${storePath.hashPart}-${encodeNixBase32(info.narHash)}.nar${zstd ? '.zst' : ''}`
      const narInfo: NarInfo = {
        storePath,
        url,
        compression: zstd ? 'zstd' : 'none',
        narHash,
        narSize: info.narSize,
        references: info.references.map(baseName),
        signatures: [...info.signatures]
      }
      if (!zstd) {
        narInfo.fileHash = narHash
        narInfo.fileSize = info.narSize
      } else if (entry !== undefined) {
        narInfo.fileHash = { algorithm: 'sha256', digest: entry.sha256 }
        narInfo.fileSize = entry.size
      }
      if (info.deriver !== undefined) narInfo.deriver = baseName(info.deriver)
      if (info.ca !== undefined) narInfo.ca = parseContentAddress(info.ca)
      // ERIS read capability of the uncompressed NAR: an extra field, unsigned and ignored by Nix
      if (info.eris !== undefined) narInfo.unknownFields = [{ key: 'ERIS', value: info.eris }]
      const key = this.init.signing?.nixKey
      if (key !== undefined && this.shouldSign(info)) narInfo.signatures.push(signFingerprint(fingerprint(narInfo), key))
      return renderNarInfo(narInfo)
    })
  }

  private guixNarInfo (info: PathInfo): Uint8Array {
    const base = baseName(info.storePath)
    const compressions = this.init.guixCompressions ?? (this.init.compressed !== undefined ? ['zstd', 'none'] : ['none'])
    const key = this.compressedKey(info)
    const nars = compressions
      .filter(c => c === 'none' || this.init.compressed !== undefined)
      .map(c => ({
        url: c === 'none' ? `nar/${encodeURIComponent(base)}` : `nar/${c}/${encodeURIComponent(base)}`,
        compression: c,
        fileSize: c === 'none' ? info.narSize : this.init.compressed?.peek(key, c)?.size
      }))
    // Guix zips URL/Compression/FileSize by position: give every FileSize or none (§5.2)
    const allSizes = nars.every(n => n.fileSize !== undefined)
    return this.cachedNarInfo(info, `guix:${nars.map(n => `${n.compression}=${n.fileSize ?? ''}`).join(',')}`, () => {
      let narInfo = createGuixNarInfo({
        storePath: info.storePath,
        narHash: `sha256:${encodeNixBase32(info.narHash)}`,
        narSize: info.narSize,
        references: info.references.map(baseName),
        ...(info.deriver !== undefined ? { deriver: baseName(info.deriver) } : {}),
        ...(info.eris !== undefined ? { extra: [{ key: 'ERIS', value: info.eris }] } : {}),
        nars: nars.map(n => allSizes ? n : { url: n.url, compression: n.compression })
      })
      const secret = this.init.signing?.guixKey
      if (secret !== undefined && (this.init.signing?.mode ?? 'all') !== 'none') {
        narInfo = addGuixSignature(narInfo, secret, { hostname: this.init.signing?.hostname ?? 'localhost' })
      }
      return renderGuixNarInfo(narInfo)
    })
  }

  private async narResponse (request: CacheRequest, info: PathInfo, compression: 'none' | CachedCompression): Promise<CacheResponse> {
    const signal = request.signal
    const pending = this.init.pendingNar?.(info)
    const committed = pending?.committed()
    if (committed !== undefined) {
      info = committed
    } else if (pending !== undefined) {
      // pull-through: a full uncompressed NAR streams as it arrives; anything else waits for the commit
      if (compression === 'none' && request.headers.range === undefined) {
        const nix32 = encodeNixBase32(info.narHash)
        return streamResponse({ size: info.narSize, contentType: this.dialect === 'nix' ? CONTENT_TYPE.nar : CONTENT_TYPE.guixNar, etag: `"${nix32}"`, read: (_offset, _length, options) => pending.stream(options) }, undefined)
      }
      const stored = await pending.stored(request).catch(() => undefined)
      if (stored === undefined) return notFound(`${request.url.slice(0, 200)} not found`)
      info = stored
    }
    // GC leaves the tree alone while this NAR is streamed; gone already (collected): 404
    const lease = this.castore.lease === undefined ? { release: () => {} } : await this.castore.lease(info.node, { signal })
    if (lease === undefined) {
      this.invalidate(StorePath.parse(info.storePath, this.storeDir).hashPart)
      return notFound(`${request.url.slice(0, 200)} not found`)
    }
    try {
      const response = await this.narResponseLeased(request, info, compression)
      return leasedResponse(response, lease, request.method === 'HEAD')
    } catch (err) {
      lease.release()
      throw err
    }
  }

  private async narResponseLeased (request: CacheRequest, info: PathInfo, compression: 'none' | CachedCompression): Promise<CacheResponse> {
    const signal = request.signal
    const verify = this.init.verifyNars === true
    const syncReads = this.init.syncReads
    const full = (options: AbortOptions): AsyncIterable<Uint8Array> => verify
      ? this.castore.renderVerified(info, options)
      : renderNarRange(info.node, this.renderStores, { sizes: this.sizes, syncReads, signal: options.signal })
    let resource: StreamedResource
    const nix32 = encodeNixBase32(info.narHash)
    const contentType = this.dialect === 'nix' ? CONTENT_TYPE.nar : CONTENT_TYPE.guixNar
    if (compression === 'none') {
      resource = {
        size: info.narSize,
        contentType,
        etag: `"${nix32}"`,
        read: (offset, length, options) => offset === 0 && length === info.narSize
          ? full(options)
          : renderNarRange(info.node, this.renderStores, { offset, length, sizes: this.sizes, syncReads, signal: options.signal })
      }
      // the pull form, unless every full NAR must be re-hashed on the way out
      if (!verify) {
        resource.open = (offset, length, options) => {
          const cursor = new NarCursor(info.node, this.renderStores, { offset, length, sizes: this.sizes, syncReads, signal: options.signal })
          return { fill: async (buf) => await cursor.fill(buf), close: () => cursor.close() }
        }
      }
    } else {
      const cache = this.init.compressed
      if (cache === undefined) return notFound(`${compression} NARs are not offered here`)
      const entry = await cache.get(this.compressedKey(info), compression, full, { signal })
      resource = {
        size: entry.size,
        contentType,
        etag: `"${nix32}-${compression}"`,
        read: (offset, length, options) => cache.read(entry, offset, length, full, options),
        open: (offset, length, options) => cache.open(entry, offset, length, full, options)
      }
    }
    const range = parseRange(request.headers.range, resource.size, request.headers['if-range'], resource.etag)
    const response = streamResponse(resource, range)
    const cut = this.init.faults?.truncateNar?.({ storePath: info.storePath, status: response.status, ...(typeof request.headers.range === 'string' ? { range: request.headers.range } : {}) })
    if (cut !== undefined && response.source !== undefined) {
      const open = response.source
      response.source = (options) => {
        const inner: BodySource = open(options)
        let sent = 0
        return {
          fill: async (buf) => {
            if (sent >= cut) throw new Truncated(`fault injection: response cut after ${cut} bytes`)
            const n = await inner.fill(buf.subarray(0, Math.min(buf.length, cut - sent)))
            sent += n
            return n
          },
          close: () => inner.close()
        }
      }
    }
    if (cut !== undefined && typeof response.body === 'function') {
      const body = response.body
      response.body = (options) => (async function * () {
        let sent = 0
        for await (const piece of body(options)) {
          if (sent + piece.byteLength >= cut) {
            yield piece.subarray(0, cut - sent)
            throw new Truncated(`fault injection: response cut after ${cut} bytes`)
          }
          sent += piece.byteLength
          yield piece
        }
      })()
    }
    return response
  }
}

/** Ends `lease` when the response body has been sent (or failed, or is never sent: HEAD, empty). */
function leasedResponse (response: CacheResponse, lease: { release: () => void }, head: boolean): CacheResponse {
  if (head || response.length === 0 || (response.source === undefined && typeof response.body !== 'function')) {
    lease.release()
    return response
  }
  const source = response.source
  if (source !== undefined) {
    response.source = (options) => {
      let inner: BodySource
      try { inner = source(options) } catch (err) { lease.release(); throw err }
      return { fill: async (buf) => await inner.fill(buf), close: () => { try { inner.close() } finally { lease.release() } } }
    }
  }
  const body = response.body
  if (typeof body === 'function') {
    response.body = (options) => (async function * () {
      try { yield * body(options) } finally { lease.release() }
    })()
  }
  return response
}

/** Creates the service (call `start()` to listen when `init.listen` is set). */
export function createBinaryCache (init: BinaryCacheInit): BinaryCache {
  return new BinaryCache(init)
}
