/**
 * PathInfo: what the node knows about one store path (snix `PathInfo`, §1.8): its castore root,
 * the narinfo fields needed to serve Nix and Guix (NarHash, NarSize, references, deriver,
 * signatures, CA) and local bookkeeping.
 */
import type { CastoreNode } from './directory.ts'
import { validateNode, nodeToJSON } from './directory.ts'
import { fromHex, toHex } from './digest.ts'
import { CastoreValidationError } from './errors.ts'
import { StorePath } from '../nix/store-path.ts'

export interface PathInfo {
  /** full store path, e.g. `/nix/store/<32 nix32 chars>-<name>` */
  storePath: string
  /** castore root of the path's contents */
  node: CastoreNode
  /** full store paths this path refers to (may include itself), sorted */
  references: string[]
  deriver?: string
  /** sha256 of the NAR serialisation (32 bytes) */
  narHash: Uint8Array
  narSize: number
  /** narinfo `Sig:` values, `<key name>:<base64>` */
  signatures: string[]
  /** content address, e.g. `fixed:r:sha256:…` */
  ca?: string
  /** milliseconds since the epoch when the node made the path valid */
  registrationTime: number
  /** ERIS read capability (`urn:eris:…`) of the uncompressed NAR, 32 KiB blocks, null secret */
  eris?: string
}

/**
 * Splits a store path (in any store directory: `/nix/store`, `/gnu/store`, …) into store
 * directory, hash part and name; throws CastoreValidationError when malformed.
 */
export function splitStorePath (path: string): { storeDir: string, hashPart: string, name: string } {
  try {
    const parsed = StorePath.parse(path, path.slice(0, Math.max(1, path.lastIndexOf('/'))))
    return { storeDir: parsed.storeDir, hashPart: parsed.hashPart, name: parsed.name }
  } catch (err: any) {
    throw new CastoreValidationError(`not a store path: ${err.message}`)
  }
}

export function validatePathInfo (info: PathInfo): void {
  splitStorePath(info.storePath)
  validateNode(info.node)
  for (const ref of info.references) splitStorePath(ref)
  if (info.deriver !== undefined) splitStorePath(info.deriver)
  if (info.narHash.byteLength !== 32) throw new CastoreValidationError('NarHash must be a 32-byte sha256 digest')
  if (!Number.isSafeInteger(info.narSize) || info.narSize < 0) throw new CastoreValidationError(`bad NarSize ${info.narSize}`)
  if (info.eris !== undefined && !/^urn:eris:[A-Z2-7]{106}$/.test(info.eris)) throw new CastoreValidationError(`malformed ERIS URN ${JSON.stringify(info.eris.slice(0, 200))}`)
  for (const sig of info.signatures) {
    if (!/^[^:\s]+:[A-Za-z0-9+/]+=*$/.test(sig)) throw new CastoreValidationError(`malformed signature ${JSON.stringify(sig.slice(0, 200))}`)
  }
}

export function pathInfoToJSON (info: PathInfo): Record<string, unknown> {
  return {
    storePath: info.storePath,
    node: nodeToJSON(info.node),
    references: info.references,
    ...(info.deriver !== undefined ? { deriver: info.deriver } : {}),
    narHash: toHex(info.narHash),
    narSize: info.narSize,
    signatures: info.signatures,
    ...(info.ca !== undefined ? { ca: info.ca } : {}),
    registrationTime: info.registrationTime,
    ...(info.eris !== undefined ? { eris: info.eris } : {})
  }
}

/** `String(value)` for a JSON scalar; objects and arrays (whose conversion can throw a TypeError) are refused. */
function scalarText (value: unknown, what: string): string {
  if (typeof value === 'object' && value !== null) throw new CastoreValidationError(`PathInfo ${what} must not be an object or array`)
  return String(value)
}

/** `Number(value)` for a JSON scalar; objects and arrays are refused. */
function scalarNumber (value: unknown, what: string): number {
  if (typeof value === 'object' && value !== null) throw new CastoreValidationError(`PathInfo ${what} must not be an object or array`)
  return Number(value)
}

export function pathInfoFromJSON (json: any): PathInfo {
  if (typeof json !== 'object' || json === null) throw new CastoreValidationError('PathInfo must be an object')
  const n = json.node ?? {}
  if (typeof n !== 'object') throw new CastoreValidationError('PathInfo node must be an object')
  const node: CastoreNode = n.type === 'symlink'
    ? { type: 'symlink', target: new Uint8Array(Buffer.from(scalarText(n.target, 'symlink target'), 'base64')) }
    : n.type === 'file'
      ? { type: 'file', digest: fromHex(scalarText(n.digest, 'node digest')), size: scalarNumber(n.size, 'node size'), executable: n.executable === true }
      : { type: 'directory', digest: fromHex(scalarText(n.digest, 'node digest')), size: scalarNumber(n.size, 'node size') }
  if (!['symlink', 'file', 'directory'].includes(n.type)) throw new CastoreValidationError(`unknown node type ${scalarText(n.type, 'node type')}`)
  const info: PathInfo = {
    storePath: scalarText(json.storePath, 'storePath'),
    node,
    references: Array.isArray(json.references) ? json.references.map((r: unknown) => scalarText(r, 'reference')) : [],
    narHash: fromHex(scalarText(json.narHash, 'narHash')),
    narSize: scalarNumber(json.narSize, 'narSize'),
    signatures: Array.isArray(json.signatures) ? json.signatures.map((r: unknown) => scalarText(r, 'signature')) : [],
    registrationTime: scalarNumber(json.registrationTime ?? 0, 'registrationTime')
  }
  if (json.deriver !== undefined) info.deriver = scalarText(json.deriver, 'deriver')
  if (json.ca !== undefined) info.ca = scalarText(json.ca, 'ca')
  if (json.eris !== undefined) info.eris = scalarText(json.eris, 'eris')
  validatePathInfo(info)
  return info
}
