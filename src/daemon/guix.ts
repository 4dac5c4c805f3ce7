/**
 * The Guix dialect of the worker protocol (§4): version 0x163/0x164, no version
 * string / trust flag / features in the handshake, errors always in the old
 * `string msg, u64 status` form, no activities, its own SetOptions layout, and the
 * Nix ≤ 1.15 layouts for everything else (QueryPathInfo without a valid flag or
 * sigs, QueryValidPaths without the substitute flag, legacy AddToStore, …).
 *
 * Sources: Guix `nix/nix-daemon/nix-daemon.cc` (`performOp`, `processConnection`),
 * `guix/store.scm`, `guix/remote-procedures.scm`.
 */
import { GUIX_PROTOCOL_VERSION_LATEST, MAX_SHORT_STRING_LENGTH, Op, protocolMinor, protocolVersion } from './constants.ts'
import type { WireReader, WireWriter } from './wire.ts'
import type { AbortOptions } from '../abort.ts'

/**
 * The Nix version whose op layouts the Guix dialect uses (§4 "Other formats = Nix ≤
 * 1.15 forms"): 1.15 has BuildPaths' build mode but none of the ≥ 1.16 path-info
 * fields, no valid flag (≥ 1.17), old errors (< 1.26) and no activities (< 1.20).
 */
export const GUIX_CODEC_VERSION = protocolVersion(1, 15)

/** Default store directory of Guix. */
export const GUIX_STORE_DIR = '/gnu/store'

/** Ops guix-daemon implements (§4 "Ops implemented by guix-daemon"); 81 only at ≥ 0x164. */
const GUIX_OPS = new Set<number>([
  Op.IsValidPath, Op.HasSubstitutes, Op.QueryPathHash, Op.QueryReferences, Op.QueryReferrers,
  Op.AddToStore, Op.AddTextToStore, Op.BuildPaths, Op.EnsurePath, Op.AddTempRoot, Op.AddIndirectRoot,
  Op.SyncWithGC, Op.FindRoots, Op.ExportPath, Op.QueryDeriver, Op.SetOptions, Op.CollectGarbage,
  Op.QuerySubstitutablePathInfo, Op.QueryDerivationOutputs, Op.QueryAllValidPaths, Op.QueryFailedPaths,
  Op.ClearFailedPaths, Op.QueryPathInfo, Op.ImportPaths, Op.QueryDerivationOutputNames,
  Op.QueryPathFromHashPart, Op.QuerySubstitutablePathInfos, Op.QueryValidPaths, Op.QuerySubstitutablePaths,
  Op.QueryValidDerivers, Op.OptimiseStore, Op.VerifyStore, Op.BuiltinBuilders
])

/** True when a Guix daemon announcing `serverVersion` handles `op`. */
export function guixHasOp (op: number, serverVersion: number): boolean {
  if (op === Op.SubstituteURLs) return serverVersion >= GUIX_PROTOCOL_VERSION_LATEST
  return GUIX_OPS.has(op)
}

/** SetOptions (19) as a Guix client sends it; absent fields were not sent at that version. */
export interface GuixClientSettings {
  keepFailed: number
  keepGoing: number
  tryFallback: number
  verbosity: number
  /** only for client minor < 0x61 (moved into the overrides) */
  maxBuildJobs?: number
  /** only for client minor < 0x61 */
  maxSilentTime?: number
  /** minor ≥ 2 */
  useBuildHook?: number
  /** minor ≥ 4 */
  buildVerbosity?: number
  /** minor ≥ 4 */
  logType?: number
  /** minor ≥ 4 */
  printBuildTrace?: number
  /** 6 ≤ minor < 0x61 */
  buildCores?: number
  /** minor ≥ 10 */
  useSubstitutes?: number
  /** minor ≥ 12: `build-timeout`, `substitute-urls`, `user-name`, … */
  overrides: Array<[string, string]>
}

const U32_MAX = 0xffffffff
const NEW_LAYOUT_MINOR = 0x61

type Field = Exclude<keyof GuixClientSettings, 'overrides'>

/** The fields present at a client's minor, in wire order (guix-daemon `wopSetOptions`). */
function guixSettingsFields (clientVersion: number): Field[] {
  const minor = protocolMinor(clientVersion)
  const fields: Field[] = ['keepFailed', 'keepGoing', 'tryFallback', 'verbosity']
  if (minor < NEW_LAYOUT_MINOR) fields.push('maxBuildJobs', 'maxSilentTime')
  if (minor >= 2) fields.push('useBuildHook')
  if (minor >= 4) fields.push('buildVerbosity', 'logType', 'printBuildTrace')
  if (minor >= 6 && minor < NEW_LAYOUT_MINOR) fields.push('buildCores')
  if (minor >= 10) fields.push('useSubstitutes')
  return fields
}

/** Reads a Guix SetOptions body; layout depends on the *client's* version. */
export async function readGuixSetOptions (reader: WireReader, clientVersion: number, options?: AbortOptions): Promise<GuixClientSettings> {
  const out: GuixClientSettings = { keepFailed: 0, keepGoing: 0, tryFallback: 0, verbosity: 0, overrides: [] }
  for (const f of guixSettingsFields(clientVersion)) out[f] = await reader.readNumber(f, U32_MAX, options)
  if (protocolMinor(clientVersion) >= 12) {
    out.overrides = await reader.readPairs(
      async () => await reader.readString(MAX_SHORT_STRING_LENGTH, 'setting name', options),
      async () => await reader.readString(undefined, 'setting value', options),
      'settings', undefined, options)
  }
  return out
}

/** Writes a Guix SetOptions body (client side / tests). */
export function writeGuixSetOptions (writer: WireWriter, settings: GuixClientSettings, clientVersion: number): void {
  for (const f of guixSettingsFields(clientVersion)) writer.writeU64(settings[f] ?? 0)
  if (protocolMinor(clientVersion) >= 12) {
    writer.writeU64(settings.overrides.length)
    for (const [k, v] of settings.overrides) writer.writeString(k).writeString(v)
  }
}
