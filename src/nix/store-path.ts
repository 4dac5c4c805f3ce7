/**
 * Store paths (spec §4): `<storeDir>/<hash>-<name>`, and how Nix computes the hash part
 * (`makeStorePath`: sha256 of a descriptor string, XOR-folded to 20 bytes, nixbase32).
 */
import { decodeNixBase32, encodeNixBase32 } from './base32.ts'
import { NIX32_ALPHABET, NIX_STORE_DIR, STORE_PATH_DIGEST_BYTES, STORE_PATH_HASH_CHARS, STORE_PATH_NAME_MAX } from './constants.ts'
import { InvalidStorePathError } from './errors.ts'
import { computeNixHash, formatNixHash, hashSize, xorFold } from './hash.ts'
import type { NixHash } from './hash.ts'

const NAME_CHARS = /^[0-9A-Za-z+\-._?=]+$/
const HASH_PART = new RegExp(`^[${NIX32_ALPHABET}]{${STORE_PATH_HASH_CHARS}}$`)
const STORE_DIR = /^(\/[^/\0\n]+)+$/
const HEX_SHA256 = /^[0-9a-f]{64}$/

function show (value: string): string {
  return JSON.stringify(value.length > 300 ? `${value.slice(0, 300)}…` : value)
}

/**
 * Checks a store-path name: 1–211 characters of `[0-9A-Za-z+-._?=]`, not starting with `.`
 * (§4.1; the leading-dot rule is the one of Nix ≤ 2.3 and of the Guix daemon, and it covers
 * Nix master's `.`, `..`, `.-…`, `..-…` rejections).
 */
export function validateStorePathName (name: string): void {
  if (name.length === 0) {
    throw new InvalidStorePathError('store path name is empty')
  }
  if (name.length > STORE_PATH_NAME_MAX) {
    throw new InvalidStorePathError(`store path name is longer than ${STORE_PATH_NAME_MAX} characters`)
  }
  if (!NAME_CHARS.test(name)) {
    throw new InvalidStorePathError(`store path name ${show(name)} contains an illegal character`)
  }
  if (name.startsWith('.')) {
    throw new InvalidStorePathError(`store path name ${show(name)} starts with '.'`)
  }
}

export function isValidStorePathName (name: string): boolean {
  try {
    validateStorePathName(name)
    return true
  } catch {
    return false
  }
}

/** Checks a store directory: absolute, no trailing slash, no empty or `.`/`..` components. */
export function validateStoreDir (storeDir: string): void {
  if (!STORE_DIR.test(storeDir) || storeDir.split('/').some(c => c === '.' || c === '..')) {
    throw new InvalidStorePathError(`invalid store directory ${show(storeDir)}`)
  }
}

export interface BaseNameParts {
  hashPart: string
  name: string
}

/** Splits and validates a base name `<32 nix32 chars>-<name>`. */
export function parseBaseName (baseName: string): BaseNameParts {
  if (baseName.length < STORE_PATH_HASH_CHARS + 2) {
    throw new InvalidStorePathError(`${show(baseName)} is too short to be a store path base name`)
  }
  const hashPart = baseName.slice(0, STORE_PATH_HASH_CHARS)
  if (!HASH_PART.test(hashPart)) {
    throw new InvalidStorePathError(`store path ${show(baseName)} has an invalid hash part`)
  }
  if (baseName[STORE_PATH_HASH_CHARS] !== '-') {
    throw new InvalidStorePathError(`store path ${show(baseName)}: the hash part is not followed by '-'`)
  }
  const name = baseName.slice(STORE_PATH_HASH_CHARS + 1)
  try {
    validateStorePathName(name)
  } catch (err: any) {
    throw new InvalidStorePathError(`store path ${show(baseName)}: ${err.message}`)
  }
  return { hashPart, name }
}

/** An immutable, validated store path. */
export class StorePath {
  readonly storeDir: string
  readonly hashPart: string
  readonly name: string

  /** Validates all three parts; prefer {@link StorePath.parse} / {@link StorePath.fromBaseName}. */
  constructor (storeDir: string, hashPart: string, name: string) {
    validateStoreDir(storeDir)
    if (!HASH_PART.test(hashPart)) {
      throw new InvalidStorePathError(`invalid store path hash part ${show(hashPart)}`)
    }
    validateStorePathName(name)
    this.storeDir = storeDir
    this.hashPart = hashPart
    this.name = name
  }

  /** Parses a full path `<storeDir>/<hash>-<name>`; the store dir must match exactly. */
  static parse (path: string, storeDir: string = NIX_STORE_DIR): StorePath {
    validateStoreDir(storeDir)
    if (!path.startsWith(`${storeDir}/`)) {
      throw new InvalidStorePathError(`path ${show(path)} is not in the store ${storeDir}`)
    }
    const baseName = path.slice(storeDir.length + 1)
    if (baseName.includes('/')) {
      throw new InvalidStorePathError(`path ${show(path)} is not a top-level store path`)
    }
    return StorePath.fromBaseName(baseName, storeDir)
  }

  /** Builds a store path from its base name `<hash>-<name>`. */
  static fromBaseName (baseName: string, storeDir: string = NIX_STORE_DIR): StorePath {
    const { hashPart, name } = parseBaseName(baseName)
    return new StorePath(storeDir, hashPart, name)
  }

  /** Builds a store path from a 20-byte digest and a name. */
  static fromDigest (digest: Uint8Array, name: string, storeDir: string = NIX_STORE_DIR): StorePath {
    if (digest.length !== STORE_PATH_DIGEST_BYTES) {
      throw new InvalidStorePathError(`store path digest must be ${STORE_PATH_DIGEST_BYTES} bytes, got ${digest.length}`)
    }
    return new StorePath(storeDir, encodeNixBase32(digest), name)
  }

  /** `<hash>-<name>` */
  get baseName (): string {
    return `${this.hashPart}-${this.name}`
  }

  /** The 20 bytes the hash part encodes. */
  get digest (): Uint8Array {
    return decodeNixBase32(this.hashPart, STORE_PATH_DIGEST_BYTES)
  }

  /** True for `.drv` store paths. */
  get isDerivation (): boolean {
    return this.name.endsWith('.drv')
  }

  equals (other: StorePath): boolean {
    return this.storeDir === other.storeDir && this.hashPart === other.hashPart && this.name === other.name
  }

  /** The full path `<storeDir>/<hash>-<name>`. */
  toString (): string {
    return `${this.storeDir}/${this.baseName}`
  }

  toJSON (): string {
    return this.toString()
  }
}

/** Parses a full store path (`StorePath.parse`). */
export function parseStorePath (path: string, options: { storeDir?: string } = {}): StorePath {
  return StorePath.parse(path, options.storeDir ?? NIX_STORE_DIR)
}

/**
 * Nix `Store::makeStorePath`: hash part = nix32(xorFold20(sha256(
 * `<type>:sha256:<innerHashHex>:<storeDir>:<name>`))) (§4.2).
 *
 * @param type - e.g. `source`, `text:/nix/store/…`, `output:out`
 * @param innerHashHex - lower-case base16 of a sha256
 */
export function makeStorePath (type: string, innerHashHex: string, name: string, storeDir: string = NIX_STORE_DIR): StorePath {
  validateStoreDir(storeDir)
  validateStorePathName(name)
  if (!HEX_SHA256.test(innerHashHex)) {
    throw new InvalidStorePathError('inner hash must be 64 lower-case hex characters (a sha256)')
  }
  const descriptor = `${type}:sha256:${innerHashHex}:${storeDir}:${name}`
  const folded = xorFold(computeNixHash('sha256', descriptor).digest, STORE_PATH_DIGEST_BYTES)
  return StorePath.fromDigest(folded, name, storeDir)
}

/**
 * Appends the references (sorted, de-duplicated full paths) and optionally `:self` to a
 * path type, as Nix `makeType` does (§4.3).
 */
export function makePathType (type: string, references: Iterable<StorePath> = [], hasSelfReference = false, storeDir: string = NIX_STORE_DIR): string {
  const baseNames = [...new Set([...references].map(r => r.baseName))].sort()
  let result = type
  for (const baseName of baseNames) {
    result += `:${storeDir}/${baseName}`
  }
  if (hasSelfReference) {
    result += ':self'
  }
  return result
}

/**
 * Input-addressed derivation output (`Store::makeOutputPath`): type `output:<id>`, the
 * name gets `-<id>` unless the output is `out`.
 *
 * @param drvHashHex - hex of the derivation's `hashDerivationModulo` sha256
 */
export function makeOutputPath (outputName: string, drvHashHex: string, drvName: string, storeDir: string = NIX_STORE_DIR): StorePath {
  const name = outputName === 'out' ? drvName : `${drvName}-${outputName}`
  return makeStorePath(`output:${outputName}`, drvHashHex, name, storeDir)
}

/**
 * Text paths (`builtins.toFile`, `.drv` files; `Store::makeTextPath`): type
 * `text[:<ref>…]`, inner hash = sha256 of the contents.
 */
export function makeTextPath (name: string, contentHash: NixHash, references: Iterable<StorePath> = [], storeDir: string = NIX_STORE_DIR): StorePath {
  if (contentHash.algorithm !== 'sha256' || contentHash.digest.length !== hashSize('sha256')) {
    throw new InvalidStorePathError('text paths need a sha256 content hash')
  }
  return makeStorePath(makePathType('text', references, false, storeDir), formatNixHash(contentHash, 'base16', { prefix: false }), name, storeDir)
}

/** Flat file hash or NAR (recursive) hash. */
export type FileIngestionMethod = 'flat' | 'recursive'

export interface MakeFixedOutputPathOptions {
  method: FileIngestionMethod
  hash: NixHash
  name: string
  /** Only allowed for recursive sha256 (`source` paths); must not contain the path itself. */
  references?: Iterable<StorePath>
  /** The path refers to itself (`:self`); only for recursive sha256. */
  hasSelfReference?: boolean
  storeDir?: string
}

/**
 * Fixed-output / content-addressed paths (`Store::makeFixedOutputPath`, §4.3):
 * recursive sha256 ⇒ type `source[:<ref>…][:self]` over the NAR hash; anything else ⇒
 * `output:out` over sha256(`fixed:out:<r:|"">:<algo>:<hex>:`), without references.
 */
export function makeFixedOutputPath (options: MakeFixedOutputPathOptions): StorePath {
  const storeDir = options.storeDir ?? NIX_STORE_DIR
  const { hash, method, name } = options
  if (hash.digest.length !== hashSize(hash.algorithm)) {
    throw new InvalidStorePathError(`${hash.algorithm} digest has the wrong size`)
  }
  if (method !== 'flat' && method !== 'recursive') {
    throw new InvalidStorePathError(`unknown file ingestion method ${String(method)}`)
  }
  if (hash.algorithm === 'sha256' && method === 'recursive') {
    const type = makePathType('source', options.references ?? [], options.hasSelfReference === true, storeDir)
    return makeStorePath(type, formatNixHash(hash, 'base16', { prefix: false }), name, storeDir)
  }
  const references = [...(options.references ?? [])]
  if (references.length > 0 || options.hasSelfReference === true) {
    throw new InvalidStorePathError('only recursive sha256 fixed-output paths can have references')
  }
  const inner = `fixed:out:${method === 'recursive' ? 'r:' : ''}${formatNixHash(hash, 'base16')}:`
  return makeStorePath('output:out', formatNixHash(computeNixHash('sha256', inner), 'base16', { prefix: false }), name, storeDir)
}
