/**
 * Uploads as `nix copy --to http://…` makes them (Nix 2.8 `BinaryCacheStore::addToStoreCommon`):
 * `HEAD <nar URL>` (404 ⇒ upload), `PUT nar/<FileHash>.nar[.xz|.zst|…]`, then
 * `PUT <hash>.narinfo` whose `URL` names that NAR.
 *
 * The NAR is ingested into the castore while it streams in (blobs and directories, each
 * verified by digest) and its NarHash, NarSize, FileHash and FileSize are computed on the way;
 * nothing becomes visible then. The narinfo PUT makes the path valid only if NarHash and NarSize
 * (and FileHash/FileSize when given) equal what was measured, every reference other than the
 * path itself is already valid here, and a `CA:` recomputes the store path. Only then is the
 * PathInfo committed — the castore's commit point — so a failed or abandoned upload leaves no
 * valid path, only unreferenced castore objects (as an interrupted import does; a GC may drop
 * them). Uploaded NARs wait for their narinfo at most `pendingTtlMs`.
 *
 * Who may upload: nobody unless enabled; then loopback clients (unless `allowLoopback: false`)
 * and clients presenting the token, as `Authorization: Bearer <token>` or as the password of
 * HTTP Basic auth (what Nix sends from a netrc file: `machine <host> password <token>`).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Castore, PathInfo } from '../castore/index.ts'
import { ingestNar, toHex } from '../castore/index.ts'
import { NarParseError } from '../nar/index.ts'
import { parseNarInfo } from '../nix/narinfo.ts'
import type { NarInfo } from '../nix/narinfo.ts'
import { isContentAddressed, renderContentAddress } from '../nix/content-address.ts'
import { StorePath } from '../nix/store-path.ts'
import { MAX_CONCURRENT_UPLOADS, MAX_NAR_UPLOAD_BYTES, MAX_NARINFO_UPLOAD_BYTES, MAX_PENDING_UPLOADS, MAX_SMALL_UPLOAD_BYTES, PENDING_UPLOAD_TTL_MS } from './constants.ts'
import { BadRequestError, DecompressionError, HttpError, MethodNotAllowedError, OverloadedError, UnauthorizedError, UploadConflictError, UploadVerificationError, UnsupportedCompressionError } from './errors.ts'
import { limitedBody, readBody } from './body.ts'
import { decompress, sniffStream } from './decompress.ts'
import type { Decompressors } from './decompress.ts'
import type { CacheRequest } from './types.ts'

export interface UploadInit {
  /** accept uploads at all (default false) */
  enabled?: boolean
  /** bearer token (or Basic-auth password) that authorises any client */
  token?: string
  /** loopback clients may upload without the token (default true) */
  allowLoopback?: boolean
  maxNarBytes?: number
  maxNarInfoBytes?: number
  maxConcurrent?: number
  pendingTtlMs?: number
}

interface PendingNar {
  node: PathInfo['node']
  narHash: Uint8Array
  narSize: number
  fileHash: Uint8Array
  fileSize: number
  expires: number
}

export interface UploadResult {
  /** store path made valid, for narinfo uploads */
  storePath?: string
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a)
}

function tokenMatches (presented: string, token: string): boolean {
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(token).digest()
  return timingSafeEqual(a, b)
}

export class Uploads {
  private readonly castore: Castore
  private readonly storeDir: string
  private readonly init: UploadInit
  private readonly decompressors: Decompressors
  private readonly pending = new Map<string, PendingNar>()
  private active = 0
  /** called after a path became valid (to drop cached narinfos) */
  onCommit?: (storePath: string) => void

  constructor (castore: Castore, storeDir: string, init: UploadInit, decompressors: Decompressors) {
    this.castore = castore
    this.storeDir = storeDir
    this.init = init
    this.decompressors = decompressors
  }

  get enabled (): boolean {
    return this.init.enabled === true
  }

  /** Throws 405 (uploads disabled) or 401 (not authorised). */
  authorize (request: CacheRequest): void {
    if (!this.enabled) throw new MethodNotAllowedError('uploads are disabled on this node (start it with --allow-uploads)', 'GET, HEAD')
    if (this.init.allowLoopback !== false && isLoopback(request.remoteAddress)) return
    const token = this.init.token
    const auth = request.headers.authorization
    if (token !== undefined && token !== '' && typeof auth === 'string') {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth)
      if (bearer !== null && tokenMatches(bearer[1], token)) return
      const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth)
      if (basic !== null) {
        const decoded = Buffer.from(basic[1], 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        if (colon >= 0 && tokenMatches(decoded.slice(colon + 1), token)) return
      }
    }
    throw new UnauthorizedError(token === undefined ? 'uploads are only accepted from loopback clients' : 'uploads need a valid token (Authorization: Bearer <token>, or a netrc password)')
  }

  private async slot<T> (fn: () => Promise<T>): Promise<T> {
    if (this.active >= (this.init.maxConcurrent ?? MAX_CONCURRENT_UPLOADS)) throw new OverloadedError('too many uploads in progress; retry')
    this.active++
    try {
      return await fn()
    } finally {
      this.active--
    }
  }

  private expire (): void {
    const now = Date.now()
    for (const [key, p] of this.pending) if (p.expires <= now) this.pending.delete(key)
    const max = MAX_PENDING_UPLOADS
    for (const key of this.pending.keys()) {
      if (this.pending.size < max) break
      this.pending.delete(key)
    }
  }

  /** `PUT nar/<file>`: ingest, measure, and wait for the narinfo. */
  async putNar (request: CacheRequest, key: string): Promise<void> {
    this.authorize(request)
    await this.slot(async () => {
      const signal = request.signal
      const fileSha = createHash('sha256')
      let fileSize = 0
      const max = this.init.maxNarBytes ?? MAX_NAR_UPLOAD_BYTES
      const body = limitedBody(request, max, 'NAR upload')
      const counted = (async function * () {
        for await (const piece of body) {
          fileSha.update(piece)
          fileSize += piece.byteLength
          yield piece
        }
      })()
      const { compression, stream } = await sniffStream(counted, key.endsWith('.br') ? 'br' : undefined)
      if (compression === undefined) throw new BadRequestError(`${key}: not a NAR, nor a compressed NAR in a format this node knows`)
      let nar: AsyncIterable<Uint8Array>
      try {
        nar = decompress(compression, stream, this.decompressors, { signal })
      } catch (err) {
        if (err instanceof UnsupportedCompressionError) throw new HttpError(415, err.message)
        throw err
      }
      let result
      try {
        result = await ingestNar(nar, { blobs: this.castore.blobs, directories: this.castore.directories, signal })
      } catch (err: any) {
        if (err instanceof HttpError) throw err
        if (err instanceof NarParseError) throw new BadRequestError(`${key}: invalid NAR: ${err.message}`, { cause: err })
        if (err instanceof DecompressionError) throw new BadRequestError(`${key}: cannot decompress ${compression}: ${err.message}`, { cause: err })
        if (err instanceof UnsupportedCompressionError) throw new HttpError(415, err.message)
        throw err
      }
      this.expire()
      this.pending.set(key, {
        node: result.node,
        narHash: result.narHash,
        narSize: result.narSize,
        fileHash: new Uint8Array(fileSha.digest()),
        fileSize,
        expires: Date.now() + (this.init.pendingTtlMs ?? PENDING_UPLOAD_TTL_MS)
      })
    })
  }

  /** `PUT <hash>.narinfo`: check it against its uploaded NAR and the store, then commit. */
  async putNarInfo (request: CacheRequest, hashPart: string): Promise<UploadResult> {
    this.authorize(request)
    return await this.slot(async () => {
      const text = await readBody(request, this.init.maxNarInfoBytes ?? MAX_NARINFO_UPLOAD_BYTES, 'narinfo upload')
      let ni: NarInfo
      try {
        ni = parseNarInfo(text, { storeDir: this.storeDir })
      } catch (err: any) {
        throw new BadRequestError(`malformed narinfo: ${err.message}`, { cause: err })
      }
      const storePath = ni.storePath.toString()
      if (ni.storePath.hashPart !== hashPart) throw new BadRequestError(`narinfo for ${storePath} uploaded as ${hashPart}.narinfo`)
      const existing = await this.castore.getPathInfo(hashPart, { signal: request.signal })
      if (existing !== undefined) {
        if (existing.storePath === storePath && toHex(existing.narHash) === toHex(ni.narHash.digest)) return { storePath }
        throw new UploadConflictError(`${hashPart} is already valid here as ${existing.storePath} with another NarHash`)
      }
      if (/^[a-z][a-z0-9+.-]*:/i.test(ni.url) || ni.url.includes('..')) throw new BadRequestError(`narinfo URL ${JSON.stringify(ni.url)} must be a relative nar/ URL on this node`)
      const key = ni.url.replace(/^\.?\//, '').replace(/[?#].*$/, '')
      this.expire()
      const nar = this.pending.get(key)
      if (nar === undefined) throw new UploadConflictError(`NAR ${key} has not been uploaded (PUT it before its narinfo)`)
      try {
        if (ni.narHash.algorithm !== 'sha256' || toHex(ni.narHash.digest) !== toHex(nar.narHash)) {
          throw new UploadVerificationError(`NarHash mismatch for ${storePath}: narinfo says sha256 ${toHex(ni.narHash.digest)}, the uploaded NAR has ${toHex(nar.narHash)}`)
        }
        if (ni.narSize !== nar.narSize) throw new UploadVerificationError(`NarSize mismatch for ${storePath}: narinfo says ${ni.narSize}, the uploaded NAR has ${nar.narSize} bytes`)
        if (ni.fileHash !== undefined && ni.fileHash.algorithm === 'sha256' && toHex(ni.fileHash.digest) !== toHex(nar.fileHash)) {
          throw new UploadVerificationError(`FileHash mismatch for ${storePath}: narinfo says ${toHex(ni.fileHash.digest)}, the uploaded file has ${toHex(nar.fileHash)}`)
        }
        if (ni.fileSize !== undefined && ni.fileSize !== nar.fileSize) throw new UploadVerificationError(`FileSize mismatch for ${storePath}: narinfo says ${ni.fileSize}, the uploaded file has ${nar.fileSize} bytes`)
        if (ni.ca !== undefined) {
          const refs = ni.references.map(r => StorePath.fromBaseName(r, this.storeDir))
          if (!isContentAddressed(ni.storePath, ni.ca, refs)) throw new UploadVerificationError(`CA ${renderContentAddress(ni.ca)} does not produce ${storePath}`)
          if (ni.ca.method === 'recursive' && ni.ca.hash.algorithm === 'sha256' && toHex(ni.ca.hash.digest) !== toHex(nar.narHash)) {
            throw new UploadVerificationError(`CA ${renderContentAddress(ni.ca)} does not match the uploaded NAR`)
          }
        }
      } catch (err) {
        this.pending.delete(key)
        throw err
      }
      const references: string[] = []
      for (const ref of ni.references) {
        const full = `${this.storeDir}/${ref}`
        references.push(full)
        if (full === storePath) continue
        if (await this.castore.getPathInfo(full, { signal: request.signal }) === undefined) {
          throw new UploadConflictError(`reference ${full} of ${storePath} is not valid on this node (upload the closure, dependencies first)`)
        }
      }
      const info: PathInfo = {
        storePath,
        node: nar.node,
        references: references.sort(),
        narHash: nar.narHash,
        narSize: nar.narSize,
        signatures: [...new Set(ni.signatures)],
        registrationTime: Date.now()
      }
      if (ni.deriver !== undefined) info.deriver = `${this.storeDir}/${ni.deriver}`
      if (ni.ca !== undefined) info.ca = renderContentAddress(ni.ca)
      await this.castore.blobs.sync?.()
      await this.castore.pathInfos.put(info, { signal: request.signal })
      this.pending.delete(key)
      this.onCommit?.(storePath)
      return { storePath }
    })
  }

  /** Bodies the node does not keep (`.ls` listings, which it synthesises): read and dropped. */
  async discard (request: CacheRequest, what: string): Promise<void> {
    this.authorize(request)
    for await (const piece of limitedBody(request, MAX_SMALL_UPLOAD_BYTES, what)) void piece
  }

  /** A small body (a build log). */
  async small (request: CacheRequest, what: string): Promise<Uint8Array> {
    this.authorize(request)
    return await readBody(request, MAX_SMALL_UPLOAD_BYTES, what)
  }
}
