/**
 * Guix narinfos as `guix publish` writes them and `guix substitute` reads
 * them (binary-cache.md §5.2, §5.4; guix `guix/narinfo.scm` `read-narinfo`,
 * `guix/records.scm` `recutils->alist`, `guix/scripts/publish.scm`
 * `narinfo-string`).
 *
 * A narinfo is kept as its ordered list of fields, so that a parsed document
 * renders back byte-for-byte (the signature covers the exact text before the
 * `Signature:` line, whatever the field order — old servers put
 * URL/Compression/FileSize above it, current ones below). The structured
 * properties are a validated read-only view of those fields.
 */
import { createHash } from 'node:crypto'

/** One `Key: value` line (continuation lines joined with "\n"). */
export interface GuixNarInfoField {
  readonly key: string
  readonly value: string
}

/** One downloadable NAR: the i-th URL with the i-th Compression/FileSize/FileHash. */
export interface GuixNarLocation {
  readonly url: string
  readonly compression?: string
  readonly fileSize?: number
  readonly fileHash?: string
}

/** A parsed Guix narinfo. `fields` is authoritative; the rest is derived from it. */
export interface GuixNarInfo {
  /** Full store path, e.g. `/gnu/store/<hash>-<name>`. */
  readonly storePath: string
  /** `sha256:<nix32>` of the uncompressed NAR, as written. */
  readonly narHash: string
  readonly narSize: number
  /** Base names, in file order (Guix compares the lists in order, §5.5). */
  readonly references: readonly string[]
  /** Base name of the deriver, absent when missing or empty. */
  readonly deriver?: string
  readonly system?: string
  /** Raw `Signature` value: `1;<host>;<base64 sexp>`. */
  readonly signature?: string
  readonly nars: readonly GuixNarLocation[]
  /** Every field in file order (first occurrence wins for single-valued keys, as in Guix). */
  readonly fields: readonly GuixNarInfoField[]
}

/** A narinfo that is malformed or violates a bound. */
export class GuixNarInfoError extends Error {
  static override name = 'GuixNarInfoError'
  override name = 'GuixNarInfoError'
  /** 1-based line number, when the problem is tied to one line. */
  line?: number

  constructor (message: string, line?: number) {
    super(line === undefined ? message : `${message} (line ${line})`)
    this.line = line
  }
}

/** Upper bound on narinfo size (the largest real ones, with thousands of references, are ~200 KiB). */
export const GUIX_NARINFO_MAX_SIZE = 4 * 1024 * 1024

/** Fields that `read-narinfo` collects as lists and zips by position (`guix/narinfo.scm`). */
export const GUIX_NAR_LOCATION_KEYS: readonly string[] = Object.freeze(['URL', 'Compression', 'FileSize', 'FileHash'])

/** Fields that must appear above `Signature:` for the narinfo to count as signed (`narinfo-sha256`). */
export const GUIX_SIGNED_MANDATORY_KEYS: readonly string[] = Object.freeze(['StorePath', 'NarHash', 'References'])

/** The text whose first occurrence ends the signed part (`narinfo-sha256`). */
export const GUIX_SIGNATURE_MARKER = 'Signature:'

/** Compressions `guix substitute` can decode (`%compression-methods`). */
export const GUIX_COMPRESSIONS: readonly string[] = Object.freeze(['none', 'gzip', 'lzip', 'zstd', 'xz', 'bzip2'])

/** nix32 alphabet (binary-cache.md §2.3). Private copy; see src/nix/base32.ts. */
const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'
/** `<32 nix32 chars>-<name>`, name 1–211 chars of `[0-9A-Za-z+\-._?=]` (binary-cache.md §4.1). */
const STORE_BASENAME_RE = new RegExp(`^[${NIX32}]{32}-[0-9A-Za-z+\\-._?=]{1,211}$`)
/** `/dir…/<basename>`. */
const STORE_PATH_RE = new RegExp(`^(?:/[^/\\0\\n]+)+/[${NIX32}]{32}-[0-9A-Za-z+\\-._?=]{1,211}$`)
/** Guix requires `sha256:` + nix32 of 32 bytes (52 chars, §5.2). */
const NAR_HASH_RE = new RegExp(`^sha256:[${NIX32}]{52}$`)
const DECIMAL_RE = /^[0-9]+$/
/** recutils field names start with a letter or `%` (`%recutils-field-charset`). */
const FIELD_START_RE = /^[A-Za-z%]/

const utf8 = new TextDecoder('utf-8', { fatal: true })
const textEncoder = new TextEncoder()

function decodeText (input: string | Uint8Array, maxSize: number): string {
  if (input.length > maxSize) throw new GuixNarInfoError(`narinfo larger than ${maxSize} bytes`)
  if (typeof input === 'string') return input
  try {
    return utf8.decode(input)
  } catch {
    throw new GuixNarInfoError('narinfo is not valid UTF-8')
  }
}

export interface ParseGuixNarInfoOptions {
  /** Maximum size in bytes (UTF-16 units for strings); default {@link GUIX_NARINFO_MAX_SIZE}. */
  maxSize?: number
}

/**
 * Splits a narinfo into fields like Guix's `recutils->alist`: lines end at
 * LF; blank lines before the first field are skipped and a blank line after
 * it ends the record (the rest is ignored); `#` lines are comments; a line
 * starting with `+` continues the previous value (after dropping `+ ` or
 * `+`); otherwise the line must start with a letter or `%` and contain `:`,
 * the key is the text before the first colon and the value the text after
 * it with leading whitespace removed. CR is rejected (Guix would keep it in
 * the value).
 *
 * @throws {GuixNarInfoError}
 */
export function parseGuixNarInfoFields (input: string | Uint8Array, options: ParseGuixNarInfoOptions = {}): GuixNarInfoField[] {
  const text = decodeText(input, options.maxSize ?? GUIX_NARINFO_MAX_SIZE)
  const lines = text.split('\n')
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop() // final LF, not an empty line
  const fields: Array<{ key: string, value: string }> = []
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]
    const lineNo = n + 1
    if (line.includes('\r')) throw new GuixNarInfoError('carriage return in narinfo', lineNo)
    if (line === '') {
      if (fields.length === 0) continue
      break // end of record
    }
    if (line.startsWith('#')) continue
    if (line.startsWith('+')) {
      const last = fields[fields.length - 1]
      if (last === undefined) throw new GuixNarInfoError('continuation line before any field', lineNo)
      last.value += '\n' + (line.startsWith('+ ') ? line.slice(2) : line.slice(1))
      continue
    }
    if (!FIELD_START_RE.test(line)) throw new GuixNarInfoError('unmatched line', lineNo)
    const colon = line.indexOf(':')
    if (colon < 0) throw new GuixNarInfoError('field line without ":"', lineNo)
    fields.push({ key: line.slice(0, colon), value: line.slice(colon + 1).trimStart() })
  }
  return fields
}

function firstValue (fields: readonly GuixNarInfoField[], key: string): string | undefined {
  for (const f of fields) if (f.key === key) return f.value
  return undefined
}

function allValues (fields: readonly GuixNarInfoField[], key: string): string[] {
  return fields.filter(f => f.key === key).map(f => f.value)
}

function parseDecimal (value: string, what: string): number {
  if (!DECIMAL_RE.test(value)) throw new GuixNarInfoError(`${what} is not a decimal number: ${JSON.stringify(value.slice(0, 40))}`)
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new GuixNarInfoError(`${what} is too large`)
  return n
}

/** Splits `References` like Guile's `string-tokenize` (runs of non-whitespace). */
function tokenize (value: string): string[] {
  return value.split(/\s+/).filter(t => t !== '')
}

/**
 * Validates fields and builds the structured view.
 *
 * @throws {GuixNarInfoError}
 */
export function guixNarInfoFromFields (fields: readonly GuixNarInfoField[]): GuixNarInfo {
  const storePath = firstValue(fields, 'StorePath')
  if (storePath === undefined) throw new GuixNarInfoError('missing StorePath')
  if (!STORE_PATH_RE.test(storePath)) throw new GuixNarInfoError(`invalid StorePath: ${JSON.stringify(storePath.slice(0, 300))}`)

  const narHash = firstValue(fields, 'NarHash')
  if (narHash === undefined) throw new GuixNarInfoError('missing NarHash')
  if (!NAR_HASH_RE.test(narHash)) throw new GuixNarInfoError(`NarHash must be sha256:<52 nix32 chars>, got ${JSON.stringify(narHash.slice(0, 80))}`)

  const narSizeText = firstValue(fields, 'NarSize')
  if (narSizeText === undefined) throw new GuixNarInfoError('missing NarSize')
  const narSize = parseDecimal(narSizeText, 'NarSize')

  const referencesText = firstValue(fields, 'References')
  if (referencesText === undefined) throw new GuixNarInfoError('missing References')
  const references = tokenize(referencesText)
  for (const r of references) {
    if (!STORE_BASENAME_RE.test(r)) throw new GuixNarInfoError(`invalid reference: ${JSON.stringify(r.slice(0, 300))}`)
  }

  const deriverText = firstValue(fields, 'Deriver')
  const deriver = deriverText === undefined || deriverText === '' ? undefined : deriverText
  if (deriver !== undefined && !STORE_BASENAME_RE.test(deriver)) throw new GuixNarInfoError(`invalid Deriver: ${JSON.stringify(deriver.slice(0, 300))}`)

  const system = firstValue(fields, 'System')
  const signature = firstValue(fields, 'Signature')

  const urls = allValues(fields, 'URL')
  if (urls.length === 0) throw new GuixNarInfoError('missing URL')
  const compressions = allValues(fields, 'Compression')
  const fileSizes = allValues(fields, 'FileSize').map(v => parseDecimal(v, 'FileSize'))
  const fileHashes = allValues(fields, 'FileHash')
  const nars: GuixNarLocation[] = urls.map((url, i) => {
    if (url === '') throw new GuixNarInfoError('empty URL')
    const loc: { url: string, compression?: string, fileSize?: number, fileHash?: string } = { url }
    if (i < compressions.length) loc.compression = compressions[i]
    if (i < fileSizes.length) loc.fileSize = fileSizes[i]
    if (i < fileHashes.length) loc.fileHash = fileHashes[i]
    return loc
  })

  const info: { -readonly [K in keyof GuixNarInfo]: GuixNarInfo[K] } = {
    storePath,
    narHash,
    narSize,
    references,
    nars,
    fields: fields.map(f => ({ key: f.key, value: f.value }))
  }
  if (deriver !== undefined) info.deriver = deriver
  if (system !== undefined) info.system = system
  if (signature !== undefined) info.signature = signature
  return info
}

/**
 * Parses and validates a Guix narinfo.
 *
 * @throws {GuixNarInfoError}
 */
export function parseGuixNarInfo (input: string | Uint8Array, options: ParseGuixNarInfoOptions = {}): GuixNarInfo {
  return guixNarInfoFromFields(parseGuixNarInfoFields(input, options))
}

function renderField (f: GuixNarInfoField): string {
  if (!FIELD_START_RE.test(f.key) || f.key.includes(':') || f.key.includes('\n') || f.key.includes('\r')) {
    throw new GuixNarInfoError(`invalid field name: ${JSON.stringify(f.key)}`)
  }
  if (f.value.includes('\r')) throw new GuixNarInfoError(`carriage return in ${f.key}`)
  if (/^\s/.test(f.value)) throw new GuixNarInfoError(`${f.key} value starts with whitespace (would not survive parsing)`)
  const [first, ...rest] = f.value.split('\n')
  return `${f.key}: ${first}\n` + rest.map(l => `+ ${l}\n`).join('')
}

/**
 * Renders fields as `Key: value` lines, LF-terminated (multi-line values as
 * `+ ` continuation lines). A parsed narinfo renders back byte-for-byte when
 * it had no comments, blank lines, CRs or trailing record.
 *
 * @throws {GuixNarInfoError} for a field that cannot be written faithfully
 */
export function renderGuixNarInfo (info: Pick<GuixNarInfo, 'fields'>): string {
  return info.fields.map(renderField).join('')
}

/** What {@link createGuixNarInfo} needs. */
export interface GuixNarInfoInit {
  storePath: string
  /** `sha256:<nix32>`. */
  narHash: string
  narSize: number
  /**
   * Base names. Written in the given order; `guix publish` writes the
   * daemon's order (sorted), and `guix substitute` compares the lists in
   * order when matching narinfos of different servers (§5.5).
   */
  references: readonly string[]
  deriver?: string
  system?: string
  /** `Signature` value, if already known. */
  signature?: string
  nars: readonly GuixNarLocation[]
  /** Extra fields, written after System and before Signature (so they are signed). */
  extra?: readonly GuixNarInfoField[]
}

/**
 * Builds a narinfo in the field order of current `guix publish`
 * (`narinfo-string`): StorePath, NarHash, NarSize, References, [Deriver],
 * [System], [extra…], [Signature], then URL / Compression / [FileSize] /
 * [FileHash] per NAR — everything that locates NARs stays below the
 * signature so mirrors may rewrite it.
 *
 * @throws {GuixNarInfoError}
 */
export function createGuixNarInfo (init: GuixNarInfoInit): GuixNarInfo {
  if (!Number.isSafeInteger(init.narSize) || init.narSize < 0) throw new GuixNarInfoError('narSize must be a non-negative integer')
  if (init.nars.length === 0) throw new GuixNarInfoError('at least one NAR location is required')
  const withSize = init.nars.filter(n => n.fileSize !== undefined).length
  if (withSize !== 0 && withSize !== init.nars.length) {
    throw new GuixNarInfoError('give FileSize for every NAR or for none (Guix zips the lists by position)')
  }
  const withHash = init.nars.filter(n => n.fileHash !== undefined).length
  if (withHash !== 0 && withHash !== init.nars.length) {
    throw new GuixNarInfoError('give FileHash for every NAR or for none (Guix zips the lists by position)')
  }
  const withCompression = init.nars.filter(n => n.compression !== undefined).length
  if (withCompression !== init.nars.length) {
    throw new GuixNarInfoError('every NAR needs a Compression (Guix zips the lists by position)')
  }

  const fields: GuixNarInfoField[] = [
    { key: 'StorePath', value: init.storePath },
    { key: 'NarHash', value: init.narHash },
    { key: 'NarSize', value: String(init.narSize) },
    { key: 'References', value: init.references.join(' ') }
  ]
  if (init.deriver !== undefined) fields.push({ key: 'Deriver', value: init.deriver })
  if (init.system !== undefined) fields.push({ key: 'System', value: init.system })
  for (const f of init.extra ?? []) {
    if (f.key === 'Signature' || GUIX_NAR_LOCATION_KEYS.includes(f.key) || ['StorePath', 'NarHash', 'NarSize', 'References', 'Deriver', 'System'].includes(f.key)) {
      throw new GuixNarInfoError(`extra field ${f.key} duplicates a standard field`)
    }
    fields.push({ key: f.key, value: f.value })
  }
  if (init.signature !== undefined) fields.push({ key: 'Signature', value: init.signature })
  for (const n of init.nars) {
    if (n.fileSize !== undefined && (!Number.isSafeInteger(n.fileSize) || n.fileSize < 0)) throw new GuixNarInfoError('fileSize must be a non-negative integer')
    fields.push({ key: 'URL', value: n.url })
    if (n.compression !== undefined) fields.push({ key: 'Compression', value: n.compression })
    if (n.fileSize !== undefined) fields.push({ key: 'FileSize', value: String(n.fileSize) })
    if (n.fileHash !== undefined) fields.push({ key: 'FileHash', value: n.fileHash })
  }
  for (const f of fields) {
    if (f.value.includes('\n')) throw new GuixNarInfoError(`${f.key} must be a single line`)
    renderField(f) // validates
  }
  const info = guixNarInfoFromFields(fields)
  guixNarInfoSignedBody(info) // throws if the signed part would contain "Signature:"
  return info
}

/**
 * Where a signature goes: the index of the existing `Signature` field, or
 * else right after the last field that does not locate a NAR (so the NAR
 * location fields below it stay unsigned, as `guix publish` does, while in
 * the old layout the ones above it stay signed).
 */
export function guixSignaturePosition (fields: readonly GuixNarInfoField[]): { index: number, replace: boolean } {
  const existing = fields.findIndex(f => f.key === 'Signature')
  if (existing >= 0) return { index: existing, replace: true }
  let index = 0
  fields.forEach((f, i) => { if (!GUIX_NAR_LOCATION_KEYS.includes(f.key)) index = i + 1 })
  return { index, replace: false }
}

/**
 * The exact text a signature for `info` must cover: the rendered fields
 * above the (existing or future) `Signature` line.
 *
 * @throws {GuixNarInfoError} if that text would contain `Signature:` itself
 */
export function guixNarInfoSignedBody (info: Pick<GuixNarInfo, 'fields'>): string {
  const { index } = guixSignaturePosition(info.fields)
  const body = info.fields.slice(0, index).map(renderField).join('')
  if (body.includes(GUIX_SIGNATURE_MARKER)) throw new GuixNarInfoError(`a value above the Signature line contains "${GUIX_SIGNATURE_MARKER}"`)
  return body
}

/**
 * Returns `info` with its `Signature` set to `signature` (replacing the
 * existing one in place, or inserted at {@link guixSignaturePosition}).
 *
 * @throws {GuixNarInfoError}
 */
export function withGuixSignature (info: Pick<GuixNarInfo, 'fields'>, signature: string): GuixNarInfo {
  const { index, replace } = guixSignaturePosition(info.fields)
  const field: GuixNarInfoField = { key: 'Signature', value: signature }
  renderField(field)
  if (signature.includes('\n')) throw new GuixNarInfoError('Signature must be a single line')
  const fields = [...info.fields.slice(0, index), field, ...info.fields.slice(replace ? index + 1 : index)]
  return guixNarInfoFromFields(fields)
}

/**
 * The signed bytes of a narinfo text as `guix substitute` computes them
 * (`narinfo-sha256`): everything before the first occurrence of
 * `Signature:`, or undefined when there is none.
 */
export function guixNarInfoSignedPart (text: string | Uint8Array): Uint8Array | undefined {
  const bytes = typeof text === 'string' ? textEncoder.encode(text) : text
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(GUIX_SIGNATURE_MARKER, 0, 'latin1')
  return at < 0 ? undefined : bytes.subarray(0, at)
}

/** sha256 of {@link guixNarInfoSignedPart}, or undefined. */
export function guixNarInfoSignedDigest (text: string | Uint8Array): Uint8Array | undefined {
  const part = guixNarInfoSignedPart(text)
  return part === undefined ? undefined : new Uint8Array(createHash('sha256').update(part).digest())
}

/**
 * `equivalent-narinfo?` (guix/narinfo.scm): same NarHash text, StorePath,
 * References list (same order) and NarSize. An unsigned narinfo equivalent to
 * an authorized one from another substitute URL is accepted by Guix (§5.5).
 */
export function equivalentGuixNarInfo (a: GuixNarInfo, b: GuixNarInfo): boolean {
  return a.narHash === b.narHash &&
    a.storePath === b.storePath &&
    a.narSize === b.narSize &&
    a.references.length === b.references.length &&
    a.references.every((r, i) => r === b.references[i])
}
