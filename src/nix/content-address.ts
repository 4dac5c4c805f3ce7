/**
 * Content addresses, the narinfo `CA:` field (spec §2.2, §2.5, §4.3):
 * `text:sha256:<h>`, `fixed:<algo>:<h>` (flat file hash), `fixed:r:<algo>:<h>` (NAR hash).
 * A correct `CA:` lets Nix accept a substitute without any signature.
 */
import { InvalidContentAddressError } from './errors.ts'
import { formatNixHash, parseHashAlgorithm, parseHashDigest } from './hash.ts'
import type { NixHash } from './hash.ts'
import { makeFixedOutputPath, makeTextPath } from './store-path.ts'
import type { StorePath } from './store-path.ts'

/** `text` (sha256 of the contents), `flat` (hash of the file) or `recursive` (hash of the NAR). */
export type ContentAddressMethod = 'text' | 'flat' | 'recursive'

export interface ContentAddress {
  method: ContentAddressMethod
  hash: NixHash
}

/**
 * Parses a content address the way Nix 2.8 does (`parseContentAddress`): the digest may be
 * base16, nix32 or base64 (told apart by length); `text` requires sha256.
 */
export function parseContentAddress (text: string): ContentAddress {
  try {
    let rest: string
    let method: ContentAddressMethod
    if (text.startsWith('text:')) {
      method = 'text'
      rest = text.slice(5)
    } else if (text.startsWith('fixed:r:')) {
      method = 'recursive'
      rest = text.slice(8)
    } else if (text.startsWith('fixed:')) {
      method = 'flat'
      rest = text.slice(6)
    } else {
      throw new InvalidContentAddressError('prefix must be text: or fixed:')
    }
    const colon = rest.indexOf(':')
    if (colon < 0) {
      throw new InvalidContentAddressError('hash must be in the form <algo>:<hash>')
    }
    const algorithm = parseHashAlgorithm(rest.slice(0, colon))
    if (method === 'text' && algorithm !== 'sha256') {
      throw new InvalidContentAddressError('text content addresses must use sha256')
    }
    return { method, hash: parseHashDigest(rest.slice(colon + 1), algorithm) }
  } catch (err: any) {
    const shown = JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)
    throw new InvalidContentAddressError(`invalid content address ${shown}: ${err.message}`, { cause: err })
  }
}

/** Renders a content address with a nix32 digest, as Nix writes it. */
export function renderContentAddress (ca: ContentAddress): string {
  const prefix = ca.method === 'text' ? 'text:' : ca.method === 'recursive' ? 'fixed:r:' : 'fixed:'
  return prefix + formatNixHash(ca.hash, 'nix32')
}

/**
 * The store path a content address implies for `name` and `references` — Nix
 * `ValidPathInfo::isContentAddressed`: for `fixed`, a reference to the path itself becomes
 * `:self`; for `text`, references are used as they are.
 *
 * @param self - the path being checked, to recognise a self-reference (fixed only)
 */
export function contentAddressedPath (ca: ContentAddress, name: string, references: Iterable<StorePath>, storeDir: string, self?: StorePath): StorePath {
  if (ca.method === 'text') {
    return makeTextPath(name, ca.hash, references, storeDir)
  }
  const refs: StorePath[] = []
  let hasSelfReference = false
  for (const ref of references) {
    if (self != null && ref.baseName === self.baseName) {
      hasSelfReference = true
    } else {
      refs.push(ref)
    }
  }
  return makeFixedOutputPath({ method: ca.method, hash: ca.hash, name, references: refs, hasSelfReference, storeDir })
}

/**
 * True if `ca` recomputes exactly `path` with these references (what Nix 2.8 checks before
 * accepting an unsigned substitute). Any mismatch or impossible combination yields `false`.
 */
export function isContentAddressed (path: StorePath, ca: ContentAddress, references: Iterable<StorePath>): boolean {
  try {
    return contentAddressedPath(ca, path.name, references, path.storeDir, path).equals(path)
  } catch {
    return false
  }
}
