/**
 * Import store paths from another binary cache into the castore (`storeswarm import
 * --from-cache`): narinfo → signature check → NAR (decompressed as its `Compression` says) →
 * castore, which verifies NarHash and NarSize before the path becomes valid. With `closure`,
 * references are followed; paths are imported dependencies first, so a failure half-way
 * leaves every imported path with its references present.
 *
 * Trust (binary-cache.md §2.5): a narinfo is accepted when one `Sig` verifies against
 * `trustedKeys` or its `CA` recomputes the store path — as Nix with `require-sigs`. FileHash /
 * FileSize, when given, are checked on the compressed bytes before the NAR's end is reached, so
 * a mismatch aborts the import before anything is committed.
 *
 * ERIS (content-addressing.md §4): a narinfo may carry an `ERIS:` field, the read capability of
 * the uncompressed NAR (storeswarm nodes add it). When its `URL` is missing, or fetching the NAR
 * from it fails, the NAR is decoded block by block from an ERIS store instead (`erisStore`;
 * default: the cache's own base URL, since storeswarm nodes serve `/uri-res/N2R`) and checked
 * against NarHash / NarSize like any other. The `ERIS:` field is not signed: a wrong capability
 * only yields bytes that fail those checks.
 */
import { createHash } from 'node:crypto'
import type { AbortOptions } from '../abort.ts'
import type { Castore } from '../castore/index.ts'
import { toHex } from '../castore/index.ts'
import { NIX_STORE_DIR } from '../nix/constants.ts'
import { renderContentAddress } from '../nix/content-address.ts'
import { parseNarInfo } from '../nix/narinfo.ts'
import { NarInfoParseError } from '../nix/errors.ts'
import { parseErisUrn } from '../eris/capability.ts'
import { decodeEris } from '../eris/decode.ts'
import type { ErisBlockStore } from '../eris/block-store.ts'
import { createHttpBlockStore } from '../eris/http-store.ts'
import type { NarInfo } from '../nix/narinfo.ts'
import { verifyNarInfo } from '../nix/signing.ts'
import type { PublicKey } from '../nix/signing.ts'
import { StorePath } from '../nix/store-path.ts'
import { CacheImportError } from './errors.ts'
import { decompress } from './decompress.ts'
import type { Decompressors } from './decompress.ts'
import type { BinaryCacheSource } from './cache-source.ts'

export interface ImportProgress {
  phase: 'narinfo' | 'nar' | 'done'
  storePath: string
  /** 1-based index of the NAR being imported, and how many will be */
  index: number
  total: number
  /** compressed bytes received of this NAR, and its FileSize when known */
  bytes: number
  fileSize?: number
}

export interface ImportFromCacheOptions extends AbortOptions {
  castore: Castore
  source: BinaryCacheSource
  /** full store paths, base names or hash parts */
  paths: string[]
  closure?: boolean
  trustedKeys?: PublicKey[]
  /** accept narinfos without a trusted signature or CA (default false) */
  noCheckSigs?: boolean
  /** store dir (default: the cache's `StoreDir`, else /nix/store) */
  storeDir?: string
  decompressors?: Decompressors
  onProgress?: (progress: ImportProgress) => void
  /**
   * Where to fetch the NAR of a narinfo with an `ERIS:` field whose URL is missing or fails: an
   * HTTP ERIS store (N2R base URL) or a block store. Default: the cache's URL when it is http(s).
   * `false`: never use ERIS.
   */
  erisStore?: string | ErisBlockStore | false
}

export interface ImportFromCacheResult {
  imported: string[]
  alreadyValid: string[]
}

async function cacheStoreDir (source: BinaryCacheSource, options: AbortOptions): Promise<string | undefined> {
  const info = await source.get('nix-cache-info', options)
  if (info === undefined) return undefined
  for (const line of Buffer.from(info).toString('utf8').split('\n')) {
    const m = /^StoreDir:\s*(\S+)\s*$/.exec(line)
    if (m !== null) return m[1]
  }
  return undefined
}

function hashPartOf (path: string, storeDir: string): StorePath | string {
  if (/^[0-9a-df-np-sv-z]{32}$/.test(path)) return path
  try {
    return path.startsWith('/') ? StorePath.parse(path, storeDir) : StorePath.fromBaseName(path, storeDir)
  } catch (err: any) {
    throw new CacheImportError(`${path}: ${err.message}`)
  }
}

/** The narinfo's `ERIS:` read capability, when present and well-formed. */
function erisUrnOf (info: NarInfo): string | undefined {
  const value = info.unknownFields?.find(f => f.key === 'ERIS')?.value.trim()
  if (value === undefined) return undefined
  try {
    parseErisUrn(value)
    return value
  } catch {
    return undefined
  }
}

function aborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

/** The narinfo URL placeholder of an ERIS-only narinfo (never fetched). */
const NO_URL = '\0no-url'

/** Parses a narinfo; one without `URL` but with `ERIS:` is accepted (its url is `NO_URL`). */
function parseNarInfoMaybeErisOnly (text: Uint8Array, storeDir: string): NarInfo {
  try {
    return parseNarInfo(text, { storeDir })
  } catch (err) {
    if (!(err instanceof NarInfoParseError) || err.key !== 'URL') throw err
    const str = Buffer.from(text).toString('utf8')
    if (!/^ERIS:/m.test(str)) throw err
    const info = parseNarInfo(`${str.endsWith('\n') ? str : str + '\n'}URL: nar/eris-only\n`, { storeDir })
    if (erisUrnOf(info) === undefined) throw err
    return { ...info, url: NO_URL }
  }
}

function defaultErisStore (options: ImportFromCacheOptions): ErisBlockStore | undefined {
  const given = options.erisStore
  if (given === false) return undefined
  if (given !== undefined) return typeof given === 'string' ? createHttpBlockStore({ baseUrl: given }) : given
  return /^https?:\/\//i.test(options.source.url) ? createHttpBlockStore({ baseUrl: options.source.url }) : undefined
}

export async function importFromCache (options: ImportFromCacheOptions): Promise<ImportFromCacheResult> {
  const { castore, source, signal } = options
  const erisStore = defaultErisStore(options)
  const storeDir = options.storeDir ?? await cacheStoreDir(source, { signal }) ?? NIX_STORE_DIR
  const trusted = options.trustedKeys ?? []
  const infos = new Map<string, NarInfo>()
  const alreadyValid: string[] = []
  const valid = new Set<string>()

  const visit = async (wanted: StorePath | string): Promise<string | undefined> => {
    const hashPart = typeof wanted === 'string' ? wanted : wanted.hashPart
    const known = [...infos.values()].find(i => i.storePath.hashPart === hashPart)
    if (known !== undefined) return known.storePath.toString()
    const have = await castore.getPathInfo(hashPart, { signal })
    if (have !== undefined && (typeof wanted === 'string' || have.storePath === wanted.toString())) {
      if (!valid.has(have.storePath)) {
        valid.add(have.storePath)
        alreadyValid.push(have.storePath)
        if (options.closure === true) for (const ref of have.references) if (ref !== have.storePath) await visit(StorePath.parse(ref, storeDir))
      }
      return have.storePath
    }
    const text = await source.get(`${hashPart}.narinfo`, { signal })
    const shown = typeof wanted === 'string' ? hashPart : wanted.toString()
    if (text === undefined) throw new CacheImportError(`${shown} is not in ${source.url}`)
    let info: NarInfo
    try {
      info = parseNarInfoMaybeErisOnly(text, storeDir)
    } catch (err: any) {
      throw new CacheImportError(`${source.url}/${hashPart}.narinfo: ${err.message}`, { cause: err })
    }
    if (info.storePath.hashPart !== hashPart || (typeof wanted !== 'string' && !info.storePath.equals(wanted))) {
      throw new CacheImportError(`asked ${source.url} for ${shown} but got ${info.storePath.toString()}`)
    }
    if (options.noCheckSigs !== true && !verifyNarInfo(info, trusted)) {
      throw new CacheImportError(`${info.storePath.toString()} from ${source.url} is not signed by any trusted key (${trusted.length === 0 ? 'none given' : trusted.map(k => k.name).join(', ')}) and not content-addressed`)
    }
    infos.set(info.storePath.toString(), info)
    options.onProgress?.({ phase: 'narinfo', storePath: info.storePath.toString(), index: 0, total: 0, bytes: 0 })
    if (options.closure === true) {
      for (const ref of info.references) {
        const refPath = StorePath.fromBaseName(ref, storeDir)
        if (!refPath.equals(info.storePath)) await visit(refPath)
      }
    }
    return info.storePath.toString()
  }

  for (const p of options.paths) await visit(hashPartOf(p, storeDir))

  // dependencies first (post-order over references)
  const order: NarInfo[] = []
  const placed = new Set<string>()
  const place = (info: NarInfo, depth: number): void => {
    const path = info.storePath.toString()
    if (placed.has(path)) return
    placed.add(path)
    if (depth > 100_000) throw new CacheImportError('reference graph too deep')
    for (const ref of info.references) {
      const dep = infos.get(`${storeDir}/${ref}`)
      if (dep !== undefined) place(dep, depth + 1)
    }
    order.push(info)
  }
  for (const info of infos.values()) place(info, 0)

  const imported: string[] = []
  for (const [i, info] of order.entries()) {
    signal?.throwIfAborted()
    const storePath = info.storePath.toString()
    const progress = { phase: 'nar' as const, storePath, index: i + 1, total: order.length, bytes: 0, ...(info.fileSize !== undefined ? { fileSize: info.fileSize } : {}) }
    options.onProgress?.(progress)
    const importOptions = {
      storePath,
      references: info.references.map(r => `${storeDir}/${r}`),
      ...(info.deriver !== undefined ? { deriver: `${storeDir}/${info.deriver}` } : {}),
      signatures: info.signatures,
      ...(info.ca !== undefined ? { ca: renderContentAddress(info.ca) } : {}),
      narHash: info.narHash.digest,
      narSize: info.narSize,
      signal
    }
    const eris = erisStore === undefined ? undefined : erisUrnOf(info)
    const viaEris = async (): Promise<void> => {
      if (eris === undefined || erisStore === undefined) throw new CacheImportError(`${storePath}: no ERIS store to fetch ${eris ?? 'its NAR'} from`)
      progress.bytes = 0
      delete (progress as { fileSize?: number }).fileSize
      const nar = (async function * () {
        for await (const piece of decodeEris(eris, async (ref, o) => await erisStore.get(ref, o), { prefetch: 4, signal })) {
          progress.bytes += piece.byteLength
          options.onProgress?.(progress)
          yield piece
        }
      })()
      await castore.importNar(nar, importOptions)
    }
    if (info.url === NO_URL) {
      try {
        await viaEris()
      } catch (err: any) {
        if (signal?.aborted === true || err instanceof CacheImportError) throw err
        throw new CacheImportError(`${storePath}: fetching its NAR through ERIS failed: ${err.message}`, { cause: err })
      }
    } else {
      try {
        await importFromUrl(info, importOptions, progress)
      } catch (err: any) {
        if (signal?.aborted === true || eris === undefined) throw err
        try {
          await viaEris()
        } catch (err2: any) {
          if (aborted(signal)) throw err2
          throw new CacheImportError(`${storePath}: ${err.message}; and through ERIS: ${err2.message}`, { cause: err })
        }
      }
    }
    imported.push(storePath)
    options.onProgress?.({ ...progress, phase: 'done' })
  }
  return { imported, alreadyValid }

  async function importFromUrl (info: NarInfo, importOptions: Parameters<Castore['importNar']>[1], progress: ImportProgress): Promise<void> {
    const raw = await source.stream(info.url, { signal })
    // an uncompressed file whose FileHash is the NarHash is checked by the castore already
    const redundant = info.compression === 'none' && info.fileHash !== undefined && toHex(info.fileHash.digest) === toHex(info.narHash.digest)
    const fileHash = redundant ? undefined : info.fileHash
    const sha = createHash('sha256')
    const checked = (async function * () {
      for await (const piece of raw) {
        if (fileHash !== undefined) sha.update(piece)
        progress.bytes += piece.byteLength
        options.onProgress?.(progress)
        yield piece
      }
      if (info.fileSize !== undefined && info.fileSize !== progress.bytes) {
        throw new CacheImportError(`${info.url}: FileSize is ${info.fileSize} but ${progress.bytes} bytes arrived`)
      }
      if (fileHash?.algorithm === 'sha256') {
        const got = sha.digest('hex')
        if (got !== toHex(fileHash.digest)) throw new CacheImportError(`${info.url}: FileHash mismatch (got sha256 ${got})`)
      }
    })()
    const nar = decompress(info.compression, checked, options.decompressors ?? {}, { signal })
    await castore.importNar(nar, importOptions)
  }
}
