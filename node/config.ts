/**
 * The node's configuration: ONE schema (`SETTINGS`, `UPSTREAM_FIELDS`) from which the TOML file
 * parser, the `STORESWARM_*` environment, the serve flags, `storeswarm config show` and the
 * README reference are all derived. Precedence: flags > environment > file > embedded defaults.
 *
 * The parsing functions are pure (`parseConfigText`, `resolveConfig` with `fileText`), so a
 * fuzzer can call them; only `resolveConfig` without `fileText` reads the file system. This
 * module (with the rest of node/) is the only place that reads the environment.
 */
import { homedir, tmpdir } from 'node:os'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { multiaddr } from '@multiformats/multiaddr'
import { parsePublicKey } from '../src/nix/signing.ts'
import { CACHE_NIXOS_ORG_KEY } from '../src/nix/constants.ts'
import type { UpstreamConfig } from '../src/upstream/types.ts'
import type { ServeOptions } from './serve.ts'

/* ------------------------------------------------------------------------ */
/* Errors and sources                                                        */
/* ------------------------------------------------------------------------ */

export type ConfigOrigin = 'default' | 'file' | 'env' | 'flag'

/** Where a value came from. */
export type ConfigSource =
  | { kind: 'default' }
  | { kind: 'file', file: string, line?: number }
  | { kind: 'env', name: string }
  | { kind: 'flag', name: string }

/** A bad configuration value or key; `origin` says whether a flag (a usage error), the environment or the file is to blame. */
export class ConfigError extends Error {
  static override name = 'ConfigError'
  override name = 'ConfigError'
  readonly origin: ConfigOrigin
  constructor (message: string, origin: ConfigOrigin) {
    super(message)
    this.origin = origin
  }
}

export function describeSource (s: ConfigSource): string {
  switch (s.kind) {
    case 'default': return 'default'
    case 'file': return s.line === undefined ? s.file : `${s.file}:${s.line}`
    case 'env': return `$${s.name}`
    case 'flag': return `--${s.name}`
  }
}

/* ------------------------------------------------------------------------ */
/* Value types                                                               */
/* ------------------------------------------------------------------------ */

export type ValueType = 'string' | 'path' | 'boolean' | 'integer' | 'size' | 'duration' | 'enum' | 'listen' | 'multiaddrs' | 'public-keys' | 'url'

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `50G`, `512M`, `1.5T`, `4096` (bytes); K/M/G/T are powers of 1024, an `iB`/`B` suffix is allowed. */
export function parseSize (text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text)
  if (m === null) return undefined
  const n = Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()])
  return Number.isSafeInteger(n) ? n : undefined
}

/** `3s`, `500ms`, `10m`, `1h`, `1d` → milliseconds. */
export function parseDuration (text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text)
  if (m === null) return undefined
  const n = Math.round(Number(m[1]) * DURATION_UNITS[m[2]])
  return Number.isSafeInteger(n) ? n : undefined
}

export function formatSize (bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K']) {
    if (bytes !== 0 && bytes % SIZE_UNITS[unit] === 0) return `${bytes / SIZE_UNITS[unit]}${unit}`
  }
  return String(bytes)
}

export function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's']) {
    if (ms !== 0 && ms % DURATION_UNITS[unit] === 0) return `${ms / DURATION_UNITS[unit]}${unit}`
  }
  return `${ms}ms`
}

/** `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT` (the forms serve's parseListen accepts). */
function validListen (text: string): boolean {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*))?:?(\d{1,5})$/.exec(text)
  return m !== null && Number(m[3]) <= 65535
}

/* ------------------------------------------------------------------------ */
/* The schema                                                                */
/* ------------------------------------------------------------------------ */

export interface Setting {
  /** dotted key, e.g. `http.listen` (`data-dir` at the top level) */
  key: string
  type: ValueType
  /** the embedded default (typed: bytes, ms, string[] …); undefined = unset */
  default?: unknown
  /** how the default reads in docs when it depends on the environment */
  defaultText?: string
  description: string
  /** enum values */
  choices?: readonly string[]
  /** the serve flag that sets it (parseArgs name, without `--`) and its value placeholder */
  flag?: string
  flagArg?: string
  /** a boolean flag that sets it to false (e.g. `no-daemon`) */
  negFlag?: string
  /** lowest value of an integer */
  min?: number
  max?: number
}

/** The environment variable of a key: `STORESWARM_<SECTION>_<KEY>`. */
export function envName (key: string): string {
  return 'STORESWARM_' + key.replace(/[.-]/g, '_').toUpperCase()
}

export const DEFAULT_HTTP_LISTEN = '127.0.0.1:37515'

export const SETTINGS: readonly Setting[] = [
  { key: 'data-dir', type: 'path', defaultText: '$XDG_DATA_HOME/storeswarm, else ~/.local/share/storeswarm', description: 'where the node keeps its store, keys and caches', flag: 'data-dir', flagArg: 'DIR' },
  { key: 'http.listen', type: 'listen', default: DEFAULT_HTTP_LISTEN, description: 'HOST:PORT of the Nix binary cache (0.0.0.0:37515 serves the LAN)', flag: 'http', flagArg: 'HOST:PORT' },
  { key: 'http.guix-listen', type: 'listen', description: 'HOST:PORT of the Guix substitute server (StoreDir /gnu/store); unset: none', flag: 'http-guix', flagArg: 'HOST:PORT' },
  { key: 'http.priority', type: 'integer', default: 30, min: 0, max: 1_000_000, description: 'nix-cache-info Priority (cache.nixos.org is 40; lower is tried first)', flag: 'priority', flagArg: 'N' },
  { key: 'http.compression', type: 'enum', choices: ['none', 'zstd'], default: 'none', description: 'NARs offered uncompressed, or zstd (compressed once, cached)', flag: 'compression', flagArg: 'none|zstd' },
  { key: 'http.sign', type: 'enum', choices: ['all', 'unsigned', 'none'], default: 'all', description: "add the node's signature to every narinfo, only to paths without one, or never", flag: 'sign', flagArg: 'all|unsigned|none' },
  { key: 'http.key-name', type: 'string', defaultText: 'storeswarm-<hostname>-1', description: 'name of the Nix signing key generated on first start', flag: 'key-name', flagArg: 'NAME' },
  { key: 'http.secret-key-file', type: 'path', description: 'sign with this Nix secret key instead of the generated one', flag: 'nix-secret-key-file', flagArg: 'FILE' },
  { key: 'http.allow-uploads', type: 'boolean', default: false, description: 'accept `nix copy --to http://…` (loopback clients, and token holders)', flag: 'allow-uploads' },
  { key: 'http.upload-token-file', type: 'path', description: 'file whose first line is the upload token (also --upload-token, $STORESWARM_UPLOAD_TOKEN)', flag: 'upload-token-file', flagArg: 'FILE' },
  { key: 'http.loopback-uploads', type: 'boolean', default: true, description: 'loopback clients may upload without the token', negFlag: 'no-loopback-uploads' },
  { key: 'http.max-upload-size', type: 'size', default: 64 * 1024 ** 3, description: 'largest NAR upload', flag: 'max-upload-size', flagArg: 'SIZE' },
  { key: 'http.nar-cache-size', type: 'size', default: 4 * 1024 ** 3, description: 'bound of the compressed-NAR cache', flag: 'nar-cache-size', flagArg: 'SIZE' },
  { key: 'http.verify-nars', type: 'boolean', default: false, description: 're-hash every NAR served in full (costs throughput)', flag: 'verify-nars' },
  { key: 'http.status-remote', type: 'boolean', default: false, description: 'show the status page `/` and `/status.json` to non-loopback clients too (they name peers, paths and local files)', flag: 'status-remote' },
  { key: 'daemon.enabled', type: 'boolean', default: true, description: 'serve the Nix daemon protocol on a Unix socket', negFlag: 'no-daemon' },
  { key: 'daemon.socket', type: 'path', defaultText: '$XDG_RUNTIME_DIR/storeswarm/daemon.sock', description: 'the Nix daemon protocol socket (the default is skipped with a warning when in use)', flag: 'daemon-socket', flagArg: 'PATH' },
  { key: 'daemon.guix-socket', type: 'path', description: 'a Guix daemon protocol socket; unset: none', flag: 'guix-daemon-socket', flagArg: 'PATH' },
  { key: 'daemon.trusted-public-keys', type: 'public-keys', default: [CACHE_NIXOS_ORG_KEY], description: 'keys whose signatures make daemon uploads valid', flag: 'trusted-public-keys', flagArg: "'NAME:KEY …'" },
  { key: 'daemon.trust-clients', type: 'boolean', default: false, description: 'every client of the daemon socket is a trusted user', flag: 'trust-clients' },
  { key: 'p2p.enabled', type: 'boolean', default: true, description: 'join the peer-to-peer swarm', negFlag: 'no-p2p' },
  { key: 'p2p.listen', type: 'multiaddrs', default: ['/ip4/0.0.0.0/tcp/0'], description: 'multiaddrs the swarm listens on', flag: 'listen', flagArg: 'MULTIADDR' },
  { key: 'p2p.bootstrap', type: 'multiaddrs', default: [], description: 'peers to join the swarm through', flag: 'bootstrap', flagArg: 'MULTIADDR' },
  { key: 'p2p.mdns', type: 'boolean', default: false, description: 'find peers on the LAN with mDNS (tells the LAN you run storeswarm)', flag: 'mdns' },
  { key: 'p2p.upnp', type: 'boolean', default: false, description: 'ask the router to forward the listen port', flag: 'upnp' },
  { key: 'p2p.referral-copies', type: 'integer', default: 2, min: 0, max: 64, description: 'copies of a piece sent to peers before further requesters are referred to them (0: always serve; a seeder keeps its upload near this many closures)' },
  { key: 'p2p.trusted-public-keys', type: 'public-keys', default: [], description: 'accept path infos from peers signed by these keys (also trusted for daemon uploads)', flag: 'trusted-public-key', flagArg: 'NAME:KEY' },
  { key: 'eris.enabled', type: 'boolean', default: true, description: 'compute ERIS capabilities of paths in the background', negFlag: 'no-eris' },
  { key: 'gc.max-size', type: 'size', description: 'keep the store under this size (LRU, unpinned paths only); unset: no automatic GC', flag: 'max-size', flagArg: 'SIZE' },
  { key: 'gc.interval', type: 'duration', default: 600_000, description: 'how often automatic GC checks the store size', flag: 'gc-interval', flagArg: 'DURATION' },
  { key: 'log.format', type: 'enum', choices: ['text', 'json'], default: 'text', description: 'log lines as text, or one JSON object per line {time, level, msg, …}', flag: 'log-format', flagArg: 'text|json' },
  { key: 'log.requests', type: 'boolean', default: false, description: 'one log line per HTTP request', flag: 'log-requests' }
]

/** Fields of one `[[upstream]]` table. */
export const UPSTREAM_FIELDS: readonly Setting[] = [
  { key: 'url', type: 'url', description: 'base URL of the binary cache (required)', flag: 'upstream', flagArg: 'URL' },
  { key: 'public-keys', type: 'public-keys', default: [], description: "keys the upstream's narinfos must be signed with", flag: 'upstream-public-key', flagArg: 'NAME:KEY' },
  { key: 'timeout', type: 'duration', default: 3000, description: 'the longest one narinfo request may take', flag: 'upstream-timeout', flagArg: 'DURATION' },
  { key: 'store-dir', type: 'enum', choices: ['/nix/store', '/gnu/store'], default: '/nix/store', description: 'the store the cache serves (/gnu/store for a Guix cache)' }
]

export const UPSTREAM_ENV = { urls: 'STORESWARM_UPSTREAM_URLS', publicKeys: 'STORESWARM_UPSTREAM_PUBLIC_KEYS' } as const

const BY_KEY = new Map(SETTINGS.map(s => [s.key, s]))
const SECTIONS = new Set(SETTINGS.filter(s => s.key.includes('.')).map(s => s.key.slice(0, s.key.indexOf('.'))))
const ENV_TO_KEY = new Map(SETTINGS.map(s => [envName(s.key), s.key]))

/** `STORESWARM_*` names read elsewhere (not config keys): never reported as unknown. */
export const OTHER_ENV = new Set(['STORESWARM_UPLOAD_TOKEN', 'STORESWARM_DEBUG', 'STORESWARM_FIXTURES', 'STORESWARM_NATIVE_VERBOSE', 'STORESWARM_SKIP_NATIVE', UPSTREAM_ENV.urls, UPSTREAM_ENV.publicKeys])

/** The parseArgs options of every serve flag derived from the schema (plus `--config` and the upstream flags). */
export function configArgOptions (): Record<string, { type: 'string' | 'boolean', multiple?: boolean }> {
  const out: Record<string, { type: 'string' | 'boolean', multiple?: boolean }> = { config: { type: 'string' } }
  for (const s of [...SETTINGS, ...UPSTREAM_FIELDS]) {
    if (s.negFlag !== undefined) out[s.negFlag] = { type: 'boolean' }
    if (s.flag === undefined) continue
    const list = s.type === 'multiaddrs' || s.type === 'public-keys' || s.key === 'url'
    out[s.flag] = s.type === 'boolean' ? { type: 'boolean' } : list ? { type: 'string', multiple: true } : { type: 'string' }
  }
  return out
}

/* ------------------------------------------------------------------------ */
/* Converting raw values                                                     */
/* ------------------------------------------------------------------------ */

function expectation (s: Setting): string {
  switch (s.type) {
    case 'string': return 'a string'
    case 'path': return 'a path'
    case 'boolean': return 'true or false'
    case 'integer': return `an integer${s.min !== undefined ? ` from ${s.min}` : ''}${s.max !== undefined ? ` to ${s.max}` : ''}`
    case 'size': return 'a size like 4096, 512M, 50G or 1.5T'
    case 'duration': return 'a duration like 500ms, 3s, 10m or 1h'
    case 'enum': return (s.choices ?? []).join(' | ')
    case 'listen': return 'HOST:PORT (port 0–65535), e.g. 127.0.0.1:37515'
    case 'multiaddrs': return 'a list of multiaddrs, e.g. /ip4/0.0.0.0/tcp/0'
    case 'public-keys': return 'a list of NAME:BASE64KEY public keys'
    case 'url': return 'an http://, https:// or file:// URL'
  }
}

interface Where { source: ConfigSource, key: string }

function fail (where: Where, raw: unknown, s: Setting, detail?: string): never {
  const shown = typeof raw === 'string' ? JSON.stringify(raw) : Array.isArray(raw) || typeof raw === 'object' ? JSON.stringify(raw) : String(raw)
  const origin = where.source.kind
  throw new ConfigError(`${describeSource(where.source)}: ${where.key} = ${shown}: ${detail !== undefined ? detail + '; ' : ''}expected ${expectation(s)}`, origin)
}

function expandPath (text: string, base: string | undefined): string {
  if (text === '~') return homedir()
  if (text.startsWith('~/')) return join(homedir(), text.slice(2))
  return base === undefined ? resolve(text) : resolve(base, text)
}

/**
 * Converts one raw value (a TOML value, or a string from the environment or a flag) to the
 * setting's typed value. `base` resolves relative paths (the config file's directory).
 */
export function convertValue (s: Setting, raw: unknown, where: Where, base?: string): unknown {
  const fromText = where.source.kind !== 'file'
  switch (s.type) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') fail(where, raw, s)
      return raw
    case 'path':
      if (typeof raw !== 'string' || raw === '' || raw.includes('\0')) fail(where, raw, s)
      return expandPath(raw, base)
    case 'boolean':
      if (typeof raw === 'boolean') return raw
      if (fromText && typeof raw === 'string') {
        const t = raw.trim().toLowerCase()
        if (['true', '1', 'yes', 'on'].includes(t)) return true
        if (['false', '0', 'no', 'off'].includes(t)) return false
      }
      return fail(where, raw, s)
    case 'integer': {
      let n: number | undefined
      if (typeof raw === 'number' || typeof raw === 'bigint') n = Number(raw)
      else if (fromText && typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw)) n = Number(raw)
      if (n === undefined || !Number.isSafeInteger(n) || (s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) fail(where, raw, s)
      return n
    }
    case 'size': {
      const n = typeof raw === 'number' || typeof raw === 'bigint' ? Number(raw) : typeof raw === 'string' ? parseSize(raw) : undefined
      if (n === undefined || !Number.isSafeInteger(n) || n < 0) fail(where, raw, s)
      return n
    }
    case 'duration': {
      const n = typeof raw === 'string' ? parseDuration(raw) : undefined
      if (n === undefined) fail(where, raw, s)
      return n
    }
    case 'enum':
      if (typeof raw !== 'string' || !(s.choices ?? []).includes(raw)) fail(where, raw, s)
      return raw
    case 'listen':
      if (typeof raw !== 'string' || !validListen(raw)) fail(where, raw, s)
      return raw
    case 'url': {
      if (typeof raw !== 'string') fail(where, raw, s)
      let u: URL
      try { u = new URL(raw) } catch { return fail(where, raw, s) }
      if (!['http:', 'https:', 'file:'].includes(u.protocol)) fail(where, raw, s)
      return raw.replace(/([^/])\/+$/, '$1')
    }
    case 'multiaddrs':
    case 'public-keys': {
      const items = listItems(raw, where, s)
      for (const item of items) {
        try {
          if (s.type === 'multiaddrs') multiaddr(item)
          else parsePublicKey(item)
        } catch (err: any) {
          fail(where, item, s, err?.message)
        }
      }
      return items
    }
  }
}

function listItems (raw: unknown, where: Where, s: Setting): string[] {
  // environment: comma-separated; flags: repeated (each may hold a space-separated list, Nix's form)
  if (typeof raw === 'string' && where.source.kind !== 'file') return raw.split(where.source.kind === 'env' ? /[,\s]+/ : /\s+/).filter(x => x !== '')
  if (Array.isArray(raw) && where.source.kind === 'flag') return raw.flatMap(x => String(x).split(/\s+/)).filter(x => x !== '')
  if (!Array.isArray(raw) || raw.some(x => typeof x !== 'string')) fail(where, raw, s)
  return raw as string[]
}

/* ------------------------------------------------------------------------ */
/* The config file                                                           */
/* ------------------------------------------------------------------------ */

export interface ConfigValue { value: unknown, source: ConfigSource }

export interface UpstreamEntry extends UpstreamConfig {
  source: ConfigSource
}

export interface ParsedConfigFile {
  /** dotted key → typed value */
  settings: Map<string, ConfigValue>
  upstreams?: UpstreamEntry[]
}

/** The 1-based line of `key` in `[section]` (or the `index`-th `[[section]]`), when a simple scan finds it. */
function findLine (lines: string[], section: string | undefined, key: string | undefined, index = 0): number | undefined {
  let current: string | undefined
  let seen = -1
  const esc = (t: string): string => t.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const header = /^\s*\[(\[)?\s*([^\]]+?)\s*\]\]?/.exec(line)
    if (header !== null) {
      current = header[2].replace(/["']/g, '')
      if (current === section) {
        seen++
        if (key === undefined && seen === index) return i + 1
      }
      continue
    }
    if (key === undefined) continue
    const k = esc(key)
    if (current === section && (section === undefined || seen === index) && new RegExp(`^\\s*["']?${k}["']?\\s*=`).test(line)) return i + 1
    if (current === undefined && section !== undefined && new RegExp(`^\\s*["']?${esc(section)}["']?\\s*\\.\\s*["']?${k}["']?\\s*=`).test(line)) return i + 1
    if (current === undefined && section !== undefined && index === 0 && new RegExp(`^\\s*["']?${esc(section)}["']?\\s*=`).test(line)) return i + 1
  }
  return undefined
}

/**
 * Parses and validates a config file's text (pure). `source` names it in errors (`FILE:LINE`).
 * Relative paths in it are resolved against `source`'s directory.
 */
export function parseConfigText (text: string, source: string): ParsedConfigFile {
  let doc: Record<string, unknown>
  try {
    doc = parseToml(text) as Record<string, unknown>
  } catch (err: any) {
    const where = typeof err?.line === 'number' ? `${source}:${err.line}:${err.column}` : source
    throw new ConfigError(`${where}: ${String(err?.message ?? err).split('\n')[0]}`, 'file')
  }
  const lines = text.split(/\r?\n/)
  const base = dirname(resolve(source))
  const at = (section: string | undefined, key: string | undefined, index?: number): ConfigSource => ({ kind: 'file', file: source, line: findLine(lines, section, key, index) })
  // a top-level name: `name = …` or a `[name]` header
  const atTop = (name: string): ConfigSource => ({ kind: 'file', file: source, line: findLine(lines, undefined, name) ?? findLine(lines, name, undefined) })
  const settings = new Map<string, ConfigValue>()
  let upstreams: UpstreamEntry[] | undefined
  const sectionKeys = (sec: string): string => SETTINGS.filter(s => s.key.startsWith(sec + '.')).map(s => s.key.slice(sec.length + 1)).join(', ')
  for (const [name, value] of Object.entries(doc)) {
    if (name === 'upstream') {
      const list = Array.isArray(value) ? value : [value]
      upstreams = list.map((entry, i) => parseUpstream(entry, i, at, base))
      continue
    }
    const top = BY_KEY.get(name)
    if (top !== undefined) {
      const src = at(undefined, name)
      settings.set(name, { value: convertValue(top, value, { source: src, key: name }, base), source: src })
      continue
    }
    if (!SECTIONS.has(name)) {
      throw new ConfigError(`${describeSource(atTop(name))}: unknown key ${JSON.stringify(name)}; expected one of data-dir, ${[...SECTIONS].map(s => `[${s}]`).join(', ')}, [[upstream]]`, 'file')
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Date) {
      throw new ConfigError(`${describeSource(atTop(name))}: ${name} must be a table ([${name}])`, 'file')
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const key = `${name}.${k}`
      const s = BY_KEY.get(key)
      const src = at(name, k)
      if (s === undefined) throw new ConfigError(`${describeSource(src)}: unknown key ${JSON.stringify(key)}; [${name}] has ${sectionKeys(name)}`, 'file')
      settings.set(key, { value: convertValue(s, v, { source: src, key }, base), source: src })
    }
  }
  return { settings, upstreams }
}

const UPSTREAM_BY_KEY = new Map(UPSTREAM_FIELDS.map(s => [s.key, s]))

function parseUpstream (entry: unknown, i: number, at: (section: string | undefined, key: string | undefined, index?: number) => ConfigSource, base: string): UpstreamEntry {
  const head = at('upstream', undefined, i)
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new ConfigError(`${describeSource(head)}: upstream must be an array of tables ([[upstream]] with url = …)`, 'file')
  }
  const fields = new Map<string, unknown>()
  for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
    const s = UPSTREAM_BY_KEY.get(k)
    const src = at('upstream', k, i)
    if (s === undefined) throw new ConfigError(`${describeSource(src)}: unknown key ${JSON.stringify(`upstream.${k}`)}; [[upstream]] has ${UPSTREAM_FIELDS.map(f => f.key).join(', ')}`, 'file')
    fields.set(k, convertValue(s, v, { source: src, key: `upstream[${i}].${k}` }, base))
  }
  if (!fields.has('url')) throw new ConfigError(`${describeSource(head)}: upstream[${i}] has no url; expected url = "https://…"`, 'file')
  return {
    url: fields.get('url') as string,
    publicKeys: (fields.get('public-keys') as string[] | undefined) ?? [],
    timeoutMs: (fields.get('timeout') as number | undefined) ?? (UPSTREAM_BY_KEY.get('timeout')!.default as number),
    storeDir: (fields.get('store-dir') as string | undefined) ?? '/nix/store',
    source: head
  }
}

/* ------------------------------------------------------------------------ */
/* Resolution: flags > environment > file > defaults                        */
/* ------------------------------------------------------------------------ */

export interface ResolvedConfig {
  /** the config file that was read, if any */
  file?: string
  /** every schema key → its effective value (undefined = unset) and where it came from */
  settings: Map<string, ConfigValue>
  upstreams: UpstreamEntry[]
}

export interface ResolveOptions {
  /** parseArgs values of the command (flag names as in the schema; `config`, `data-dir`, …) */
  flags?: Record<string, unknown>
  env?: NodeJS.ProcessEnv
  /** `--config FILE`: must exist. Undefined: the default location, which may be missing. */
  configPath?: string
  /** the file's text, instead of reading `configPath` (for fuzzers and tests) */
  fileText?: string
}

function nonEmpty (v: string | undefined): v is string {
  return v !== undefined && v !== ''
}

/** `$XDG_CONFIG_HOME/storeswarm/config.toml`, else `~/.config/storeswarm/config.toml`. */
export function defaultConfigPath (env: NodeJS.ProcessEnv = process.env): string {
  const base = nonEmpty(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(homedir(), '.config')
  return join(base, 'storeswarm', 'config.toml')
}

function defaultDataDir (env: NodeJS.ProcessEnv): string {
  const xdg = nonEmpty(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share')
  return join(xdg, 'storeswarm')
}

function defaultDaemonSocket (env: NodeJS.ProcessEnv): string {
  if (nonEmpty(env.XDG_RUNTIME_DIR)) return join(env.XDG_RUNTIME_DIR, 'storeswarm', 'daemon.sock')
  return join(tmpdir(), `storeswarm-${typeof process.getuid === 'function' ? process.getuid() : 'user'}`, 'daemon.sock')
}

/** Reads (or takes) the config file; undefined when the default file is absent. */
function loadFile (options: ResolveOptions, env: NodeJS.ProcessEnv): { path: string, parsed: ParsedConfigFile } | undefined {
  const explicit = options.configPath !== undefined
  const path = explicit ? resolve(options.configPath!) : defaultConfigPath(env)
  let text = options.fileText
  if (text === undefined) {
    try {
      text = readFileSync(path, 'utf8')
    } catch (err: any) {
      if (err?.code === 'ENOENT' && !explicit) return undefined
      const why = err?.code === 'ENOENT' ? 'no such file' : err?.message ?? String(err)
      throw new ConfigError(`${explicit ? '--config ' : ''}${options.configPath ?? path}: ${why}`, 'file')
    }
  }
  return { path, parsed: parseConfigText(text, options.configPath ?? path) }
}

/** Levenshtein distance (short strings). */
function distance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]
}

/** Checks for `STORESWARM_*` variables that look like config keys but are none. */
function checkEnv (env: NodeJS.ProcessEnv): void {
  const prefixes = ['DATA', ...[...SECTIONS, 'upstream'].map(s => s.toUpperCase() + '_')]
  for (const name of Object.keys(env)) {
    if (!name.startsWith('STORESWARM_') || ENV_TO_KEY.has(name) || OTHER_ENV.has(name)) continue
    const rest = name.slice('STORESWARM_'.length)
    if (prefixes.some(p => rest.startsWith(p))) {
      const known = [...ENV_TO_KEY.keys(), UPSTREAM_ENV.urls, UPSTREAM_ENV.publicKeys]
      const near = known.map(k => [k, distance(k, name)] as const).sort((a, b) => a[1] - b[1])[0]
      throw new ConfigError(`$${name}: unknown configuration variable${near[1] <= 3 ? ` (did you mean $${near[0]}?)` : ''}; expected a STORESWARM_<SECTION>_<KEY> of \`storeswarm config reference\``, 'env')
    }
  }
}

/** flags that contradict each other */
const FLAG_CONFLICTS: ReadonlyArray<[string, string]> = [['no-daemon', 'daemon-socket']]

function flagValue (flags: Record<string, unknown>, name: string): unknown {
  const v = flags[name]
  if (v === undefined || v === false) return undefined
  if (Array.isArray(v) && v.length === 0) return undefined
  return v
}

/** The effective configuration, with the source of every value (reads the config file unless `fileText` is given). */
export function resolveConfig (options: ResolveOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env
  const flags = options.flags ?? {}
  checkEnv(env)
  for (const [a, b] of FLAG_CONFLICTS) {
    if (flagValue(flags, a) !== undefined && flagValue(flags, b) !== undefined) throw new ConfigError(`--${a} and --${b} exclude each other`, 'flag')
  }
  const configPath = options.configPath ?? (typeof flags.config === 'string' ? flags.config : undefined)
  const file = loadFile({ ...options, configPath }, env)
  const settings = new Map<string, ConfigValue>()
  for (const s of SETTINGS) {
    let chosen: ConfigValue = { value: s.default, source: { kind: 'default' } }
    if (s.key === 'data-dir') chosen.value = defaultDataDir(env)
    if (s.key === 'daemon.socket') chosen.value = defaultDaemonSocket(env)
    const fromFile = file?.parsed.settings.get(s.key)
    if (fromFile !== undefined) chosen = fromFile
    const envVar = envName(s.key)
    if (nonEmpty(env[envVar])) {
      const source: ConfigSource = { kind: 'env', name: envVar }
      chosen = { value: convertValue(s, env[envVar], { source, key: s.key }), source }
    }
    const neg = s.negFlag !== undefined ? flagValue(flags, s.negFlag) : undefined
    const pos = s.flag !== undefined ? flagValue(flags, s.flag) : undefined
    if (neg !== undefined && pos !== undefined) {
      throw new ConfigError(`--${s.negFlag} and --${s.flag} exclude each other`, 'flag')
    }
    if (neg === true) chosen = { value: false, source: { kind: 'flag', name: s.negFlag! } }
    if (pos !== undefined) {
      const source: ConfigSource = { kind: 'flag', name: s.flag! }
      chosen = { value: convertValue(s, pos, { source, key: s.key }), source }
    }
    settings.set(s.key, chosen)
  }
  return { file: file === undefined ? undefined : (configPath ?? file.path), settings, upstreams: resolveUpstreams(flags, env, file?.parsed.upstreams) }
}

function resolveUpstreams (flags: Record<string, unknown>, env: NodeJS.ProcessEnv, fromFile: UpstreamEntry[] | undefined): UpstreamEntry[] {
  const [urlField, keysField, timeoutField] = ['url', 'public-keys', 'timeout'].map(k => UPSTREAM_BY_KEY.get(k)!)
  const defaultTimeout = timeoutField.default as number
  let list = fromFile ?? []
  if (nonEmpty(env[UPSTREAM_ENV.urls])) {
    const src: ConfigSource = { kind: 'env', name: UPSTREAM_ENV.urls }
    const keySrc: ConfigSource = { kind: 'env', name: UPSTREAM_ENV.publicKeys }
    const keys = nonEmpty(env[UPSTREAM_ENV.publicKeys]) ? convertValue(keysField, env[UPSTREAM_ENV.publicKeys], { source: keySrc, key: 'upstream.public-keys' }) as string[] : []
    list = env[UPSTREAM_ENV.urls]!.split(/[,\s]+/).filter(u => u !== '').map(u => ({
      url: convertValue(urlField, u, { source: src, key: 'upstream.url' }) as string,
      publicKeys: keys,
      timeoutMs: defaultTimeout,
      storeDir: '/nix/store',
      source: src
    }))
  } else if (nonEmpty(env[UPSTREAM_ENV.publicKeys])) {
    throw new ConfigError(`$${UPSTREAM_ENV.publicKeys}: set without $${UPSTREAM_ENV.urls}; expected both (the keys apply to those URLs)`, 'env')
  }
  const urls = flagValue(flags, 'upstream') as string[] | undefined
  const flagKeys = flagValue(flags, 'upstream-public-key')
  if (urls !== undefined) {
    const src: ConfigSource = { kind: 'flag', name: 'upstream' }
    const keys = flagKeys === undefined ? [] : convertValue(keysField, flagKeys, { source: { kind: 'flag', name: 'upstream-public-key' }, key: 'upstream.public-keys' }) as string[]
    list = urls.map(u => ({ url: convertValue(urlField, u, { source: src, key: 'upstream.url' }) as string, publicKeys: keys, timeoutMs: defaultTimeout, storeDir: '/nix/store', source: src }))
  } else if (flagKeys !== undefined) {
    throw new ConfigError('--upstream-public-key goes with --upstream (the keys apply to the upstreams given by flags)', 'flag')
  }
  const timeout = flagValue(flags, 'upstream-timeout')
  if (timeout !== undefined) {
    // the timeout of every upstream (flag-given ones, or those of the file / environment)
    const ms = convertValue(timeoutField, timeout, { source: { kind: 'flag', name: 'upstream-timeout' }, key: 'upstream.timeout' }) as number
    list = list.map(u => ({ ...u, timeoutMs: ms }))
  }
  return list
}

/* ------------------------------------------------------------------------ */
/* Data directory of every command                                           */
/* ------------------------------------------------------------------------ */

/**
 * `--data-dir` > `STORESWARM_DATA_DIR` > the config file's `data-dir` (`configPath`, else the
 * default file when present) > `$XDG_DATA_HOME/storeswarm` > `~/.local/share/storeswarm`.
 */
export function resolveDataDir (flag: string | undefined, env: NodeJS.ProcessEnv = process.env, configPath?: string): string {
  return commandDataDir({ 'data-dir': flag, config: configPath }, env)
}

/**
 * The data directory of a command from its parsed flags: `--data-dir` > `$STORESWARM_DATA_DIR` >
 * the config file's `data-dir` (`--config FILE`, else the default file if present) > XDG default.
 * Throws `ConfigError` on a missing explicit config file or a bad one.
 */
export function commandDataDir (values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): string {
  const flag = values['data-dir']
  if (typeof flag === 'string' && flag !== '') return resolve(flag)
  if (nonEmpty(env.STORESWARM_DATA_DIR)) return resolve(env.STORESWARM_DATA_DIR)
  const configPath = typeof values.config === 'string' ? values.config : undefined
  const file = loadFile({ configPath }, env)
  const fromFile = file?.parsed.settings.get('data-dir')
  return fromFile !== undefined ? fromFile.value as string : defaultDataDir(env)
}

/* ------------------------------------------------------------------------ */
/* Mapping to the node                                                       */
/* ------------------------------------------------------------------------ */

/** The settings the node runs with (ServeOptions minus what the CLI adds: token, log, signal). */
/** The `[p2p]` section as the swarm's options (serve and `storeswarm p2p`). */
export function p2pSettings (cfg: ResolvedConfig): { listen: string[], bootstrap: string[], mdns: boolean, upnp: boolean, disabled: boolean, trustedPublicKeys: string[], referralCopies: number } {
  const get = <T>(key: string): T => cfg.settings.get(key)!.value as T
  return {
    referralCopies: get('p2p.referral-copies'),
    listen: get('p2p.listen'),
    bootstrap: get('p2p.bootstrap'),
    mdns: get('p2p.mdns'),
    upnp: get('p2p.upnp'),
    disabled: !get<boolean>('p2p.enabled'),
    trustedPublicKeys: get('p2p.trusted-public-keys')
  }
}

export function configToServeOptions (cfg: ResolvedConfig): Omit<ServeOptions, 'uploadToken' | 'log' | 'signal'> {
  const get = <T>(key: string): T => cfg.settings.get(key)!.value as T
  const socket = cfg.settings.get('daemon.socket')!
  const keys = [...new Set([...get<string[]>('daemon.trusted-public-keys'), ...get<string[]>('p2p.trusted-public-keys')])]
  const maxSize = get<number | undefined>('gc.max-size')
  return {
    dataDir: get('data-dir'),
    http: get('http.listen'),
    httpGuix: get('http.guix-listen'),
    priority: get('http.priority'),
    compression: get('http.compression'),
    sign: get('http.sign'),
    keyName: get('http.key-name'),
    nixSecretKeyFile: get('http.secret-key-file'),
    allowUploads: get('http.allow-uploads'),
    loopbackUploads: get('http.loopback-uploads'),
    maxUploadBytes: get('http.max-upload-size'),
    compressedCacheBytes: get('http.nar-cache-size'),
    verifyNars: get('http.verify-nars'),
    statusRemote: get('http.status-remote'),
    logRequests: get('log.requests'),
    // the default location (and $STORESWARM_DAEMON_SOCKET) is a convenience the node may skip; a configured one must work
    daemonSocket: get<boolean>('daemon.enabled') ? (socket.source.kind === 'default' || socket.source.kind === 'env' ? undefined : socket.value as string) : false,
    guixDaemonSocket: get('daemon.guix-socket'),
    trustedPublicKeys: keys.map(k => parsePublicKey(k)),
    trustClients: get('daemon.trust-clients'),
    eris: get('eris.enabled'),
    p2p: p2pSettings(cfg),
    upstreams: cfg.upstreams.map(({ source: _source, ...u }) => u),
    gc: { ...(maxSize !== undefined ? { maxSize } : {}), intervalMs: get('gc.interval') },
    logFormat: get('log.format')
  }
}

/* ------------------------------------------------------------------------ */
/* config show                                                               */
/* ------------------------------------------------------------------------ */

/** A value in its TOML form (sizes and durations as text). */
function displayValue (s: Setting, value: unknown): unknown {
  if (value === undefined) return undefined
  if (s.type === 'size') return formatSize(value as number)
  if (s.type === 'duration') return formatDuration(value as number)
  return value
}

function tomlValue (v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`
  return String(v)
}

function splitKey (key: string): [string | undefined, string] {
  const dot = key.indexOf('.')
  return dot < 0 ? [undefined, key] : [key.slice(0, dot), key.slice(dot + 1)]
}

/** The effective config as TOML, each value commented with where it came from. */
export function formatConfigToml (cfg: ResolvedConfig): string {
  const out = [`# storeswarm effective configuration (config file: ${cfg.file ?? 'none'})`, '# precedence: flag > environment > file > default', '']
  let section: string | undefined
  for (const s of SETTINGS) {
    const [sec, name] = splitKey(s.key)
    if (sec !== section) {
      out.push('', `[${sec!}]`)
      section = sec
    }
    const { value, source } = cfg.settings.get(s.key)!
    const shown = displayValue(s, value)
    out.push(shown === undefined ? `# ${name} = (unset)  # ${describeSource(source)}` : `${name} = ${tomlValue(shown)}  # ${describeSource(source)}`)
  }
  for (const u of cfg.upstreams) {
    out.push('', `[[upstream]]  # ${describeSource(u.source)}`, `url = ${tomlValue(u.url)}`, `public-keys = ${tomlValue(u.publicKeys)}`,
      `timeout = ${tomlValue(formatDuration(u.timeoutMs ?? 3000))}`, `store-dir = ${tomlValue(u.storeDir ?? '/nix/store')}`)
  }
  if (cfg.upstreams.length === 0) out.push('', '# no [[upstream]] (default)')
  return out.join('\n') + '\n'
}

/** The effective config as JSON: `values` nested like the file, `sources` per dotted key. */
export function configToJSON (cfg: ResolvedConfig): unknown {
  const values: Record<string, any> = {}
  const sources: Record<string, string> = {}
  for (const s of SETTINGS) {
    const [sec, name] = splitKey(s.key)
    const { value, source } = cfg.settings.get(s.key)!
    const shown = displayValue(s, value) ?? null
    if (sec === undefined) values[name] = shown
    else (values[sec] ??= {})[name] = shown
    sources[s.key] = describeSource(source)
  }
  values.upstream = cfg.upstreams.map(u => ({ url: u.url, 'public-keys': u.publicKeys, timeout: formatDuration(u.timeoutMs ?? 3000), 'store-dir': u.storeDir ?? '/nix/store' }))
  sources.upstream = cfg.upstreams.length === 0 ? 'default' : describeSource(cfg.upstreams[0].source)
  return { file: cfg.file ?? null, values, sources }
}

/* ------------------------------------------------------------------------ */
/* Reference                                                                 */
/* ------------------------------------------------------------------------ */

function defaultDoc (s: Setting): string {
  if (s.defaultText !== undefined) return s.defaultText
  if (s.default === undefined) return 'unset'
  const v = displayValue(s, s.default)
  return Array.isArray(v) ? (v.length === 0 ? '[]' : v.join(', ')) : String(v)
}

function flagDoc (s: Setting): string {
  const parts: string[] = []
  if (s.flag !== undefined) parts.push(`--${s.flag}${s.type === 'boolean' ? '' : ' ' + (s.flagArg ?? 'VALUE')}`)
  if (s.negFlag !== undefined) parts.push(`--${s.negFlag}`)
  return parts.join(', ')
}

function typeDoc (s: Setting): string {
  return s.type === 'enum' ? (s.choices ?? []).join(' \\| ') : s.type
}

const cell = (t: string): string => t.replace(/\|/g, '\\|')
const code = (t: string): string => t === '' ? '' : `\`${t}\``

/** The schema as Markdown (the README's configuration reference). */
export function configReferenceMarkdown (): string {
  const out = [
    'Precedence: flags > environment > config file (`--config FILE`, default',
    '`$XDG_CONFIG_HOME/storeswarm/config.toml`) > defaults. Sizes: `4096`, `512M`, `50G`, `1.5T`',
    '(powers of 1024); durations: `500ms`, `3s`, `10m`, `1h`. Lists in the environment are',
    'comma-separated. `storeswarm config show` prints the effective values and where each came from.',
    '',
    '| key | environment | flag | default | description |',
    '|---|---|---|---|---|'
  ]
  for (const s of SETTINGS) {
    const desc = s.type === 'enum' ? `${s.description} (${(s.choices ?? []).join(', ')})` : s.description
    const def = s.default === undefined && s.defaultText === undefined ? 'unset' : code(defaultDoc(s))
    out.push(`| ${code(s.key)} | ${code(envName(s.key))} | ${cell(code(flagDoc(s)))} | ${cell(def)} | ${cell(desc)} |`)
  }
  out.push('', 'Upstream binary caches (`[[upstream]]`, repeatable; none by default), tried after local data and',
    `peers. Environment: \`${UPSTREAM_ENV.urls}\` and \`${UPSTREAM_ENV.publicKeys}\` (comma-separated; the`,
    'keys apply to every URL). Flags: `--upstream URL` (repeatable) with `--upstream-public-key NAME:KEY`',
    '(repeatable, for the flag-given upstreams); `--upstream-timeout` sets the timeout of every upstream.', '',
    '| key | flag | default | description |', '|---|---|---|---|')
  for (const s of UPSTREAM_FIELDS) {
    const desc = s.type === 'enum' ? `${s.description} (${(s.choices ?? []).join(', ')})` : s.description
    out.push(`| ${code('upstream.' + s.key)} | ${cell(code(flagDoc(s)))} | ${cell(s.key === 'url' ? 'required' : code(defaultDoc(s)))} | ${cell(desc)} |`)
  }
  return out.join('\n') + '\n'
}

/** The schema as plain text (`storeswarm config reference`). */
export function configReferenceText (): string {
  const out: string[] = ['storeswarm configuration keys (precedence: flag > environment > file > default)', '']
  for (const s of SETTINGS) {
    out.push(`${s.key}  (${typeDoc(s).replace(/\\\|/g, '|')}; default ${defaultDoc(s)})`)
    out.push(`    ${s.description}`)
    out.push(`    env ${envName(s.key)}${flagDoc(s) !== '' ? `; flag ${flagDoc(s)}` : ''}`)
  }
  out.push('', '[[upstream]]  (repeatable; none by default; env ' + `${UPSTREAM_ENV.urls} + ${UPSTREAM_ENV.publicKeys})`)
  for (const s of UPSTREAM_FIELDS) {
    out.push(`  ${s.key}  (${typeDoc(s).replace(/\\\|/g, '|')}${s.key === 'url' ? '' : `; default ${defaultDoc(s)}`})`)
    out.push(`      ${s.description}${flagDoc(s) !== '' ? `; flag ${flagDoc(s)}` : ''}`)
  }
  return out.join('\n') + '\n'
}
