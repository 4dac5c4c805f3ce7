/**
 * When a path info from a peer is believed (issue 5 "Path info from peers"): it must carry a
 * signature by a key in the node's trusted-public-keys (Nix `ValidPathInfo::checkSignatures`
 * over the narinfo fingerprint), or be content-addressed with a CA that recomputes its store
 * path. The content is then trusted through BLAKE3 (castore digests in the path info) and
 * finally the NarHash, re-computed over the fetched tree before the path becomes valid.
 * For a flat or text CA the file's own hash is checked too (`checkCaContent`).
 */
import { createHash } from 'node:crypto'
import type { PathInfo } from '../castore/path-info.ts'
import type { Castore } from '../castore/store.ts'
import { toHex } from '../castore/digest.ts'
import { StorePath } from '../nix/store-path.ts'
import { fingerprintPath } from '../nix/fingerprint.ts'
import { verifySignature } from '../nix/signing.ts'
import type { PublicKey } from '../nix/signing.ts'
import { isContentAddressed, parseContentAddress } from '../nix/content-address.ts'
import type { ContentAddress } from '../nix/content-address.ts'
import { UntrustedPathInfoError } from './errors.ts'

export type TrustReason = 'signature' | 'content-address'

function storeDirOf (path: string): string {
  return path.slice(0, path.lastIndexOf('/'))
}

function baseName (path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** Returns why `info` is trusted, or throws `UntrustedPathInfoError`. */
export function checkPathInfoTrust (info: PathInfo, trustedKeys: readonly PublicKey[]): TrustReason {
  let storePath: StorePath
  try {
    storePath = StorePath.parse(info.storePath, storeDirOf(info.storePath))
  } catch (err: any) {
    throw new UntrustedPathInfoError(`bad store path: ${err.message}`)
  }
  if (info.signatures.length > 0 && trustedKeys.length > 0 && info.narSize > 0) {
    try {
      const fp = fingerprintPath(storePath, { algorithm: 'sha256', digest: info.narHash }, info.narSize, info.references.map(baseName))
      if (info.signatures.some(sig => verifySignature(fp, sig, trustedKeys))) return 'signature'
    } catch {
      // malformed references: not verifiable
    }
  }
  if (info.ca !== undefined) {
    const ca = parseCa(info.ca)
    if (ca !== undefined) {
      try {
        const refs = info.references.map(r => StorePath.parse(r, storePath.storeDir))
        if (isContentAddressed(storePath, ca, refs)) {
          if (ca.method === 'recursive') {
            // the CA hash is a NAR hash: only believable with the same algorithm as NarHash
            if (ca.hash.algorithm === 'sha256' && toHex(ca.hash.digest) === toHex(info.narHash)) return 'content-address'
          } else if (info.node.type === 'file') {
            return 'content-address' // the file's hash is checked after the fetch (checkCaContent)
          }
        }
      } catch {
        // fall through
      }
    }
  }
  throw new UntrustedPathInfoError(`path info for ${info.storePath} has no signature by a trusted key and no valid content address`)
}

function parseCa (text: string): ContentAddress | undefined {
  try {
    return parseContentAddress(text)
  } catch {
    return undefined
  }
}

/** For flat / text content addresses: checks the fetched file's hash. Throws on mismatch. */
export async function checkCaContent (info: PathInfo, castore: Pick<Castore, 'blobs'>): Promise<void> {
  if (info.ca === undefined) return
  const ca = parseCa(info.ca)
  if (ca === undefined || ca.method === 'recursive') return
  if (info.node.type !== 'file') throw new UntrustedPathInfoError(`${ca.method} content address on a non-file`)
  const h = createHash(ca.hash.algorithm)
  for await (const piece of castore.blobs.read(info.node.digest)) h.update(piece)
  if (toHex(new Uint8Array(h.digest())) !== toHex(ca.hash.digest)) {
    throw new UntrustedPathInfoError(`content of ${info.storePath} does not match its content address`)
  }
}
