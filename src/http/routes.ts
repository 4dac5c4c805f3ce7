/**
 * URL → route, for both dialects. Only exact patterns match (32-char nix32 hash parts, store
 * path base names, nix32 NarHashes), so no request can name anything outside them: `..`,
 * encoded slashes, NUL bytes and the like simply match nothing (404) or are refused (400).
 *
 * Nix (binary-cache.md §3.1): `/nix-cache-info`, `/<hash>.narinfo`, `/<hash>.ls`,
 * `/nar/<hash>-<narhash>.nar[.zst]` (our NAR URLs, see nar-url.ts), `/log/<drv base name>`,
 * uploads to `/nar/<file>.nar[.ext]` (what `nix copy --to http://…` PUTs).
 * Guix (§5.1): `/nar/<base name>`, `/nar/<compression>/<base name>` (URI-encoded base names).
 */
import { NIX32_ALPHABET } from '../nix/constants.ts'

const H = `[${NIX32_ALPHABET}]`
const NAME = '[0-9A-Za-z+\\-._?=]{1,211}'
const RE_NARINFO = new RegExp(`^/(${H}{32})\\.narinfo$`)
const RE_LISTING = new RegExp(`^/(${H}{32})\\.ls$`)
const RE_NAR = new RegExp(`^/nar/(${H}{32})-(${H}{52})\\.nar(\\.zst)?$`)
const RE_UPLOAD_NAR = /^\/nar\/([0-9a-z]{1,128}\.nar(?:\.[a-z0-9]{1,8})?)$/
const RE_LOG = new RegExp(`^/log/(${H}{32}-${NAME})$`)
const RE_GUIX_NAR = new RegExp(`^/nar/(?:(none|gzip|zstd)/)?(${H}{32}-${NAME})$`)
const RE_REALISATION = /^\/realisations\/[^/]+\.doi$/

export type Route =
  | { kind: 'root' }
  | { kind: 'cache-info' }
  | { kind: 'narinfo', hashPart: string }
  | { kind: 'listing', hashPart: string }
  | { kind: 'nar', hashPart: string, narHash: string, compression: 'none' | 'zstd' }
  | { kind: 'guix-nar', baseName: string, compression: 'none' | 'gzip' | 'zstd' }
  | { kind: 'upload-nar', key: string }
  | { kind: 'log', baseName: string }
  | { kind: 'realisation' }
  | { kind: 'signing-key' }
  | { kind: 'eris-block', reference: string }
  | { kind: 'unknown' }
  | { kind: 'bad', reason: string }

export type Dialect = 'nix' | 'guix'

/** The path of a request target, percent-decoded; undefined when it cannot be decoded safely. */
export function requestPath (target: string): string | undefined {
  let path = target
  if (!path.startsWith('/')) {
    // absolute-form (`GET http://host/x HTTP/1.1`); anything else (`*`, authority-form) is bad
    try {
      const u = new URL(path)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined
      path = u.pathname
    } catch {
      return undefined
    }
  }
  const q = path.search(/[?#]/)
  if (q >= 0) path = path.slice(0, q)
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path)
    } catch {
      return undefined
    }
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(path) || path.split('/').some(s => s === '..' || s === '.')) return undefined
  return path.replace(/\/{2,}/g, '/')
}

const RE_N2R_BLOCK = /^urn(?::|%3[Aa])blake2b(?::|%3[Aa])([A-Z2-7]{52})$/

export function route (dialect: Dialect, target: string): Route {
  const path = requestPath(target)
  if (path === undefined) return { kind: 'bad', reason: 'malformed request path' }
  if (path === '/uri-res/N2R') {
    // ERIS blocks over HTTP (RFC 2169 N2R, content-addressing.md §4.4): the query is the URN
    const query = target.slice(target.indexOf('?') + 1)
    const m = target.includes('?') ? RE_N2R_BLOCK.exec(query) : null
    return m === null ? { kind: 'bad', reason: 'N2R needs ?urn:blake2b:<52 base32 characters>' } : { kind: 'eris-block', reference: m[1] }
  }
  if (path === '/' || path === '') return { kind: 'root' }
  if (path === '/nix-cache-info') return { kind: 'cache-info' }
  let m = RE_NARINFO.exec(path)
  if (m !== null) return { kind: 'narinfo', hashPart: m[1] }
  m = RE_LOG.exec(path)
  if (m !== null) return { kind: 'log', baseName: m[1] }
  if (dialect === 'nix') {
    m = RE_NAR.exec(path)
    if (m !== null) return { kind: 'nar', hashPart: m[1], narHash: m[2], compression: m[3] === undefined ? 'none' : 'zstd' }
    m = RE_LISTING.exec(path)
    if (m !== null) return { kind: 'listing', hashPart: m[1] }
    m = RE_UPLOAD_NAR.exec(path)
    if (m !== null) return { kind: 'upload-nar', key: `nar/${m[1]}` }
    if (RE_REALISATION.test(path)) return { kind: 'realisation' }
  } else {
    m = RE_GUIX_NAR.exec(path)
    if (m !== null) return { kind: 'guix-nar', baseName: m[2], compression: (m[1] ?? 'none') as 'none' | 'gzip' | 'zstd' }
    if (path === '/signing-key.pub') return { kind: 'signing-key' }
  }
  return { kind: 'unknown' }
}
