/**
 * Codecs of the `nix-store --serve` protocol types that differ from the worker
 * protocol (§5; NixOS/nix `src/libstore/serve-protocol.cc`). Versions are
 * `2 << 8 | minor`; 2.7 in Nix 2.8, 2.8 at HEAD. String, store path, set,
 * content-address and legacy DrvOutput/Realisation encodings are shared with the
 * worker protocol (`types.ts`).
 */
import { MAX_SHORT_STRING_LENGTH, SERVE_GATE, SERVE_MAGIC_1, SERVE_MAGIC_2, protocolMajor } from './constants.ts'
import { ProtocolError } from './errors.ts'
import {
  OptContentAddressCodec,
  StorePathCodec,
  StorePathSetCodec,
  readBuildResult,
  writeBuildResult,
  validateStorePath,
  checkName
} from './types.ts'
import type { BuildResult, BuildResultLayout, Codec, DrvOutput, Realisation, UnkeyedRealisation } from './types.ts'
import { serveAtLeast } from './version.ts'
import type { WireVersion } from './version.ts'
import type { WireReader, WireWriter } from './wire.ts'
import type { AbortOptions } from '../abort.ts'

export { SERVE_MAGIC_1, SERVE_MAGIC_2 }

/** Serve-protocol BuildResult layout at `version` (timing ≥ 2.3, outputs ≥ 2.6, binary ≥ 2.8). */
export function serveBuildResultLayout (version: WireVersion): BuildResultLayout {
  return {
    timing: serveAtLeast(version, SERVE_GATE.BUILD_RESULT_TIMING),
    cpu: false,
    outputs: serveAtLeast(version, SERVE_GATE.REALISATION_WITH_PATH)
      ? 'unkeyed'
      : serveAtLeast(version, SERVE_GATE.BUILD_RESULT_BUILT_OUTPUTS) ? 'legacy' : 'none'
  }
}

/** Serve-protocol `BuildResult`. */
export const ServeBuildResultCodec: Codec<BuildResult> = {
  async read (reader, version, options) {
    return await readBuildResult(reader, serveBuildResultLayout(version), version, options)
  },
  write (writer, value, version) {
    writeBuildResult(writer, value, serveBuildResultLayout(version), version)
  }
}

/** Serve-protocol path info (`nix-store --serve` QueryPathInfos reply entry). */
export interface ServeUnkeyedValidPathInfo {
  deriver: string | null
  references: string[]
  /** Nix writes narSize here ("lie a little"). */
  downloadSize: number
  narSize: number
  /** ≥ 2.4: `sha256:<nix32>` or null when "" (very old servers). */
  narHash: string | null
  /** ≥ 2.4 */
  ca: string | null
  /** ≥ 2.4 */
  signatures: string[]
}

export const ServeUnkeyedValidPathInfoCodec: Codec<ServeUnkeyedValidPathInfo> = {
  async read (reader, version, options) {
    const deriverS = await reader.readString(4096, 'deriver', options)
    const deriver = deriverS === '' ? null : validateStorePath(deriverS, 'deriver')
    const references = await StorePathSetCodec.read(reader, version, options)
    const downloadSize = await reader.readNumber('downloadSize', undefined, options)
    const narSize = await reader.readNumber('narSize', undefined, options)
    let narHash: string | null = null
    let ca: string | null = null
    let signatures: string[] = []
    if (serveAtLeast(version, SERVE_GATE.PATH_INFO_HASH_CA_SIGS)) {
      const h = await reader.readString(MAX_SHORT_STRING_LENGTH, 'narHash', options)
      narHash = h === '' ? null : h
      ca = await OptContentAddressCodec.read(reader, version, options)
      signatures = await reader.readStrings(undefined, MAX_SHORT_STRING_LENGTH, 'signatures', options)
    }
    return { deriver, references, downloadSize, narSize, narHash, ca, signatures }
  },
  write (writer, value, version) {
    writer.writeString(value.deriver ?? '')
    StorePathSetCodec.write(writer, value.references, version)
    writer.writeU64(value.downloadSize).writeU64(value.narSize)
    if (serveAtLeast(version, SERVE_GATE.PATH_INFO_HASH_CA_SIGS)) {
      writer.writeString(value.narHash ?? '')
      OptContentAddressCodec.write(writer, value.ca, version)
      writer.writeStringSet(value.signatures)
    }
  }
}

/** Serve-protocol build options (`cmdBuildPaths`/`cmdBuildDerivation`). */
export interface ServeBuildOptions {
  maxSilentTime: number
  buildTimeout: number
  /** ≥ 2.2 */
  maxLogSize: number
  /** ≥ 2.3 */
  nrRepeats: number
  /** ≥ 2.3 */
  enforceDeterminism: boolean
  /** ≥ 2.7 */
  keepFailed: boolean
}

const U32_MAX = 0xffffffff

export const ServeBuildOptionsCodec: Codec<ServeBuildOptions> = {
  async read (reader, version, options) {
    const value: ServeBuildOptions = {
      maxSilentTime: await reader.readNumber('maxSilentTime', U32_MAX, options),
      buildTimeout: await reader.readNumber('buildTimeout', U32_MAX, options),
      maxLogSize: 0,
      nrRepeats: 0,
      enforceDeterminism: false,
      keepFailed: false
    }
    if (serveAtLeast(version, SERVE_GATE.BUILD_OPTIONS_MAX_LOG_SIZE)) {
      value.maxLogSize = await reader.readNumber('maxLogSize', undefined, options)
    }
    if (serveAtLeast(version, SERVE_GATE.BUILD_OPTIONS_REPEAT)) {
      value.nrRepeats = await reader.readNumber('nrRepeats', U32_MAX, options)
      value.enforceDeterminism = await reader.readNumber('enforceDeterminism', U32_MAX, options) !== 0
    }
    if (serveAtLeast(version, SERVE_GATE.BUILD_OPTIONS_KEEP_FAILED)) {
      value.keepFailed = await reader.readNumber('keepFailed', U32_MAX, options) !== 0
    }
    return value
  },
  write (writer, value, version) {
    writer.writeU64(value.maxSilentTime).writeU64(value.buildTimeout)
    if (serveAtLeast(version, SERVE_GATE.BUILD_OPTIONS_MAX_LOG_SIZE)) writer.writeU64(value.maxLogSize)
    if (serveAtLeast(version, SERVE_GATE.BUILD_OPTIONS_REPEAT)) {
      writer.writeU64(value.nrRepeats).writeBool(value.enforceDeterminism)
    }
    if (serveAtLeast(version, SERVE_GATE.BUILD_OPTIONS_KEEP_FAILED)) writer.writeBool(value.keepFailed)
  }
}

function requireServe28 (version: WireVersion, what: string): void {
  if (!serveAtLeast(version, SERVE_GATE.REALISATION_WITH_PATH)) {
    throw new ProtocolError(`serve protocol < 2.8 cannot carry ${what}`, 'ERR_NOT_REPRESENTABLE')
  }
}

/** Serve ≥ 2.8 DrvOutput (drv path + output name). */
export const ServeDrvOutputCodec: Codec<DrvOutput> = {
  async read (reader, version, options) {
    requireServe28(version, 'DrvOutput')
    const drvPath = await StorePathCodec.read(reader, version, options)
    const outputName = await reader.readString(MAX_SHORT_STRING_LENGTH, 'output name', options)
    const reason = checkName(outputName)
    if (reason != null) throw new ProtocolError(`invalid output name: ${reason}`, 'ERR_BAD_VALUE')
    return { drvPath, outputName }
  },
  write (writer, value, version) {
    requireServe28(version, 'DrvOutput')
    StorePathCodec.write(writer, value.drvPath, version)
    writer.writeString(value.outputName)
  }
}

/** Serve ≥ 2.8 UnkeyedRealisation. */
export const ServeUnkeyedRealisationCodec: Codec<UnkeyedRealisation> = {
  async read (reader, version, options) {
    requireServe28(version, 'UnkeyedRealisation')
    const outPath = await StorePathCodec.read(reader, version, options)
    const signatures = await reader.readStrings(undefined, MAX_SHORT_STRING_LENGTH, 'signatures', options)
    return { outPath, signatures }
  },
  write (writer, value, version) {
    requireServe28(version, 'UnkeyedRealisation')
    StorePathCodec.write(writer, value.outPath, version)
    writer.writeStringSet(value.signatures)
  }
}

/** Serve ≥ 2.8 Realisation. */
export const ServeRealisationCodec: Codec<Realisation> = {
  async read (reader, version, options) {
    const id = await ServeDrvOutputCodec.read(reader, version, options)
    return { id, ...await ServeUnkeyedRealisationCodec.read(reader, version, options) }
  },
  write (writer, value, version) {
    ServeDrvOutputCodec.write(writer, value.id, version)
    ServeUnkeyedRealisationCodec.write(writer, value, version)
  }
}

/** Server → client serve handshake bytes: `SERVE_MAGIC_2`, version. */
export function writeServeHandshakeToClient (writer: WireWriter, version: number): void {
  writer.writeU64(SERVE_MAGIC_2).writeU64(version)
}

/** Reads the server → client serve handshake; returns the server's version. */
export async function readServeHandshakeToClient (reader: WireReader, options?: AbortOptions): Promise<number> {
  const magic = await reader.readNumber('serve magic', U32_MAX, options)
  if (magic !== SERVE_MAGIC_2) {
    throw new ProtocolError(`bad serve-protocol magic 0x${magic.toString(16)}`, 'ERR_BAD_MAGIC')
  }
  const version = await reader.readNumber('serve version', U32_MAX, options)
  if (protocolMajor(version) !== 2) {
    throw new ProtocolError(`unsupported serve-protocol major version ${protocolMajor(version)}`, 'ERR_UNSUPPORTED_VERSION')
  }
  return version
}
