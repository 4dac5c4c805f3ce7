/**
 * An upstream narinfo, parsed and verified, in one shape for both dialects: Nix narinfos must
 * carry a signature by one of the upstream's keys over the Nix fingerprint (or a CA that
 * recomputes the store path), Guix narinfos (`/gnu/store`) a valid Guix signature
 * (guix-signature.ts) by one of its keys. Anything else is an `UpstreamError`.
 */
import { GUIX_STORE_DIR } from '../nix/constants.ts'
import { renderContentAddress } from '../nix/content-address.ts'
import { parseGuixNarInfo } from '../nix/guix-narinfo.ts'
import { parseGuixPublicKey, verifyGuixNarInfo } from '../nix/guix-signature.ts'
import type { GuixPublicKey } from '../nix/guix-signature.ts'
import { parseNixHash } from '../nix/hash.ts'
import type { NixHash } from '../nix/hash.ts'
import { parseNarInfo } from '../nix/narinfo.ts'
import { parsePublicKey, verifyNarInfo } from '../nix/signing.ts'
import type { PublicKey } from '../nix/signing.ts'
import { StorePath } from '../nix/store-path.ts'
import { UpstreamError } from './errors.ts'

export interface UpstreamNarInfo {
  /** full store path */
  storePath: string
  /** NAR location, relative to the cache or absolute */
  url: string
  compression: string
  /** hash and size of the file at `url`, when the narinfo gives them */
  fileHash?: NixHash
  fileSize?: number
  /** sha256 of the uncompressed NAR */
  narHash: Uint8Array
  narSize: number
  /** full store paths */
  references: string[]
  deriver?: string
  /** Nix `Sig` values (kept on the stored path); none for Guix */
  signatures: string[]
  ca?: string
}

/** Parsed trust anchors of one upstream. */
export type UpstreamKeys = { dialect: 'nix', keys: PublicKey[] } | { dialect: 'guix', keys: GuixPublicKey[] }

export function parseUpstreamKeys (storeDir: string, publicKeys: string[]): UpstreamKeys {
  try {
    if (storeDir === GUIX_STORE_DIR) return { dialect: 'guix', keys: publicKeys.map(k => parseGuixPublicKey(k)) }
    return { dialect: 'nix', keys: publicKeys.map(k => parsePublicKey(k.trim())) }
  } catch (err: any) {
    throw new UpstreamError(`bad upstream public key: ${err.message}`, { cause: err })
  }
}

/**
 * Parses and verifies the narinfo `text` served for `hashPart`. `decodable`: compressions the
 * node can decode (a Guix narinfo lists several NARs; the first decodable one is used).
 */
export function verifyUpstreamNarInfo (text: Uint8Array, hashPart: string, storeDir: string, trust: UpstreamKeys, decodable: (compression: string) => boolean): UpstreamNarInfo {
  let result: UpstreamNarInfo
  if (trust.dialect === 'nix') {
    let info
    try {
      info = parseNarInfo(text, { storeDir })
    } catch (err: any) {
      throw new UpstreamError(`malformed narinfo: ${err.message}`, { cause: err })
    }
    if (info.storePath.hashPart !== hashPart) throw new UpstreamError(`asked for ${hashPart} but got ${info.storePath.toString()}`)
    if (!verifyNarInfo(info, trust.keys)) throw new UpstreamError(`${info.storePath.toString()}: no valid signature by a trusted key (${trust.keys.map(k => k.name).join(', ') || 'none configured'})`)
    if (info.narHash.algorithm !== 'sha256') throw new UpstreamError(`${info.storePath.toString()}: NarHash is not sha256`)
    if (!decodable(info.compression)) throw new UpstreamError(`${info.storePath.toString()}: cannot decompress ${info.compression}`)
    result = {
      storePath: info.storePath.toString(),
      url: info.url,
      compression: info.compression,
      narHash: info.narHash.digest,
      narSize: info.narSize,
      references: info.references.map(r => `${storeDir}/${r}`),
      signatures: info.signatures,
      ...(info.fileHash !== undefined ? { fileHash: info.fileHash } : {}),
      ...(info.fileSize !== undefined ? { fileSize: info.fileSize } : {}),
      ...(info.deriver !== undefined ? { deriver: `${storeDir}/${info.deriver}` } : {}),
      ...(info.ca !== undefined ? { ca: renderContentAddress(info.ca) } : {})
    }
  } else {
    const verdict = verifyGuixNarInfo(text, trust.keys)
    if (!verdict.ok) throw new UpstreamError(`Guix narinfo for ${hashPart}: ${verdict.status}${verdict.reason !== undefined ? ` (${verdict.reason})` : ''}`)
    let info
    try {
      info = parseGuixNarInfo(text)
      const path = StorePath.parse(info.storePath, storeDir)
      if (path.hashPart !== hashPart) throw new UpstreamError(`asked for ${hashPart} but got ${info.storePath}`)
      const narHash = parseNixHash(info.narHash)
      if (narHash.algorithm !== 'sha256') throw new UpstreamError(`${info.storePath}: NarHash is not sha256`)
      const nar = info.nars.find(n => decodable(n.compression ?? 'none'))
      if (nar === undefined) throw new UpstreamError(`${info.storePath}: no NAR in a compression this node decodes`)
      result = {
        storePath: path.toString(),
        url: nar.url,
        compression: nar.compression ?? 'none',
        narHash: narHash.digest,
        narSize: info.narSize,
        references: info.references.map(r => StorePath.fromBaseName(r, storeDir).toString()),
        signatures: [],
        ...(nar.fileSize !== undefined ? { fileSize: nar.fileSize } : {}),
        ...(nar.fileHash !== undefined ? { fileHash: parseNixHash(nar.fileHash) } : {}),
        ...(info.deriver !== undefined ? { deriver: StorePath.fromBaseName(info.deriver, storeDir).toString() } : {})
      }
    } catch (err: any) {
      if (err instanceof UpstreamError) throw err
      throw new UpstreamError(`malformed Guix narinfo for ${hashPart}: ${err.message}`, { cause: err })
    }
  }
  return result
}
