/**
 * Codecs of the composite worker-protocol types (§1.1, §3) at every protocol
 * version where they exist. Each codec is `{ read(reader, version), write(writer,
 * value, version) }`; `version` is a version word or a {@link VersionContext}
 * (features, store dir).
 *
 * Store paths are full paths (`/nix/store/<hash>-<name>`) and are validated on
 * read. Sets are written sorted (std::set order) so encodings are byte-exact.
 */
import {
  BuildMode as BuildModes,
  BuildStatus,
  FEATURE_REALISATION_WITH_PATH,
  GATE,
  MAX_SHORT_STRING_LENGTH,
  MAX_STORE_PATH_LENGTH
} from './constants.ts'
import type { BuildMode } from './constants.ts'
import { ProtocolError } from './errors.ts'
import { WireReader, WireWriter, compareBytewise, sortedUnique } from './wire.ts'
import { hasFeature, storeDirOf, workerAtLeast } from './version.ts'
import type { WireVersion } from './version.ts'
import type { AbortOptions } from '../abort.ts'

/** A codec of one wire type. */
export interface Codec<T> {
  read: (reader: WireReader, version: WireVersion, options?: AbortOptions) => Promise<T>
  write: (writer: WireWriter, value: T, version: WireVersion) => void
}

/* ------------------------------------------------------------------------ */
/* Store paths                                                               */
/* ------------------------------------------------------------------------ */

const NIX32_CHARS = '0123456789abcdfghijklmnpqrsvwxyz'
const HASH_LEN = 32
const MAX_NAME_LEN = 211

function isNix32Char (c: string): boolean {
  return NIX32_CHARS.includes(c)
}

/** Checks a store-path name or output name (NixOS/nix `path.cc checkName`); returns the reason or null. */
export function checkName (name: string): string | null {
  if (name.length === 0) return 'name must not be empty'
  if (name.length > MAX_NAME_LEN) return `name is longer than ${MAX_NAME_LEN} characters`
  if (name === '.' || name === '..' || name.startsWith('.-') || name.startsWith('..-')) return `name '${name}' is not valid`
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ||
      c === 0x2b || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x3f || c === 0x3d
    if (!ok) return `name '${name}' contains illegal character '${name[i]}'`
  }
  return null
}

/** Throws a ProtocolError unless `path` is `<absolute store dir>/<32 nix32>-<name>`. */
export function validateStorePath (path: string, what = 'store path'): string {
  const slash = path.lastIndexOf('/')
  if (slash <= 0 || path[0] !== '/') {
    throw new ProtocolError(`${what} '${path}' is not an absolute store path`, 'ERR_BAD_VALUE')
  }
  const base = path.slice(slash + 1)
  validateStorePathBaseName(base, what)
  return path
}

/** Throws a ProtocolError unless `base` is `<32 nix32>-<name>`. */
export function validateStorePathBaseName (base: string, what = 'store path'): string {
  if (base.length < HASH_LEN + 2) {
    throw new ProtocolError(`${what} '${base}' is too short to be a valid store path`, 'ERR_BAD_VALUE')
  }
  if (base[HASH_LEN] !== '-') {
    throw new ProtocolError(`${what} '${base}': the hash part is not followed by a '-'`, 'ERR_BAD_VALUE')
  }
  for (let i = 0; i < HASH_LEN; i++) {
    if (!isNix32Char(base[i])) {
      throw new ProtocolError(`${what} '${base}' contains illegal base-32 character '${base[i]}'`, 'ERR_BAD_VALUE')
    }
  }
  const reason = checkName(base.slice(HASH_LEN + 1))
  if (reason != null) throw new ProtocolError(`${what} '${base}' is not valid: ${reason}`, 'ERR_BAD_VALUE')
  return base
}

/** `/nix/store/abc…-foo` → `abc…-foo`. */
export function storePathBaseName (path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** `/nix/store/abc…-foo.drv` ends in `.drv`. */
export function isDerivationPath (path: string): boolean {
  return path.endsWith('.drv')
}

/** `StorePath` = string with the full path (§1.1). */
export const StorePathCodec: Codec<string> = {
  async read (reader, _version, options) {
    return validateStorePath(await reader.readString(MAX_STORE_PATH_LENGTH, 'store path', options))
  },
  write (writer, value) {
    writer.writeString(value)
  }
}

/** `OptStorePath` = string, `""` = none (§1.1). */
export const OptStorePathCodec: Codec<string | null> = {
  async read (reader, _version, options) {
    const s = await reader.readString(MAX_STORE_PATH_LENGTH, 'optional store path', options)
    return s === '' ? null : validateStorePath(s)
  },
  write (writer, value) {
    writer.writeString(value ?? '')
  }
}

/** `set<StorePath>` (sorted on write). */
export const StorePathSetCodec: Codec<string[]> = {
  async read (reader, version, options) {
    return await reader.readList(async () => await StorePathCodec.read(reader, version, options), 'store path set', undefined, options)
  },
  write (writer, value) {
    writer.writeStringSet(value)
  }
}

/** `list<StorePath>` (order kept). */
export const StorePathListCodec: Codec<string[]> = {
  async read (reader, version, options) {
    return await reader.readList(async () => await StorePathCodec.read(reader, version, options), 'store path list', undefined, options)
  },
  write (writer, value) {
    writer.writeStrings(value)
  }
}

/* ------------------------------------------------------------------------ */
/* Strings and collections                                                   */
/* ------------------------------------------------------------------------ */

/** Plain `string`. */
export const StringCodec: Codec<string> = {
  async read (reader, _version, options) {
    return await reader.readString(undefined, 'string', options)
  },
  write (writer, value) {
    writer.writeString(value)
  }
}

/** `list<string>` (order kept). */
export const StringListCodec: Codec<string[]> = {
  async read (reader, _version, options) {
    return await reader.readStrings(undefined, undefined, 'string list', options)
  },
  write (writer, value) {
    writer.writeStrings(value)
  }
}

/** `set<string>` (sorted, deduplicated on write). */
export const StringSetCodec: Codec<string[]> = {
  async read (reader, _version, options) {
    return await reader.readStrings(undefined, undefined, 'string set', options)
  },
  write (writer, value) {
    writer.writeStringSet(value)
  }
}

/** `list<T>` of another codec. */
export function listCodec<T> (item: Codec<T>, what = 'list'): Codec<T[]> {
  return {
    async read (reader, version, options) {
      return await reader.readList(async () => await item.read(reader, version, options), what, undefined, options)
    },
    write (writer, value, version) {
      writer.writeList(value, (v) => { item.write(writer, v, version) })
    }
  }
}

/** `set<T>`; `compare` gives the std::set order used when writing. */
export function setCodec<T> (item: Codec<T>, compare: (a: T, b: T) => number, what = 'set'): Codec<T[]> {
  return {
    async read (reader, version, options) {
      return await reader.readList(async () => await item.read(reader, version, options), what, undefined, options)
    },
    write (writer, value, version) {
      const sorted = [...value].sort(compare)
      writer.writeList(sorted, (v) => { item.write(writer, v, version) })
    }
  }
}

/** Lexicographic std::set<std::set<string>> / vector order of string arrays. */
export function compareStringArrays (a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const c = compareBytewise(a[i], b[i])
    if (c !== 0) return c
  }
  return a.length - b.length
}

/** `map<string,string>` as an ordered array of pairs; written sorted by key. */
export const StringMapCodec: Codec<Array<[string, string]>> = {
  async read (reader, _version, options) {
    return await reader.readPairs(
      async () => await reader.readString(undefined, 'map key', options),
      async () => await reader.readString(undefined, 'map value', options),
      'string map', undefined, options
    )
  },
  write (writer, value) {
    const sorted = [...value].sort((x, y) => compareBytewise(x[0], y[0]))
    writer.writeU64(sorted.length)
    for (const [k, v] of sorted) writer.writeString(k).writeString(v)
  }
}

/* ------------------------------------------------------------------------ */
/* Content addresses (§1.1)                                                  */
/* ------------------------------------------------------------------------ */

/** Ingestion method of a content address. */
export type ContentAddressMethod = 'text' | 'flat' | 'nar' | 'git'

/** A parsed content-address string (`text:sha256:<nix32>`, `fixed:r:sha256:<nix32>` …). */
export interface ContentAddressParts {
  method: ContentAddressMethod
  /** Hash algorithm name: md5, sha1, sha256, sha512, blake3. */
  algo: string
  /** Hash as written on the wire (normally nix32). */
  hash: string
}

const HASH_ALGOS = new Set(['md5', 'sha1', 'sha256', 'sha512', 'blake3'])
const HASH_CHARS = /^[0-9A-Za-z+/=]+$/

/** Parses a content-address string; throws ProtocolError when malformed. */
export function parseContentAddress (s: string): ContentAddressParts {
  let method: ContentAddressMethod
  let rest: string
  if (s.startsWith('text:')) {
    method = 'text'
    rest = s.slice(5)
  } else if (s.startsWith('fixed:')) {
    rest = s.slice(6)
    if (rest.startsWith('r:')) {
      method = 'nar'
      rest = rest.slice(2)
    } else if (rest.startsWith('git:')) {
      method = 'git'
      rest = rest.slice(4)
    } else {
      method = 'flat'
    }
  } else {
    throw new ProtocolError(`content address '${s}' has an unknown prefix`, 'ERR_BAD_VALUE')
  }
  const colon = rest.indexOf(':')
  if (colon < 0) throw new ProtocolError(`content address '${s}' lacks a hash algorithm`, 'ERR_BAD_VALUE')
  const algo = rest.slice(0, colon)
  const hash = rest.slice(colon + 1)
  if (!HASH_ALGOS.has(algo)) throw new ProtocolError(`content address '${s}' has unknown hash algorithm '${algo}'`, 'ERR_BAD_VALUE')
  if (!HASH_CHARS.test(hash)) throw new ProtocolError(`content address '${s}' has a malformed hash`, 'ERR_BAD_VALUE')
  return { method, algo, hash }
}

/** Renders {@link ContentAddressParts} back to the wire string. */
export function renderContentAddress (ca: ContentAddressParts): string {
  const prefix = ca.method === 'text' ? 'text:' : ca.method === 'nar' ? 'fixed:r:' : ca.method === 'git' ? 'fixed:git:' : 'fixed:'
  return `${prefix}${ca.algo}:${ca.hash}`
}

/** `ContentAddress` = non-empty CA string (validated, kept verbatim). */
export const ContentAddressCodec: Codec<string> = {
  async read (reader, _version, options) {
    const s = await reader.readString(MAX_SHORT_STRING_LENGTH, 'content address', options)
    parseContentAddress(s)
    return s
  },
  write (writer, value) {
    writer.writeString(value)
  }
}

/** `OptContentAddress` = CA string or `""` (§1.1). */
export const OptContentAddressCodec: Codec<string | null> = {
  async read (reader, _version, options) {
    const s = await reader.readString(MAX_SHORT_STRING_LENGTH, 'optional content address', options)
    if (s === '') return null
    parseContentAddress(s)
    return s
  },
  write (writer, value) {
    writer.writeString(value ?? '')
  }
}

/* ------------------------------------------------------------------------ */
/* Small enums                                                               */
/* ------------------------------------------------------------------------ */

/** `BuildMode` = u64 0/1/2 (§1.1). */
export const BuildModeCodec: Codec<BuildMode> = {
  async read (reader, _version, options) {
    const v = await reader.readNumber('build mode', 255, options)
    if (v !== BuildModes.Normal && v !== BuildModes.Repair && v !== BuildModes.Check) {
      throw new ProtocolError(`invalid build mode ${v}`, 'ERR_BAD_VALUE')
    }
    return v
  },
  write (writer, value) {
    if (value !== 0 && value !== 1 && value !== 2) throw new ProtocolError(`invalid build mode ${String(value)}`, 'ERR_NOT_REPRESENTABLE')
    writer.writeU64(value)
  }
}

/** Optional `TrustedFlag` = u64 0 unknown (null), 1 trusted (true), 2 not trusted (false). */
export const OptTrustedFlagCodec: Codec<boolean | null> = {
  async read (reader, _version, options) {
    const v = await reader.readNumber('trusted flag', 255, options)
    if (v === 0) return null
    if (v === 1) return true
    if (v === 2) return false
    throw new ProtocolError(`invalid trusted flag ${v}`, 'ERR_BAD_VALUE')
  },
  write (writer, value) {
    writer.writeU64(value == null ? 0 : value ? 1 : 2)
  }
}

const MAX_I64 = (1n << 63n) - 1n

/** `OptMicroseconds` (≥ 1.37) = u64 tag 0/1, then i64 (≥ 0 on the wire). */
export const OptMicrosecondsCodec: Codec<bigint | null> = {
  async read (reader, _version, options) {
    const tag = await reader.readNumber('optional microseconds tag', 255, options)
    if (tag === 0) return null
    if (tag !== 1) throw new ProtocolError(`invalid optional tag ${tag}`, 'ERR_BAD_VALUE')
    const v = await reader.readU64('microseconds', options)
    if (v > MAX_I64) throw new ProtocolError(`microseconds value ${v} does not fit int64`, 'ERR_TOO_LARGE')
    return v
  },
  write (writer, value) {
    if (value == null) {
      writer.writeU64(0)
      return
    }
    if (value < 0n || value > MAX_I64) throw new ProtocolError(`cannot encode ${value} microseconds`, 'ERR_NOT_REPRESENTABLE')
    writer.writeU64(1).writeU64(value)
  }
}

/* ------------------------------------------------------------------------ */
/* DerivedPath (§3.3)                                                        */
/* ------------------------------------------------------------------------ */

/** A path to build/substitute: an opaque store path, or outputs of a derivation. */
export type DerivedPath =
  | { type: 'opaque', path: string }
  | { type: 'built', drvPath: string, outputs: '*' | string[] }

function parseOutputNames (s: string, what: string): string[] {
  const names = sortedUnique(s.split(',').filter((n) => n !== ''))
  for (const n of names) {
    const reason = checkName(n)
    if (reason != null) throw new ProtocolError(`${what}: invalid output name: ${reason}`, 'ERR_BAD_VALUE')
  }
  return names
}

/** Parses the ≥ 1.30 string form (`path`, `drv!*`, `drv!a,b`). */
export function parseDerivedPath (s: string): DerivedPath {
  const bang = s.lastIndexOf('!')
  if (bang < 0) return { type: 'opaque', path: validateStorePath(s, 'derived path') }
  const drvPath = s.slice(0, bang)
  if (drvPath.includes('!')) {
    throw new ProtocolError(`derived path '${s}': outputs of dynamic derivations are not supported`, 'ERR_BAD_VALUE')
  }
  validateStorePath(drvPath, 'derived path')
  const spec = s.slice(bang + 1)
  if (spec === '*') return { type: 'built', drvPath, outputs: '*' }
  const outputs = parseOutputNames(spec, `derived path '${s}'`)
  if (outputs.length === 0) throw new ProtocolError(`derived path '${s}' names no outputs`, 'ERR_BAD_VALUE')
  return { type: 'built', drvPath, outputs }
}

/** Parses the < 1.30 StorePathWithOutputs form (`path[!o1,o2]`; bare `.drv` = all outputs). */
export function parseStorePathWithOutputs (s: string): DerivedPath {
  const bang = s.indexOf('!')
  const path = bang < 0 ? s : s.slice(0, bang)
  validateStorePath(path, 'path with outputs')
  const outputs = bang < 0 ? [] : parseOutputNames(s.slice(bang + 1), `path with outputs '${s}'`)
  if (outputs.length > 0) {
    return { type: 'built', drvPath: path, outputs: outputs.length === 1 && outputs[0] === '*' ? '*' : outputs }
  }
  if (isDerivationPath(path)) return { type: 'built', drvPath: path, outputs: '*' }
  return { type: 'opaque', path }
}

/** Renders a DerivedPath in the wire form of `version`. */
export function renderDerivedPath (value: DerivedPath, version: WireVersion): string {
  const modern = workerAtLeast(version, GATE.DERIVED_PATH_STRINGS)
  if (value.type === 'opaque') {
    if (!modern && isDerivationPath(value.path)) {
      throw new ProtocolError(
        `cannot request derivation file '${value.path}' at protocol < 1.30`, 'ERR_NOT_REPRESENTABLE'
      )
    }
    return value.path
  }
  if (value.outputs === '*') return modern ? `${value.drvPath}!*` : value.drvPath
  return `${value.drvPath}!${sortedUnique(value.outputs).join(',')}`
}

/** `DerivedPath` (§3.3): strings at ≥ 1.30, StorePathWithOutputs below. */
export const DerivedPathCodec: Codec<DerivedPath> = {
  async read (reader, version, options) {
    const s = await reader.readString(MAX_SHORT_STRING_LENGTH, 'derived path', options)
    return workerAtLeast(version, GATE.DERIVED_PATH_STRINGS) ? parseDerivedPath(s) : parseStorePathWithOutputs(s)
  },
  write (writer, value, version) {
    writer.writeString(renderDerivedPath(value, version))
  }
}

/** `list<DerivedPath>` (ops 9, 40, 46). */
export const DerivedPathListCodec: Codec<DerivedPath[]> = listCodec(DerivedPathCodec, 'derived path list')

/* ------------------------------------------------------------------------ */
/* Path info (§3.1)                                                          */
/* ------------------------------------------------------------------------ */

/** Metadata of a store path without the path itself (§3.1). */
export interface UnkeyedValidPathInfo {
  deriver: string | null
  /** NAR hash as on the wire: lower-case base16 sha256, no prefix. */
  narHash: string
  references: string[]
  registrationTime: number
  narSize: number
  /** ≥ 1.16 only (false below). */
  ultimate: boolean
  /** ≥ 1.16 only (empty below). */
  signatures: string[]
  /** ≥ 1.16 only (null below). */
  ca: string | null
}

/** Path info with its store path (§3.1). */
export interface ValidPathInfo extends UnkeyedValidPathInfo {
  path: string
}

const NAR_HASH_MAX = 256

/** `UnkeyedValidPathInfo` (§3.1) at the given version. */
export const UnkeyedValidPathInfoCodec: Codec<UnkeyedValidPathInfo> = {
  async read (reader, version, options) {
    const deriver = await OptStorePathCodec.read(reader, version, options)
    const narHash = await reader.readString(NAR_HASH_MAX, 'narHash', options)
    const references = await StorePathSetCodec.read(reader, version, options)
    const registrationTime = await reader.readNumber('registrationTime', undefined, options)
    const narSize = await reader.readNumber('narSize', undefined, options)
    let ultimate = false
    let signatures: string[] = []
    let ca: string | null = null
    if (workerAtLeast(version, GATE.PATH_INFO_ULTIMATE)) {
      ultimate = await reader.readBool('ultimate', options)
      signatures = await reader.readStrings(undefined, MAX_SHORT_STRING_LENGTH, 'signatures', options)
      ca = await OptContentAddressCodec.read(reader, version, options)
    }
    return { deriver, narHash, references, registrationTime, narSize, ultimate, signatures, ca }
  },
  write (writer, value, version) {
    OptStorePathCodec.write(writer, value.deriver, version)
    writer.writeString(value.narHash)
    StorePathSetCodec.write(writer, value.references, version)
    writer.writeU64(value.registrationTime).writeU64(value.narSize)
    if (workerAtLeast(version, GATE.PATH_INFO_ULTIMATE)) {
      writer.writeBool(value.ultimate)
      writer.writeStringSet(value.signatures)
      OptContentAddressCodec.write(writer, value.ca, version)
    }
  }
}

/** `ValidPathInfo` = StorePath + UnkeyedValidPathInfo (§3.1). */
export const ValidPathInfoCodec: Codec<ValidPathInfo> = {
  async read (reader, version, options) {
    const path = await StorePathCodec.read(reader, version, options)
    const info = await UnkeyedValidPathInfoCodec.read(reader, version, options)
    return { path, ...info }
  },
  write (writer, value, version) {
    StorePathCodec.write(writer, value.path, version)
    UnkeyedValidPathInfoCodec.write(writer, value, version)
  }
}

/** SubstitutablePathInfo (§3.2, ops 21/30). */
export interface SubstitutablePathInfo {
  deriver: string | null
  references: string[]
  downloadSize: number
  narSize: number
}

export const SubstitutablePathInfoCodec: Codec<SubstitutablePathInfo> = {
  async read (reader, version, options) {
    const deriver = await OptStorePathCodec.read(reader, version, options)
    const references = await StorePathSetCodec.read(reader, version, options)
    const downloadSize = await reader.readNumber('downloadSize', undefined, options)
    const narSize = await reader.readNumber('narSize', undefined, options)
    return { deriver, references, downloadSize, narSize }
  },
  write (writer, value, version) {
    OptStorePathCodec.write(writer, value.deriver, version)
    StorePathSetCodec.write(writer, value.references, version)
    writer.writeU64(value.downloadSize).writeU64(value.narSize)
  }
}

/* ------------------------------------------------------------------------ */
/* Realisations (§3.5)                                                       */
/* ------------------------------------------------------------------------ */

/** Legacy DrvOutput id `sha256:<hex>!<output>`, split. */
export interface DrvOutputId {
  /** `sha256:<hex>` */
  drvHash: string
  outputName: string
}

/** Parses a legacy DrvOutput id; throws ProtocolError when malformed. */
export function parseDrvOutputId (s: string): DrvOutputId {
  const bang = s.indexOf('!')
  if (bang < 0) throw new ProtocolError(`invalid derivation output id '${s}'`, 'ERR_BAD_VALUE')
  const drvHash = s.slice(0, bang)
  const outputName = s.slice(bang + 1)
  if (!/^[a-z0-9]+:[0-9A-Za-z+/=]+$/.test(drvHash) || checkName(outputName) != null) {
    throw new ProtocolError(`invalid derivation output id '${s}'`, 'ERR_BAD_VALUE')
  }
  return { drvHash, outputName }
}

/** Legacy `DrvOutput` = string `sha256:<hex>!<output>` (validated, kept verbatim). */
export const LegacyDrvOutputCodec: Codec<string> = {
  async read (reader, _version, options) {
    const s = await reader.readString(MAX_SHORT_STRING_LENGTH, 'derivation output id', options)
    parseDrvOutputId(s)
    return s
  },
  write (writer, value) {
    writer.writeString(value)
  }
}

/** Legacy `Realisation` = JSON string (§3.5, 1.31–1.38 without the feature); kept verbatim. */
export const LegacyRealisationCodec: Codec<string> = {
  async read (reader, _version, options) {
    const s = await reader.readString(undefined, 'realisation', options)
    parseRealisationJson(s)
    return s
  },
  write (writer, value) {
    writer.writeString(value)
  }
}

/** The fields of a legacy realisation JSON string. */
export interface RealisationJson {
  id: string
  /** Store path base name. */
  outPath: string
  /** `keyName:base64` strings (objects `{keyName, sig}` are converted). */
  signatures: string[]
  dependentRealisations: Record<string, string>
}

/** Parses a legacy realisation JSON string; throws ProtocolError when malformed. */
export function parseRealisationJson (s: string): RealisationJson {
  let j: unknown
  try {
    j = JSON.parse(s)
  } catch (err) {
    throw new ProtocolError('realisation is not valid JSON', 'ERR_BAD_VALUE', { cause: err })
  }
  if (j == null || typeof j !== 'object' || Array.isArray(j)) throw new ProtocolError('realisation JSON is not an object', 'ERR_BAD_VALUE')
  const o = j as Record<string, unknown>
  if (typeof o.outPath !== 'string') throw new ProtocolError('realisation JSON lacks a string outPath', 'ERR_BAD_VALUE')
  validateStorePathBaseName(o.outPath, 'realisation outPath')
  const signatures: string[] = []
  if (Array.isArray(o.signatures)) {
    for (const sig of o.signatures) {
      if (typeof sig === 'string') signatures.push(sig)
      else if (sig != null && typeof sig === 'object' && typeof (sig as Record<string, unknown>).keyName === 'string' &&
        typeof (sig as Record<string, unknown>).sig === 'string') {
        signatures.push(`${String((sig as Record<string, unknown>).keyName)}:${String((sig as Record<string, unknown>).sig)}`)
      } else {
        throw new ProtocolError('realisation JSON has a malformed signature', 'ERR_BAD_VALUE')
      }
    }
  }
  const deps: Record<string, string> = {}
  if (o.dependentRealisations != null && typeof o.dependentRealisations === 'object') {
    for (const [k, v] of Object.entries(o.dependentRealisations as Record<string, unknown>)) {
      if (typeof v === 'string') deps[k] = v
    }
  }
  return { id: typeof o.id === 'string' ? o.id : '', outPath: o.outPath, signatures, dependentRealisations: deps }
}

/** Feature form DrvOutput: derivation path + output name (§3.5). */
export interface DrvOutput {
  drvPath: string
  outputName: string
}

/** Feature form UnkeyedRealisation: output path + signatures (§3.5). */
export interface UnkeyedRealisation {
  outPath: string
  signatures: string[]
}

/** Feature form Realisation. */
export interface Realisation extends UnkeyedRealisation {
  id: DrvOutput
}

function requireRealisationFeature (version: WireVersion, what: string): void {
  if (!hasFeature(version, FEATURE_REALISATION_WITH_PATH)) {
    throw new ProtocolError(
      `${what} needs the '${FEATURE_REALISATION_WITH_PATH}' protocol feature`, 'ERR_NOT_REPRESENTABLE'
    )
  }
}

async function readOutputName (reader: WireReader, options?: AbortOptions): Promise<string> {
  const name = await reader.readString(MAX_SHORT_STRING_LENGTH, 'output name', options)
  const reason = checkName(name)
  if (reason != null) throw new ProtocolError(`invalid output name: ${reason}`, 'ERR_BAD_VALUE')
  return name
}

/** Binary DrvOutput (needs feature `realisation-with-path-not-hash`). */
export const DrvOutputCodec: Codec<DrvOutput> = {
  async read (reader, version, options) {
    requireRealisationFeature(version, 'DrvOutput')
    const drvPath = await StorePathCodec.read(reader, version, options)
    const outputName = await readOutputName(reader, options)
    return { drvPath, outputName }
  },
  write (writer, value, version) {
    requireRealisationFeature(version, 'DrvOutput')
    StorePathCodec.write(writer, value.drvPath, version)
    writer.writeString(value.outputName)
  }
}

/** Binary UnkeyedRealisation (needs the feature). */
export const UnkeyedRealisationCodec: Codec<UnkeyedRealisation> = {
  async read (reader, version, options) {
    requireRealisationFeature(version, 'UnkeyedRealisation')
    const outPath = await StorePathCodec.read(reader, version, options)
    const signatures = await reader.readStrings(undefined, MAX_SHORT_STRING_LENGTH, 'signatures', options)
    return { outPath, signatures }
  },
  write (writer, value, version) {
    requireRealisationFeature(version, 'UnkeyedRealisation')
    StorePathCodec.write(writer, value.outPath, version)
    writer.writeStringSet(value.signatures)
  }
}

/** Binary Realisation = DrvOutput + UnkeyedRealisation (needs the feature). */
export const RealisationCodec: Codec<Realisation> = {
  async read (reader, version, options) {
    const id = await DrvOutputCodec.read(reader, version, options)
    const unkeyed = await UnkeyedRealisationCodec.read(reader, version, options)
    return { id, ...unkeyed }
  },
  write (writer, value, version) {
    DrvOutputCodec.write(writer, value.id, version)
    UnkeyedRealisationCodec.write(writer, value, version)
  }
}

/** `optional<UnkeyedRealisation>` = u64 tag + value (op 43 reply with the feature). */
export const OptUnkeyedRealisationCodec: Codec<UnkeyedRealisation | null> = {
  async read (reader, version, options) {
    requireRealisationFeature(version, 'optional UnkeyedRealisation')
    const tag = await reader.readNumber('optional realisation tag', 255, options)
    if (tag === 0) return null
    if (tag !== 1) throw new ProtocolError(`invalid optional realisation tag ${tag}`, 'ERR_BAD_VALUE')
    return await UnkeyedRealisationCodec.read(reader, version, options)
  },
  write (writer, value, version) {
    if (value == null) {
      writer.writeU64(0)
      return
    }
    writer.writeU64(1)
    UnkeyedRealisationCodec.write(writer, value, version)
  }
}

/* ------------------------------------------------------------------------ */
/* BuildResult (§3.4)                                                        */
/* ------------------------------------------------------------------------ */

/** One built output of a BuildResult. */
export interface BuiltOutput {
  /** Full output store path. */
  outPath: string
  signatures: string[]
  /**
   * Legacy wire form (builtOutputs before the realisation feature): the
   * `sha256:<hex>!<out>` key and the realisation JSON, as received. Kept so a
   * decoded value re-encodes byte-identically; omit it when constructing values
   * (a dummy hash is written, like Nix does).
   */
  legacy?: { id: string, json: string }
}

/** Result of building one derived path (§3.4). Flat: failure fields are "" / false on success. */
export interface BuildResult {
  status: number
  errorMsg: string
  /** ≥ 1.29 */
  timesBuilt: number
  /** ≥ 1.29 */
  isNonDeterministic: boolean
  /** ≥ 1.29, unix seconds */
  startTime: number
  /** ≥ 1.29, unix seconds */
  stopTime: number
  /** ≥ 1.37, microseconds */
  cpuUser: bigint | null
  /** ≥ 1.37, microseconds */
  cpuSystem: bigint | null
  /** ≥ 1.28, keyed by output name. */
  builtOutputs: Map<string, BuiltOutput>
}

/** BuildResult with the derived path it is for (op 46 reply elements). */
export interface KeyedBuildResult extends BuildResult {
  path: DerivedPath
}

/** A BuildResult with defaults for everything but `status`. */
export function makeBuildResult (status: number, fields: Partial<BuildResult> = {}): BuildResult {
  return {
    status,
    errorMsg: '',
    timesBuilt: 0,
    isNonDeterministic: false,
    startTime: 0,
    stopTime: 0,
    cpuUser: null,
    cpuSystem: null,
    builtOutputs: new Map(),
    ...fields
  }
}

/** Which optional parts a BuildResult encoding has (worker and serve gate differently). */
export interface BuildResultLayout {
  timing: boolean
  cpu: boolean
  outputs: 'none' | 'legacy' | 'unkeyed'
}

/** Worker-protocol BuildResult layout at `version`. */
export function workerBuildResultLayout (version: WireVersion): BuildResultLayout {
  return {
    timing: workerAtLeast(version, GATE.BUILD_RESULT_TIMING),
    cpu: workerAtLeast(version, GATE.BUILD_RESULT_CPU),
    outputs: hasFeature(version, FEATURE_REALISATION_WITH_PATH)
      ? 'unkeyed'
      : workerAtLeast(version, GATE.BUILD_RESULT_BUILT_OUTPUTS) ? 'legacy' : 'none'
  }
}

const DUMMY_HASH = 'sha256:' + '0'.repeat(64)
const MAX_BUILD_STATUS = BuildStatus.NoSubstituters

/** Reads a BuildResult with an explicit layout (shared by worker and serve codecs). */
export async function readBuildResult (
  reader: WireReader, layout: BuildResultLayout, version: WireVersion, options?: AbortOptions
): Promise<BuildResult> {
  const status = await reader.readNumber('build status', 255, options)
  if (status > MAX_BUILD_STATUS) throw new ProtocolError(`invalid build status ${status}`, 'ERR_BAD_VALUE')
  const result = makeBuildResult(status)
  result.errorMsg = await reader.readString(undefined, 'errorMsg', options)
  if (layout.timing) {
    result.timesBuilt = await reader.readNumber('timesBuilt', 0xffffffff, options)
    result.isNonDeterministic = await reader.readBool('isNonDeterministic', options)
    result.startTime = await reader.readNumber('startTime', undefined, options)
    result.stopTime = await reader.readNumber('stopTime', undefined, options)
  }
  if (layout.cpu) {
    result.cpuUser = await OptMicrosecondsCodec.read(reader, version, options)
    result.cpuSystem = await OptMicrosecondsCodec.read(reader, version, options)
  }
  if (layout.outputs === 'unkeyed') {
    const n = await reader.readCount('builtOutputs', undefined, options)
    for (let i = 0; i < n; i++) {
      const name = await readOutputName(reader, options)
      const outPath = await StorePathCodec.read(reader, version, options)
      const signatures = await reader.readStrings(undefined, MAX_SHORT_STRING_LENGTH, 'signatures', options)
      result.builtOutputs.set(name, { outPath, signatures })
    }
  } else if (layout.outputs === 'legacy') {
    const storeDir = storeDirOf(version)
    const n = await reader.readCount('builtOutputs', undefined, options)
    for (let i = 0; i < n; i++) {
      const id = await reader.readString(MAX_SHORT_STRING_LENGTH, 'derivation output id', options)
      const json = await reader.readString(undefined, 'realisation', options)
      const { outputName } = parseDrvOutputId(id)
      const parsed = parseRealisationJson(json)
      result.builtOutputs.set(outputName, {
        outPath: `${storeDir}/${parsed.outPath}`,
        signatures: parsed.signatures,
        legacy: { id, json }
      })
    }
  }
  return result
}

/** Writes a BuildResult with an explicit layout. */
export function writeBuildResult (writer: WireWriter, value: BuildResult, layout: BuildResultLayout, version: WireVersion): void {
  if (!Number.isInteger(value.status) || value.status < 0 || value.status > MAX_BUILD_STATUS) {
    throw new ProtocolError(`invalid build status ${value.status}`, 'ERR_NOT_REPRESENTABLE')
  }
  writer.writeU64(value.status).writeString(value.errorMsg)
  if (layout.timing) {
    writer.writeU64(value.timesBuilt).writeBool(value.isNonDeterministic).writeU64(value.startTime).writeU64(value.stopTime)
  }
  if (layout.cpu) {
    OptMicrosecondsCodec.write(writer, value.cpuUser, version)
    OptMicrosecondsCodec.write(writer, value.cpuSystem, version)
  }
  if (layout.outputs === 'unkeyed') {
    const entries = [...value.builtOutputs].sort((a, b) => compareBytewise(a[0], b[0]))
    writer.writeU64(entries.length)
    for (const [name, out] of entries) {
      writer.writeString(name).writeString(out.outPath).writeStringSet(out.signatures)
    }
  } else if (layout.outputs === 'legacy') {
    const entries: Array<[string, string]> = []
    for (const [name, out] of value.builtOutputs) {
      const base = storePathBaseName(out.outPath)
      if (out.legacy != null && legacyMatches(out.legacy, name, base)) {
        entries.push([out.legacy.id, out.legacy.json])
      } else {
        const id = `${DUMMY_HASH}!${name}`
        entries.push([id, JSON.stringify({ id, outPath: base })])
      }
    }
    entries.sort((a, b) => compareBytewise(a[0], b[0]))
    writer.writeU64(entries.length)
    for (const [k, v] of entries) writer.writeString(k).writeString(v)
  }
}

function legacyMatches (legacy: { id: string, json: string }, name: string, base: string): boolean {
  try {
    return parseDrvOutputId(legacy.id).outputName === name && parseRealisationJson(legacy.json).outPath === base
  } catch {
    return false
  }
}

/** Worker-protocol `BuildResult` (§3.4). */
export const BuildResultCodec: Codec<BuildResult> = {
  async read (reader, version, options) {
    return await readBuildResult(reader, workerBuildResultLayout(version), version, options)
  },
  write (writer, value, version) {
    writeBuildResult(writer, value, workerBuildResultLayout(version), version)
  }
}

/** `KeyedBuildResult` = DerivedPath + BuildResult (§3.4). */
export const KeyedBuildResultCodec: Codec<KeyedBuildResult> = {
  async read (reader, version, options) {
    const path = await DerivedPathCodec.read(reader, version, options)
    const result = await BuildResultCodec.read(reader, version, options)
    return { path, ...result }
  },
  write (writer, value, version) {
    DerivedPathCodec.write(writer, value.path, version)
    BuildResultCodec.write(writer, value, version)
  }
}

/* ------------------------------------------------------------------------ */
/* Handshake info (§1.2)                                                     */
/* ------------------------------------------------------------------------ */

/** What the server sends after the version exchange (§1.2). */
export interface ClientHandshakeInfo {
  /** ≥ 1.33, e.g. "2.8.0". */
  daemonNixVersion: string | null
  /** ≥ 1.35: true trusted, false not trusted, null unknown. */
  trusted: boolean | null
}

export const ClientHandshakeInfoCodec: Codec<ClientHandshakeInfo> = {
  async read (reader, version, options) {
    let daemonNixVersion: string | null = null
    let trusted: boolean | null = null
    if (workerAtLeast(version, GATE.DAEMON_VERSION_STRING)) {
      daemonNixVersion = await reader.readString(MAX_SHORT_STRING_LENGTH, 'daemon version', options)
    }
    if (workerAtLeast(version, GATE.TRUSTED_FLAG)) {
      trusted = await OptTrustedFlagCodec.read(reader, version, options)
    }
    return { daemonNixVersion, trusted }
  },
  write (writer, value, version) {
    if (workerAtLeast(version, GATE.DAEMON_VERSION_STRING)) {
      if (value.daemonNixVersion == null) {
        throw new ProtocolError('protocol ≥ 1.33 requires a daemon version string', 'ERR_NOT_REPRESENTABLE')
      }
      writer.writeString(value.daemonNixVersion)
    }
    if (workerAtLeast(version, GATE.TRUSTED_FLAG)) {
      OptTrustedFlagCodec.write(writer, value.trusted, version)
    }
  }
}

/* ------------------------------------------------------------------------ */
/* BasicDerivation (§3.6, op 36)                                             */
/* ------------------------------------------------------------------------ */

/** One output of a BasicDerivation as sent on the wire. */
export interface DerivationOutputWire {
  name: string
  /** Output path or "" (floating/deferred/impure). */
  path: string
  /** "", "sha256", "r:sha256", "text:sha256", … */
  hashAlgo: string
  /** base16 hash, "" or "impure". */
  hash: string
}

/** BasicDerivation (§3.6). */
export interface BasicDerivation {
  outputs: DerivationOutputWire[]
  inputSrcs: string[]
  platform: string
  builder: string
  args: string[]
  env: Array<[string, string]>
}

export const BasicDerivationCodec: Codec<BasicDerivation> = {
  async read (reader, version, options) {
    const outputs = await reader.readList(async () => {
      const name = await reader.readString(MAX_SHORT_STRING_LENGTH, 'output name', options)
      const path = await reader.readString(MAX_STORE_PATH_LENGTH, 'output path', options)
      const hashAlgo = await reader.readString(MAX_SHORT_STRING_LENGTH, 'output hash algorithm', options)
      const hash = await reader.readString(MAX_SHORT_STRING_LENGTH, 'output hash', options)
      if (path !== '') validateStorePath(path, 'output path')
      return { name, path, hashAlgo, hash }
    }, 'derivation outputs', undefined, options)
    const inputSrcs = await StorePathSetCodec.read(reader, version, options)
    const platform = await reader.readString(MAX_SHORT_STRING_LENGTH, 'platform', options)
    const builder = await reader.readString(undefined, 'builder', options)
    const args = await reader.readStrings(undefined, undefined, 'args', options)
    const env = await StringMapCodec.read(reader, version, options)
    return { outputs, inputSrcs, platform, builder, args, env }
  },
  write (writer, value, version) {
    const outputs = [...value.outputs].sort((a, b) => compareBytewise(a.name, b.name))
    writer.writeList(outputs, (o) => {
      writer.writeString(o.name).writeString(o.path).writeString(o.hashAlgo).writeString(o.hash)
    })
    StorePathSetCodec.write(writer, value.inputSrcs, version)
    writer.writeString(value.platform).writeString(value.builder).writeStrings(value.args)
    StringMapCodec.write(writer, value.env, version)
  }
}
