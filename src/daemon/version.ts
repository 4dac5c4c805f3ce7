/**
 * The negotiated protocol version a codec reads or writes at: a version word
 * plus, at ≥ 1.38, the negotiated feature set (§1.2), plus the store directory
 * (needed where the wire carries store-path *base names*, e.g. realisation JSON).
 */
import { isGuixVersion, protocolMinor, formatVersion } from './constants.ts'
import { ProtocolError } from './errors.ts'

/** Default store directory. */
export const DEFAULT_STORE_DIR = '/nix/store'

export interface VersionContext {
  /** Version word, `major << 8 | minor`. */
  version: number
  /** Negotiated features (≥ 1.38). */
  features?: Iterable<string>
  /** Store directory (default `/nix/store`). */
  storeDir?: string
}

/** A bare version word or a full {@link VersionContext}. */
export type WireVersion = number | VersionContext

/** Normalised {@link VersionContext}. */
export interface ResolvedVersion {
  version: number
  features: ReadonlySet<string>
  storeDir: string
}

const EMPTY: ReadonlySet<string> = new Set()

/** Normalises a {@link WireVersion}. */
export function resolveVersion (v: WireVersion): ResolvedVersion {
  if (typeof v === 'number') return { version: v, features: EMPTY, storeDir: DEFAULT_STORE_DIR }
  const features = v.features == null ? EMPTY : v.features instanceof Set ? v.features as ReadonlySet<string> : new Set(v.features)
  return { version: v.version, features, storeDir: v.storeDir ?? DEFAULT_STORE_DIR }
}

/** The version word of a {@link WireVersion}. */
export function versionNumber (v: WireVersion): number {
  return typeof v === 'number' ? v : v.version
}

/** True when the feature was negotiated. */
export function hasFeature (v: WireVersion, feature: string): boolean {
  if (typeof v === 'number' || v.features == null) return false
  if (v.features instanceof Set) return v.features.has(feature)
  for (const f of v.features) if (f === feature) return true
  return false
}

/** The store directory of a {@link WireVersion}. */
export function storeDirOf (v: WireVersion): string {
  return typeof v === 'number' ? DEFAULT_STORE_DIR : v.storeDir ?? DEFAULT_STORE_DIR
}

/**
 * Worker-protocol gate: `version ≥ 1.minor`. Guix versions (minor ≥ 0x60) have a
 * different layout and are refused rather than silently mis-gated (§1.3).
 */
export function workerAtLeast (v: WireVersion, minor: number): boolean {
  const n = versionNumber(v)
  if (isGuixVersion(n)) {
    throw new ProtocolError(
      `version ${formatVersion(n)} is the Guix dialect; Nix worker-protocol codecs do not apply`,
      'ERR_UNSUPPORTED_VERSION'
    )
  }
  return protocolMinor(n) >= minor
}

/** Serve-protocol gate: `version ≥ 2.minor`. */
export function serveAtLeast (v: WireVersion, minor: number): boolean {
  return protocolMinor(versionNumber(v)) >= minor
}
