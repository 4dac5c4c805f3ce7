/**
 * Nix narinfo documents (spec §2.1, §2.2): parsing of untrusted text and rendering exactly
 * as Nix 2.8 writes them (`NarInfo::to_string`).
 *
 * Parsing normalises like Nix 2.8 does: a missing or empty `Compression` becomes `bzip2`,
 * `Deriver: unknown-deriver` means no deriver, an empty `System` or `CA` means none, hashes
 * may be base16/nix32/base64/SRI. Rendering writes Nix's field order, nix32 hashes, sorted
 * references and sorted, de-duplicated signatures (Nix keeps both in `std::set`s).
 *
 * Parsing is stricter than Nix on malformed syntax (every rule below yields a
 * `NarInfoParseError` naming the line): size limit, LF-only line endings, final newline,
 * `Key: value` with exactly one space after the colon, no blank lines, no control
 * characters, no repeated key other than `Sig`, canonical decimals ≤ 2^53 − 1, sha256
 * `NarHash`, known `Compression` values, valid store paths / base names, no duplicate
 * references, well-formed signatures.
 */
import { InvalidNarInfoError, NarInfoParseError } from './errors.ts'
import { NARINFO_COMPRESSIONS, NARINFO_DEFAULT_COMPRESSION, NARINFO_MAX_SIZE, NIX_STORE_DIR, UNKNOWN_DERIVER } from './constants.ts'
import { parseContentAddress, renderContentAddress } from './content-address.ts'
import type { ContentAddress } from './content-address.ts'
import { formatNixHash, hashSize, parseNixHash } from './hash.ts'
import type { NixHash } from './hash.ts'
import { parseSignature } from './signature.ts'
import { parseBaseName, StorePath } from './store-path.ts'

/** A `Compression` value Nix knows. */
export type Compression = typeof NARINFO_COMPRESSIONS[number]

/** A `Key: value` line whose key this module does not interpret. */
export interface NarInfoField {
  key: string
  value: string
}

export interface NarInfo {
  storePath: StorePath
  /** Where the (compressed) NAR is, relative to the cache URL or absolute. Non-empty. */
  url: string
  /** Always set; `bzip2` when the document had no (or an empty) `Compression` line. */
  compression: Compression
  /** Hash of the file at `url` (not verified by Nix 2.8). */
  fileHash?: NixHash
  fileSize?: number
  /** sha256 of the uncompressed NAR. */
  narHash: NixHash
  /** Size of the uncompressed NAR, > 0. */
  narSize: number
  /** Base names `<hash>-<name>` in document order (may include the path itself). */
  references: string[]
  /** Base name of the deriver `.drv`; absent for none / `unknown-deriver`. */
  deriver?: string
  system?: string
  /** `<keyname>:<base64>` strings in document order. */
  signatures: string[]
  ca?: ContentAddress
  /** Lines with keys Nix ignores, in document order (re-rendered last unless disabled). */
  unknownFields?: NarInfoField[]
}

export interface ParseNarInfoOptions {
  /** Store directory `StorePath` must be in (default `/nix/store`; Guix: `/gnu/store`). */
  storeDir?: string
  /** Largest accepted document in bytes (default 4 MiB). */
  maxSize?: number
}

export interface RenderNarInfoOptions {
  /** Append `unknownFields` after the known fields (default `true`). Nix itself drops them. */
  unknownFields?: boolean
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/
const KNOWN_KEYS = new Set(['StorePath', 'URL', 'Compression', 'FileHash', 'FileSize', 'NarHash', 'NarSize', 'References', 'Deriver', 'System', 'Sig', 'CA'])
const COMPRESSIONS: ReadonlySet<string> = new Set(NARINFO_COMPRESSIONS)

function lineOf (text: string, index: number): number {
  let line = 1
  for (let i = text.indexOf('\n'); i >= 0 && i < index; i = text.indexOf('\n', i + 1)) {
    line++
  }
  return line
}

function decodeInput (input: string | Uint8Array, maxSize: number): string {
  if (typeof input === 'string') {
    if (input.length > maxSize || Buffer.byteLength(input, 'utf8') > maxSize) {
      throw new NarInfoParseError(`document is larger than ${maxSize} bytes`)
    }
    return input
  }
  if (!(input instanceof Uint8Array)) {
    throw new NarInfoParseError('input must be a string or a Uint8Array')
  }
  if (input.byteLength > maxSize) {
    throw new NarInfoParseError(`document is larger than ${maxSize} bytes`)
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input)
  } catch (err) {
    throw new NarInfoParseError('document is not valid UTF-8', { cause: err })
  }
}

/** Parses a canonical non-negative decimal that fits in a JS number exactly. */
function parseDecimal (value: string): number | undefined {
  if (!DECIMAL.test(value)) {
    return undefined
  }
  const n = Number(value)
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * Parses a narinfo document. Throws `NarInfoParseError` (with `line`/`key`) for anything
 * Nix 2.8 would reject and for the malformed-syntax cases listed in the module comment.
 */
export function parseNarInfo (input: string | Uint8Array, options: ParseNarInfoOptions = {}): NarInfo {
  const storeDir = options.storeDir ?? NIX_STORE_DIR
  const maxSize = options.maxSize ?? NARINFO_MAX_SIZE
  const text = decodeInput(input, maxSize)

  if (text.length === 0) {
    throw new NarInfoParseError('document is empty')
  }
  const cr = text.indexOf('\r')
  if (cr >= 0) {
    throw new NarInfoParseError('carriage return found (only LF line endings are accepted)', { line: lineOf(text, cr) })
  }
  if (!text.endsWith('\n')) {
    throw new NarInfoParseError('last line is not terminated by a newline', { line: lineOf(text, text.length) })
  }

  const lines = text.slice(0, -1).split('\n')
  const seen = new Set<string>()
  let storePath: StorePath | undefined
  let url: string | undefined
  let compression: Compression | undefined
  let fileHash: NixHash | undefined
  let fileSize: number | undefined
  let narHash: NixHash | undefined
  let narSize: number | undefined
  let references: string[] = []
  let deriver: string | undefined
  let system: string | undefined
  let ca: ContentAddress | undefined
  const signatures: string[] = []
  const unknownFields: NarInfoField[] = []

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const lineNo = i + 1
    if (line.length === 0) {
      throw new NarInfoParseError('blank line', { line: lineNo })
    }
    const colon = line.indexOf(':')
    if (colon < 0) {
      throw new NarInfoParseError('expected "Key: value"', { line: lineNo })
    }
    const key = line.slice(0, colon)
    if (!KEY.test(key)) {
      throw new NarInfoParseError(`invalid key ${JSON.stringify(key.slice(0, 64))}`, { line: lineNo })
    }
    if (line[colon + 1] !== ' ') {
      throw new NarInfoParseError('expected one space after the colon', { line: lineNo, key })
    }
    const value = line.slice(colon + 2)
    if (CONTROL.test(value)) {
      throw new NarInfoParseError('control character in value', { line: lineNo, key })
    }
    if (key !== 'Sig') {
      if (seen.has(key)) {
        throw new NarInfoParseError('repeated key', { line: lineNo, key })
      }
      seen.add(key)
    }
    const fail = (message: string, cause?: unknown): never => {
      throw new NarInfoParseError(message, { line: lineNo, key, cause })
    }
    const causeMessage = (err: any): string => typeof err?.message === 'string' ? err.message : String(err)

    switch (key) {
      case 'StorePath':
        try {
          storePath = StorePath.parse(value, storeDir)
        } catch (err) {
          fail(causeMessage(err), err)
        }
        break
      case 'URL':
        if (value.length === 0) fail('empty URL')
        url = value
        break
      case 'Compression':
        if (value.length === 0) {
          compression = NARINFO_DEFAULT_COMPRESSION
        } else if (COMPRESSIONS.has(value)) {
          compression = value as Compression
        } else {
          fail(`unknown compression ${JSON.stringify(value.slice(0, 64))}`)
        }
        break
      case 'FileHash':
        try {
          fileHash = parseNixHash(value)
        } catch (err) {
          fail(causeMessage(err), err)
        }
        break
      case 'FileSize':
        fileSize = parseDecimal(value) ?? fail('not a decimal number ≤ 2^53 − 1')
        break
      case 'NarHash':
        try {
          narHash = parseNixHash(value)
        } catch (err) {
          fail(causeMessage(err), err)
        }
        if (narHash?.algorithm !== 'sha256') fail('NarHash must be a sha256 hash')
        break
      case 'NarSize':
        narSize = parseDecimal(value) ?? fail('not a decimal number ≤ 2^53 − 1')
        if (narSize === 0) fail('NarSize must be greater than 0')
        break
      case 'References':
        references = value.length === 0 ? [] : value.split(' ')
        for (const ref of references) {
          try {
            parseBaseName(ref)
          } catch (err) {
            fail(ref.length === 0 ? 'extra space between references' : causeMessage(err), err)
          }
        }
        if (new Set(references).size !== references.length) fail('duplicate reference')
        break
      case 'Deriver':
        if (value !== UNKNOWN_DERIVER) {
          try {
            parseBaseName(value)
          } catch (err) {
            fail(causeMessage(err), err)
          }
          deriver = value
        }
        break
      case 'System':
        system = value.length > 0 ? value : undefined
        break
      case 'Sig':
        try {
          parseSignature(value)
        } catch (err) {
          fail(causeMessage(err), err)
        }
        signatures.push(value)
        break
      case 'CA':
        if (value.length > 0) {
          try {
            ca = parseContentAddress(value)
          } catch (err) {
            fail(causeMessage(err), err)
          }
        }
        break
      default:
        unknownFields.push({ key, value })
    }
  }

  const missing = (key: string): never => {
    throw new NarInfoParseError(`required field ${key} is missing`, { key })
  }
  const info: NarInfo = {
    storePath: storePath ?? missing('StorePath'),
    url: url ?? missing('URL'),
    compression: compression ?? NARINFO_DEFAULT_COMPRESSION,
    narHash: narHash ?? missing('NarHash'),
    narSize: narSize ?? missing('NarSize'),
    references,
    signatures,
    unknownFields
  }
  if (fileHash != null) info.fileHash = fileHash
  if (fileSize != null) info.fileSize = fileSize
  if (deriver != null) info.deriver = deriver
  if (system != null) info.system = system
  if (ca != null) info.ca = ca
  return info
}

function checkValue (key: string, value: string): string {
  if (typeof value !== 'string' || CONTROL.test(value)) {
    throw new InvalidNarInfoError(`${key} must be a string without control characters or newlines`)
  }
  return value
}

function checkBaseName (key: string, value: string): string {
  try {
    parseBaseName(checkValue(key, value))
  } catch (err: any) {
    throw new InvalidNarInfoError(`${key}: ${err.message}`, { cause: err })
  }
  return value
}

function checkSize (key: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidNarInfoError(`${key} must be an integer in [${min}, 2^53 − 1]`)
  }
  return value
}

function checkHash (key: string, hash: NixHash): string {
  if (hash == null || hash.digest == null || hash.digest.length !== hashSize(hash.algorithm)) {
    throw new InvalidNarInfoError(`${key} is not a valid hash`)
  }
  return formatNixHash(hash, 'nix32')
}

/** Byte-wise ascending order of ASCII strings, without duplicates (a C++ `std::set<std::string>`). */
function sortedUnique (values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
}

/**
 * Renders a narinfo exactly as Nix writes it: `StorePath, URL, Compression, [FileHash],
 * [FileSize], NarHash, NarSize, References` (always present, `References: ` when empty),
 * `[Deriver], [System], Sig…, [CA]`, LF line endings, final newline; hashes as
 * `<algo>:<nix32>`, references and signatures sorted and de-duplicated. Unknown fields (from
 * a parsed document) follow unless `options.unknownFields === false`.
 *
 * Throws `InvalidNarInfoError` if a value would make the document corrupt.
 */
export function renderNarInfo (info: NarInfo, options: RenderNarInfoOptions = {}): string {
  if (!(info.storePath instanceof StorePath)) {
    throw new InvalidNarInfoError('storePath must be a StorePath')
  }
  const url = checkValue('URL', info.url)
  if (url.length === 0) {
    throw new InvalidNarInfoError('URL must not be empty')
  }
  if (!COMPRESSIONS.has(info.compression)) {
    throw new InvalidNarInfoError(`unknown compression ${JSON.stringify(String(info.compression))}`)
  }
  if (info.narHash?.algorithm !== 'sha256') {
    throw new InvalidNarInfoError('NarHash must be a sha256 hash')
  }

  let out = `StorePath: ${info.storePath.toString()}\n`
  out += `URL: ${url}\n`
  out += `Compression: ${info.compression}\n`
  if (info.fileHash != null) out += `FileHash: ${checkHash('FileHash', info.fileHash)}\n`
  if (info.fileSize != null) out += `FileSize: ${checkSize('FileSize', info.fileSize, 0)}\n`
  out += `NarHash: ${checkHash('NarHash', info.narHash)}\n`
  out += `NarSize: ${checkSize('NarSize', info.narSize, 1)}\n`
  out += `References: ${sortedUnique(info.references.map(r => checkBaseName('References', r))).join(' ')}\n`
  if (info.deriver != null) out += `Deriver: ${checkBaseName('Deriver', info.deriver)}\n`
  if (info.system != null && info.system.length > 0) out += `System: ${checkValue('System', info.system)}\n`
  for (const sig of sortedUnique(info.signatures)) {
    try {
      parseSignature(checkValue('Sig', sig))
    } catch (err: any) {
      throw new InvalidNarInfoError(`Sig: ${err.message}`, { cause: err })
    }
    out += `Sig: ${sig}\n`
  }
  if (info.ca != null) {
    try {
      out += `CA: ${renderContentAddress(info.ca)}\n`
    } catch (err: any) {
      throw new InvalidNarInfoError(`CA: ${err.message}`, { cause: err })
    }
  }
  if (options.unknownFields !== false) {
    for (const { key, value } of info.unknownFields ?? []) {
      if (!KEY.test(key) || KNOWN_KEYS.has(key)) {
        throw new InvalidNarInfoError(`invalid unknown-field key ${JSON.stringify(key)}`)
      }
      out += `${key}: ${checkValue(key, value)}\n`
    }
  }
  return out
}
