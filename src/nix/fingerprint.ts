/**
 * The string binary-cache signatures cover (spec §2.4, Nix `ValidPathInfo::fingerprint`):
 * `1;<storePath>;<algo>:<nix32 narHash>;<narSize>;<sorted comma-joined full reference paths>`.
 * Only StorePath, NarHash, NarSize and References are covered.
 */
import { FINGERPRINT_VERSION } from './constants.ts'
import { InvalidNarInfoError } from './errors.ts'
import { formatNixHash } from './hash.ts'
import type { NixHash } from './hash.ts'
import type { NarInfo } from './narinfo.ts'
import { parseBaseName } from './store-path.ts'
import type { StorePath } from './store-path.ts'

/** The fields of a path info that the fingerprint covers. */
export type FingerprintFields = Pick<NarInfo, 'storePath' | 'narHash' | 'narSize' | 'references'>

/**
 * Fingerprint of a path: the NAR hash is always written in nix32 (whatever encoding the
 * narinfo used), references become full paths in the path's store dir, sorted and
 * de-duplicated. Throws `InvalidNarInfoError` if NarSize is not a positive integer (Nix
 * refuses to fingerprint a path of unknown size) or a reference is not a valid base name.
 */
export function fingerprintPath (storePath: StorePath, narHash: NixHash, narSize: number, references: Iterable<string>): string {
  if (!Number.isSafeInteger(narSize) || narSize <= 0) {
    throw new InvalidNarInfoError(`cannot compute the fingerprint of ${storePath.toString()}: NarSize is not a positive integer`)
  }
  const refs = new Set<string>()
  for (const ref of references) {
    try {
      parseBaseName(ref)
    } catch (err: any) {
      throw new InvalidNarInfoError(`cannot compute the fingerprint: ${err.message}`, { cause: err })
    }
    refs.add(`${storePath.storeDir}/${ref}`)
  }
  const sorted = [...refs].sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
  return `${FINGERPRINT_VERSION};${storePath.toString()};${formatNixHash(narHash, 'nix32')};${narSize};${sorted.join(',')}`
}

/** Fingerprint of a narinfo (see {@link fingerprintPath}). */
export function fingerprint (info: FingerprintFields): string {
  return fingerprintPath(info.storePath, info.narHash, info.narSize, info.references)
}
