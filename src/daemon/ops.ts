/**
 * Arguments and reply bodies of every worker operation (§2 table), per protocol
 * version. Only the structured parts are covered here; streamed payloads are
 * described by {@link OpDefinition.argsPayload}/{@link OpDefinition.replyPayload}
 * and handled with `framed.ts` (framed), `nar.ts` (raw NAR) or the stderr loop
 * (STDERR_READ/STDERR_WRITE tunnels).
 *
 * The reply body is what follows STDERR_LAST (§1.4).
 */
import {
  BuildMode as BuildModes,
  FEATURE_DELETE_DEAD_SPECIFIC_REFERRERS,
  FEATURE_REALISATION_WITH_PATH,
  GATE,
  GCAction,
  MAX_SHORT_STRING_LENGTH,
  MAX_STORE_PATH_LENGTH,
  OP_NAMES,
  Op
} from './constants.ts'
import type { BuildMode, OpName } from './constants.ts'
import { ProtocolError } from './errors.ts'
import {
  BasicDerivationCodec,
  BuildModeCodec,
  BuildResultCodec,
  DerivedPathListCodec,
  DrvOutputCodec,
  KeyedBuildResultCodec,
  LegacyDrvOutputCodec,
  LegacyRealisationCodec,
  OptContentAddressCodec,
  OptStorePathCodec,
  OptUnkeyedRealisationCodec,
  RealisationCodec,
  StorePathCodec,
  StorePathListCodec,
  StorePathSetCodec,
  StringMapCodec,
  SubstitutablePathInfoCodec,
  UnkeyedValidPathInfoCodec,
  ValidPathInfoCodec,
  checkName,
  listCodec,
  validateStorePathBaseName
} from './types.ts'
import type {
  BasicDerivation,
  Codec,
  DerivedPath,
  DrvOutput,
  KeyedBuildResult,
  Realisation,
  SubstitutablePathInfo,
  UnkeyedRealisation,
  UnkeyedValidPathInfo,
  ValidPathInfo
} from './types.ts'
import { compareBytewise } from './wire.ts'
import type { WireReader, WireWriter } from './wire.ts'
import { hasFeature, resolveVersion, workerAtLeast } from './version.ts'
import type { WireVersion } from './version.ts'
import type { AbortOptions } from '../abort.ts'

/** What follows an op's arguments on the client → server stream. */
export type ArgsPayload = 'none' | 'framed' | 'nar' | 'stderr-read'
/** What the server sends besides the reply body. */
export type ReplyPayload = 'none' | 'nar' | 'stderr-write'

/** Codecs of one operation. */
export interface OpDefinition<A, R> {
  op: number
  name: OpName
  readArgs: (reader: WireReader, version: WireVersion, options?: AbortOptions) => Promise<A>
  writeArgs: (writer: WireWriter, args: A, version: WireVersion) => void
  readReply: (reader: WireReader, version: WireVersion, options?: AbortOptions) => Promise<R>
  writeReply: (writer: WireWriter, reply: R, version: WireVersion) => void
  /** Payload the client streams after the arguments. */
  argsPayload: (version: WireVersion) => ArgsPayload
  /** Payload the server streams: `nar` = the reply body *is* a raw NAR (NarFromPath). */
  replyPayload: ReplyPayload
}

/* ------------------------------------------------------------------------ */
/* Small codecs                                                              */
/* ------------------------------------------------------------------------ */

/** Nothing on the wire. */
const Nothing: Codec<undefined> = {
  async read () { return undefined },
  write () {}
}

/**
 * `u64 1` replies (AddTempRoot, EnsurePath, BuildPaths …, §7.1): the value read
 * is returned (clients ignore it); servers write 1.
 */
const One: Codec<number> = {
  async read (reader, _v, options) {
    return await reader.readNumber('reply', 0xffffffff, options)
  },
  write (writer, value) { writer.writeU64(value) }
}

const Bool: Codec<boolean> = {
  async read (reader, _v, options) { return await reader.readBool('reply', options) },
  write (writer, value) { writer.writeBool(value) }
}

const ShortString: Codec<string> = {
  async read (reader, _v, options) { return await reader.readString(MAX_SHORT_STRING_LENGTH, 'string', options) },
  write (writer, value) { writer.writeString(value) }
}

const ShortStringSet: Codec<string[]> = {
  async read (reader, _v, options) { return await reader.readStrings(undefined, MAX_SHORT_STRING_LENGTH, 'string set', options) },
  write (writer, value) { writer.writeStringSet(value) }
}

const ShortStringList: Codec<string[]> = {
  async read (reader, _v, options) { return await reader.readStrings(undefined, MAX_SHORT_STRING_LENGTH, 'string list', options) },
  write (writer, value) { writer.writeStrings(value) }
}

const U32_MAX = 0xffffffff

/** `{ path }` argument shared by many ops. */
export interface PathArgs { path: string }

const PathArgsCodec: Codec<PathArgs> = {
  async read (reader, version, options) { return { path: await StorePathCodec.read(reader, version, options) } },
  write (writer, args, version) { StorePathCodec.write(writer, args.path, version) }
}

function def<A, R> (
  op: number, args: Codec<A>, reply: Codec<R>,
  argsPayload: ArgsPayload | ((version: WireVersion) => ArgsPayload) = 'none',
  replyPayload: ReplyPayload = 'none'
): OpDefinition<A, R> {
  return {
    op,
    name: OP_NAMES[op],
    readArgs: args.read,
    writeArgs: args.write,
    readReply: reply.read,
    writeReply: reply.write,
    argsPayload: typeof argsPayload === 'function' ? argsPayload : () => argsPayload,
    replyPayload
  }
}

/* ------------------------------------------------------------------------ */
/* Argument and reply types                                                  */
/* ------------------------------------------------------------------------ */

/** AddToStore (7): ≥ 1.25 framed form, < 1.25 legacy form (raw NAR follows). */
export type AddToStoreArgs =
  | { form: 'framed', name: string, camStr: string, references: string[], repair: boolean }
  | { form: 'legacy', name: string, fixed: boolean, recursive: boolean, hashAlgo: string }

/** AddTextToStore (8). */
export interface AddTextToStoreArgs { name: string, text: string, references: string[] }

/** BuildPaths (9) / BuildPathsWithResults (46). */
export interface BuildPathsArgs { paths: DerivedPath[], mode: BuildMode }

/** AddIndirectRoot (12): an absolute symlink path (not a store path). */
export interface IndirectRootArgs { path: string }

/** ExportPath (16). */
export interface ExportPathArgs { path: string, sign: boolean }

/** SetOptions (19): the 12 words (as numbers, kept verbatim) and the overrides (≥ 1.12). */
export interface ClientSettings {
  keepFailed: number
  keepGoing: number
  tryFallback: number
  verbosity: number
  maxBuildJobs: number
  maxSilentTime: number
  /** obsolete, 1 */
  useBuildHook: number
  /** 0 = verbose (lvlError), 7 = quiet */
  verboseBuild: number
  /** obsolete */
  logType: number
  /** obsolete */
  printBuildTrace: number
  buildCores: number
  useSubstitutes: number
  /** Settings the user changed, in wire order. */
  overrides: Array<[string, string]>
}

/** CollectGarbage (20). */
export interface CollectGarbageArgs {
  action: number
  /** Paths to act on (legacy form: also empty = whole store for non-specific actions). */
  paths: string[]
  /** Feature `delete-dead-specific-referrers`: whole store (tag 1). */
  wholeStore: boolean
  /** Feature form only. */
  deleteReferrers: boolean
  ignoreLiveness: boolean
  maxFreed: bigint
}

export interface CollectGarbageReply { paths: string[], bytesFreed: bigint }

/** QuerySubstitutablePathInfos (30): paths with optional CA (< 1.22: CA always null). */
export interface SubstitutablePathInfosArgs { paths: Array<[string, string | null]> }

/** QueryPathFromHashPart (29). */
export interface HashPartArgs { hashPart: string }

/** QueryValidPaths (31). */
export interface QueryValidPathsArgs { paths: string[], substitute: boolean }

/** QuerySubstitutablePaths (32), ClearFailedPaths (25). */
export interface PathSetArgs { paths: string[] }

/** VerifyStore (35). */
export interface VerifyStoreArgs { checkContents: boolean, repair: boolean }

/** BuildDerivation (36). */
export interface BuildDerivationArgs { drvPath: string, derivation: BasicDerivation, mode: BuildMode }

/** AddSignatures (37). */
export interface AddSignaturesArgs { path: string, signatures: string[] }

/** AddToStoreNar (39): path info (always 1.16 layout) + flags; the NAR follows. */
export interface AddToStoreNarArgs { info: ValidPathInfo, repair: boolean, dontCheckSigs: boolean }

/** QueryMissing (40). */
export interface QueryMissingArgs { targets: DerivedPath[] }
export interface QueryMissingReply {
  willBuild: string[]
  willSubstitute: string[]
  unknown: string[]
  downloadSize: bigint
  narSize: bigint
}

/** RegisterDrvOutput (42) by version/feature. */
export type RegisterDrvOutputArgs =
  | { form: 'binary', realisation: Realisation }
  | { form: 'json', json: string }
  | { form: 'legacy', id: string, outPath: string }

/** QueryRealisation (43) by version/feature. */
export type QueryRealisationArgs =
  | { form: 'binary', id: DrvOutput }
  | { form: 'legacy', id: string }
export type QueryRealisationReply =
  | { form: 'binary', realisation: UnkeyedRealisation | null }
  | { form: 'json', realisations: string[] }
  | { form: 'paths', outPaths: string[] }

/** AddMultipleToStore (44); the framed payload follows. */
export interface AddMultipleToStoreArgs { repair: boolean, dontCheckSigs: boolean }

/** AddBuildLog (45): derivation *base name*; the framed log follows. */
export interface AddBuildLogArgs { drvBaseName: string }

/** AddPermRoot (47). */
export interface AddPermRootArgs { path: string, gcRoot: string }

/** SingleDerivedPath (op 1000, tagged binary form). */
export type SingleDerivedPath =
  | { type: 'opaque', path: string }
  | { type: 'built', drvPath: SingleDerivedPath, output: string }

export interface SubmitOutputArgs { path: SingleDerivedPath, output: string }

/** AddToStoreScanning (1001); the framed dump follows. */
export interface AddToStoreScanningArgs { name: string, camStr: string }

/* ------------------------------------------------------------------------ */
/* Codecs of the argument/reply types                                        */
/* ------------------------------------------------------------------------ */

const AddToStoreArgsCodec: Codec<AddToStoreArgs> = {
  async read (reader, version, options) {
    const name = await reader.readString(MAX_SHORT_STRING_LENGTH, 'name', options)
    if (workerAtLeast(version, GATE.ADD_TO_STORE_NEW)) {
      const camStr = await reader.readString(MAX_SHORT_STRING_LENGTH, 'content-address method', options)
      const references = await StorePathSetCodec.read(reader, version, options)
      const repair = await reader.readBool('repair', options)
      return { form: 'framed', name, camStr, references, repair }
    }
    const fixed = await reader.readBool('fixed', options)
    const recursive = await reader.readNumber('recursive', 255, options)
    if (recursive > 1) throw new ProtocolError(`unsupported file ingestion method ${recursive}`, 'ERR_BAD_VALUE')
    const hashAlgo = await reader.readString(MAX_SHORT_STRING_LENGTH, 'hash algorithm', options)
    return { form: 'legacy', name, fixed, recursive: recursive === 1, hashAlgo }
  },
  write (writer, args, version) {
    const framed = workerAtLeast(version, GATE.ADD_TO_STORE_NEW)
    if (framed !== (args.form === 'framed')) {
      throw new ProtocolError(`AddToStore ${args.form} form cannot be sent at this version`, 'ERR_NOT_REPRESENTABLE')
    }
    writer.writeString(args.name)
    if (args.form === 'framed') {
      writer.writeString(args.camStr)
      StorePathSetCodec.write(writer, args.references, version)
      writer.writeBool(args.repair)
    } else {
      writer.writeBool(args.fixed).writeBool(args.recursive).writeString(args.hashAlgo)
    }
  }
}

const AddToStoreReplyCodec: Codec<ValidPathInfo | string> = {
  async read (reader, version, options) {
    return workerAtLeast(version, GATE.ADD_TO_STORE_NEW)
      ? await ValidPathInfoCodec.read(reader, version, options)
      : await StorePathCodec.read(reader, version, options)
  },
  write (writer, reply, version) {
    const framed = workerAtLeast(version, GATE.ADD_TO_STORE_NEW)
    if (framed !== (typeof reply !== 'string')) {
      throw new ProtocolError('AddToStore reply shape does not match the version', 'ERR_NOT_REPRESENTABLE')
    }
    if (typeof reply === 'string') StorePathCodec.write(writer, reply, version)
    else ValidPathInfoCodec.write(writer, reply, version)
  }
}

const AddTextToStoreArgsCodec: Codec<AddTextToStoreArgs> = {
  async read (reader, version, options) {
    const name = await reader.readString(MAX_SHORT_STRING_LENGTH, 'name', options)
    const text = await reader.readString(undefined, 'text', options)
    const references = await StorePathSetCodec.read(reader, version, options)
    return { name, text, references }
  },
  write (writer, args, version) {
    writer.writeString(args.name).writeString(args.text)
    StorePathSetCodec.write(writer, args.references, version)
  }
}

const BuildPathsArgsCodec: Codec<BuildPathsArgs> = {
  async read (reader, version, options) {
    const paths = await DerivedPathListCodec.read(reader, version, options)
    const mode = workerAtLeast(version, GATE.BUILD_MODE) ? await BuildModeCodec.read(reader, version, options) : BuildModes.Normal
    return { paths, mode }
  },
  write (writer, args, version) {
    DerivedPathListCodec.write(writer, args.paths, version)
    if (workerAtLeast(version, GATE.BUILD_MODE)) BuildModeCodec.write(writer, args.mode, version)
    else if (args.mode !== BuildModes.Normal) throw new ProtocolError('build mode needs protocol ≥ 1.15', 'ERR_NOT_REPRESENTABLE')
  }
}

const IndirectRootArgsCodec: Codec<IndirectRootArgs> = {
  async read (reader, _v, options) { return { path: await reader.readString(MAX_STORE_PATH_LENGTH, 'root path', options) } },
  write (writer, args) { writer.writeString(args.path) }
}

const ExportPathArgsCodec: Codec<ExportPathArgs> = {
  async read (reader, version, options) {
    const path = await StorePathCodec.read(reader, version, options)
    return { path, sign: await reader.readBool('sign', options) }
  },
  write (writer, args, version) {
    StorePathCodec.write(writer, args.path, version)
    writer.writeBool(args.sign)
  }
}

const SETTINGS_WORDS = [
  'keepFailed', 'keepGoing', 'tryFallback', 'verbosity', 'maxBuildJobs', 'maxSilentTime',
  'useBuildHook', 'verboseBuild', 'logType', 'printBuildTrace', 'buildCores', 'useSubstitutes'
] as const

/** SetOptions (19) arguments (Nix layout; Guix differs, §4). */
export const ClientSettingsCodec: Codec<ClientSettings> = {
  async read (reader, version, options) {
    const s: Partial<ClientSettings> = {}
    for (const k of SETTINGS_WORDS) s[k] = await reader.readNumber(k, U32_MAX, options)
    s.overrides = workerAtLeast(version, GATE.SET_OPTIONS_OVERRIDES)
      ? await reader.readPairs(
        async () => await reader.readString(MAX_SHORT_STRING_LENGTH, 'setting name', options),
        async () => await reader.readString(undefined, 'setting value', options),
        'settings overrides', undefined, options)
      : []
    return s as ClientSettings
  },
  write (writer, args, version) {
    for (const k of SETTINGS_WORDS) writer.writeU64(args[k])
    if (workerAtLeast(version, GATE.SET_OPTIONS_OVERRIDES)) {
      writer.writeU64(args.overrides.length)
      for (const [k, v] of args.overrides) writer.writeString(k).writeString(v)
    }
  }
}

const CollectGarbageArgsCodec: Codec<CollectGarbageArgs> = {
  async read (reader, version, options) {
    const action = await reader.readNumber('GC action', U32_MAX, options)
    if (action > GCAction.DeleteSpecific) throw new ProtocolError(`invalid GC action ${action}`, 'ERR_BAD_VALUE')
    let paths: string[] = []
    let wholeStore = false
    let deleteReferrers = false
    if (hasFeature(version, FEATURE_DELETE_DEAD_SPECIFIC_REFERRERS)) {
      const tag = await reader.readNumber('GC paths tag', 255, options)
      if (tag === 1) {
        wholeStore = true
      } else if (tag === 0) {
        paths = await StorePathSetCodec.read(reader, version, options)
        deleteReferrers = await reader.readBool('deleteReferrers', options)
      } else {
        throw new ProtocolError(`invalid whole-store indicator ${tag}`, 'ERR_BAD_VALUE')
      }
    } else {
      paths = await StorePathSetCodec.read(reader, version, options)
      wholeStore = action !== GCAction.DeleteSpecific && paths.length === 0
    }
    const ignoreLiveness = await reader.readBool('ignoreLiveness', options)
    const maxFreed = await reader.readU64('maxFreed', options)
    for (let i = 0; i < 3; i++) await reader.readNumber('obsolete GC field', U32_MAX, options)
    return { action, paths, wholeStore, deleteReferrers, ignoreLiveness, maxFreed }
  },
  write (writer, args, version) {
    writer.writeU64(args.action)
    if (hasFeature(version, FEATURE_DELETE_DEAD_SPECIFIC_REFERRERS)) {
      if (args.wholeStore) {
        writer.writeU64(1)
      } else {
        writer.writeU64(0)
        StorePathSetCodec.write(writer, args.paths, version)
        writer.writeBool(args.deleteReferrers)
      }
    } else {
      StorePathSetCodec.write(writer, args.paths, version)
    }
    writer.writeBool(args.ignoreLiveness).writeU64(args.maxFreed).writeU64(0).writeU64(0).writeU64(0)
  }
}

const CollectGarbageReplyCodec: Codec<CollectGarbageReply> = {
  async read (reader, _v, options) {
    const paths = await reader.readStrings(undefined, MAX_STORE_PATH_LENGTH, 'deleted paths', options)
    const bytesFreed = await reader.readU64('bytesFreed', options)
    await reader.readU64('obsolete', options)
    return { paths, bytesFreed }
  },
  write (writer, reply) {
    writer.writeStringSet(reply.paths).writeU64(reply.bytesFreed).writeU64(0)
  }
}

const SubstitutablePathInfoReplyCodec: Codec<SubstitutablePathInfo | null> = {
  async read (reader, version, options) {
    const found = await reader.readNumber('found', U32_MAX, options)
    return found === 0 ? null : await SubstitutablePathInfoCodec.read(reader, version, options)
  },
  write (writer, reply, version) {
    if (reply == null) {
      writer.writeU64(0)
      return
    }
    writer.writeU64(1)
    SubstitutablePathInfoCodec.write(writer, reply, version)
  }
}

const SubstitutablePathInfosArgsCodec: Codec<SubstitutablePathInfosArgs> = {
  async read (reader, version, options) {
    if (!workerAtLeast(version, GATE.SUBSTITUTABLE_INFOS_MAP)) {
      const paths = await StorePathSetCodec.read(reader, version, options)
      return { paths: paths.map((p): [string, string | null] => [p, null]) }
    }
    const paths = await reader.readPairs(
      async () => await StorePathCodec.read(reader, version, options),
      async () => await OptContentAddressCodec.read(reader, version, options),
      'path → CA map', undefined, options)
    return { paths }
  },
  write (writer, args, version) {
    const sorted = [...args.paths].sort((a, b) => compareBytewise(a[0], b[0]))
    if (!workerAtLeast(version, GATE.SUBSTITUTABLE_INFOS_MAP)) {
      StorePathSetCodec.write(writer, sorted.map(([p]) => p), version)
      return
    }
    writer.writeU64(sorted.length)
    for (const [p, ca] of sorted) {
      StorePathCodec.write(writer, p, version)
      OptContentAddressCodec.write(writer, ca, version)
    }
  }
}

const SubstitutablePathInfosReplyCodec: Codec<Array<[string, SubstitutablePathInfo]>> = {
  async read (reader, version, options) {
    return await reader.readPairs(
      async () => await StorePathCodec.read(reader, version, options),
      async () => await SubstitutablePathInfoCodec.read(reader, version, options),
      'substitutable path infos', undefined, options)
  },
  write (writer, reply, version) {
    const sorted = [...reply].sort((a, b) => compareBytewise(a[0], b[0]))
    writer.writeU64(sorted.length)
    for (const [p, info] of sorted) {
      StorePathCodec.write(writer, p, version)
      SubstitutablePathInfoCodec.write(writer, info, version)
    }
  }
}

/** QueryPathInfo (26) reply: ≥ 1.17 `bool valid` + info; below, the info only (null not representable). */
export const QueryPathInfoReplyCodec: Codec<UnkeyedValidPathInfo | null> = {
  async read (reader, version, options) {
    if (workerAtLeast(version, GATE.PATH_INFO_VALID_FLAG)) {
      const valid = await reader.readBool('valid', options)
      if (!valid) return null
    }
    return await UnkeyedValidPathInfoCodec.read(reader, version, options)
  },
  write (writer, reply, version) {
    if (workerAtLeast(version, GATE.PATH_INFO_VALID_FLAG)) {
      writer.writeBool(reply != null)
      if (reply == null) return
    } else if (reply == null) {
      throw new ProtocolError('protocol < 1.17 cannot say "invalid path"; send STDERR_ERROR instead', 'ERR_NOT_REPRESENTABLE')
    }
    UnkeyedValidPathInfoCodec.write(writer, reply, version)
  }
}

const HashPartArgsCodec: Codec<HashPartArgs> = {
  async read (reader, _v, options) { return { hashPart: await reader.readString(MAX_SHORT_STRING_LENGTH, 'hash part', options) } },
  write (writer, args) { writer.writeString(args.hashPart) }
}

const QueryValidPathsArgsCodec: Codec<QueryValidPathsArgs> = {
  async read (reader, version, options) {
    const paths = await StorePathSetCodec.read(reader, version, options)
    const substitute = workerAtLeast(version, GATE.QUERY_VALID_PATHS_SUBSTITUTE)
      ? await reader.readNumber('substitute', U32_MAX, options) !== 0
      : false
    return { paths, substitute }
  },
  write (writer, args, version) {
    StorePathSetCodec.write(writer, args.paths, version)
    if (workerAtLeast(version, GATE.QUERY_VALID_PATHS_SUBSTITUTE)) writer.writeBool(args.substitute)
  }
}

const PathSetArgsCodec: Codec<PathSetArgs> = {
  async read (reader, version, options) { return { paths: await StorePathSetCodec.read(reader, version, options) } },
  write (writer, args, version) { StorePathSetCodec.write(writer, args.paths, version) }
}

const StringSetArgsCodec: Codec<PathSetArgs> = {
  async read (reader, _v, options) { return { paths: await reader.readStrings(undefined, MAX_STORE_PATH_LENGTH, 'paths', options) } },
  write (writer, args) { writer.writeStringSet(args.paths) }
}

const VerifyStoreArgsCodec: Codec<VerifyStoreArgs> = {
  async read (reader, _v, options) {
    const checkContents = await reader.readBool('checkContents', options)
    return { checkContents, repair: await reader.readBool('repair', options) }
  },
  write (writer, args) { writer.writeBool(args.checkContents).writeBool(args.repair) }
}

const BuildDerivationArgsCodec: Codec<BuildDerivationArgs> = {
  async read (reader, version, options) {
    const drvPath = await StorePathCodec.read(reader, version, options)
    const derivation = await BasicDerivationCodec.read(reader, version, options)
    const mode = await BuildModeCodec.read(reader, version, options)
    return { drvPath, derivation, mode }
  },
  write (writer, args, version) {
    StorePathCodec.write(writer, args.drvPath, version)
    BasicDerivationCodec.write(writer, args.derivation, version)
    BuildModeCodec.write(writer, args.mode, version)
  }
}

const AddSignaturesArgsCodec: Codec<AddSignaturesArgs> = {
  async read (reader, version, options) {
    const path = await StorePathCodec.read(reader, version, options)
    return { path, signatures: await reader.readStrings(undefined, MAX_SHORT_STRING_LENGTH, 'signatures', options) }
  },
  write (writer, args, version) {
    StorePathCodec.write(writer, args.path, version)
    writer.writeStringSet(args.signatures)
  }
}

/** Version at which AddToStoreNar / AddMultipleToStore path infos are encoded (§3.1). */
export const PATH_INFO_TRANSFER_VERSION = 0x110

const AddToStoreNarArgsCodec: Codec<AddToStoreNarArgs> = {
  async read (reader, version, options) {
    const info = await ValidPathInfoCodec.read(reader, { ...resolveVersion(version), version: PATH_INFO_TRANSFER_VERSION }, options)
    const repair = await reader.readBool('repair', options)
    const dontCheckSigs = await reader.readBool('dontCheckSigs', options)
    return { info, repair, dontCheckSigs }
  },
  write (writer, args, version) {
    ValidPathInfoCodec.write(writer, args.info, { ...resolveVersion(version), version: PATH_INFO_TRANSFER_VERSION })
    writer.writeBool(args.repair).writeBool(args.dontCheckSigs)
  }
}

const QueryMissingArgsCodec: Codec<QueryMissingArgs> = {
  async read (reader, version, options) { return { targets: await DerivedPathListCodec.read(reader, version, options) } },
  write (writer, args, version) { DerivedPathListCodec.write(writer, args.targets, version) }
}

const QueryMissingReplyCodec: Codec<QueryMissingReply> = {
  async read (reader, version, options) {
    const willBuild = await StorePathSetCodec.read(reader, version, options)
    const willSubstitute = await StorePathSetCodec.read(reader, version, options)
    const unknown = await StorePathSetCodec.read(reader, version, options)
    const downloadSize = await reader.readU64('downloadSize', options)
    const narSize = await reader.readU64('narSize', options)
    return { willBuild, willSubstitute, unknown, downloadSize, narSize }
  },
  write (writer, reply, version) {
    StorePathSetCodec.write(writer, reply.willBuild, version)
    StorePathSetCodec.write(writer, reply.willSubstitute, version)
    StorePathSetCodec.write(writer, reply.unknown, version)
    writer.writeU64(reply.downloadSize).writeU64(reply.narSize)
  }
}

const OutputMapReplyCodec: Codec<Array<[string, string | null]>> = {
  async read (reader, version, options) {
    return await reader.readPairs(
      async () => {
        const name = await reader.readString(MAX_SHORT_STRING_LENGTH, 'output name', options)
        if (checkName(name) != null) throw new ProtocolError(`invalid output name '${name}'`, 'ERR_BAD_VALUE')
        return name
      },
      async () => await OptStorePathCodec.read(reader, version, options),
      'output map', undefined, options)
  },
  write (writer, reply, version) {
    const sorted = [...reply].sort((a, b) => compareBytewise(a[0], b[0]))
    writer.writeU64(sorted.length)
    for (const [k, v] of sorted) {
      writer.writeString(k)
      OptStorePathCodec.write(writer, v, version)
    }
  }
}

const RegisterDrvOutputArgsCodec: Codec<RegisterDrvOutputArgs> = {
  async read (reader, version, options) {
    if (hasFeature(version, FEATURE_REALISATION_WITH_PATH)) {
      return { form: 'binary', realisation: await RealisationCodec.read(reader, version, options) }
    }
    if (workerAtLeast(version, GATE.REALISATION_JSON)) {
      return { form: 'json', json: await LegacyRealisationCodec.read(reader, version, options) }
    }
    const id = await LegacyDrvOutputCodec.read(reader, version, options)
    const outPath = await StorePathCodec.read(reader, version, options)
    return { form: 'legacy', id, outPath }
  },
  write (writer, args, version) {
    const want = hasFeature(version, FEATURE_REALISATION_WITH_PATH)
      ? 'binary'
      : workerAtLeast(version, GATE.REALISATION_JSON) ? 'json' : 'legacy'
    if (args.form !== want) throw new ProtocolError(`RegisterDrvOutput needs the ${want} form here`, 'ERR_NOT_REPRESENTABLE')
    if (args.form === 'binary') RealisationCodec.write(writer, args.realisation, version)
    else if (args.form === 'json') writer.writeString(args.json)
    else writer.writeString(args.id).writeString(args.outPath)
  }
}

const QueryRealisationArgsCodec: Codec<QueryRealisationArgs> = {
  async read (reader, version, options) {
    if (hasFeature(version, FEATURE_REALISATION_WITH_PATH)) {
      return { form: 'binary', id: await DrvOutputCodec.read(reader, version, options) }
    }
    return { form: 'legacy', id: await LegacyDrvOutputCodec.read(reader, version, options) }
  },
  write (writer, args, version) {
    const binary = hasFeature(version, FEATURE_REALISATION_WITH_PATH)
    if (binary !== (args.form === 'binary')) throw new ProtocolError('QueryRealisation form does not match the feature set', 'ERR_NOT_REPRESENTABLE')
    if (args.form === 'binary') DrvOutputCodec.write(writer, args.id, version)
    else writer.writeString(args.id)
  }
}

const QueryRealisationReplyCodec: Codec<QueryRealisationReply> = {
  async read (reader, version, options) {
    if (hasFeature(version, FEATURE_REALISATION_WITH_PATH)) {
      return { form: 'binary', realisation: await OptUnkeyedRealisationCodec.read(reader, version, options) }
    }
    if (workerAtLeast(version, GATE.REALISATION_JSON)) {
      return { form: 'json', realisations: await reader.readList(async () => await LegacyRealisationCodec.read(reader, version, options), 'realisations', undefined, options) }
    }
    return { form: 'paths', outPaths: await StorePathSetCodec.read(reader, version, options) }
  },
  write (writer, reply, version) {
    const want = hasFeature(version, FEATURE_REALISATION_WITH_PATH)
      ? 'binary'
      : workerAtLeast(version, GATE.REALISATION_JSON) ? 'json' : 'paths'
    if (reply.form !== want) throw new ProtocolError(`QueryRealisation reply needs the ${want} form here`, 'ERR_NOT_REPRESENTABLE')
    if (reply.form === 'binary') OptUnkeyedRealisationCodec.write(writer, reply.realisation, version)
    else if (reply.form === 'json') writer.writeStringSet(reply.realisations)
    else StorePathSetCodec.write(writer, reply.outPaths, version)
  }
}

const AddMultipleToStoreArgsCodec: Codec<AddMultipleToStoreArgs> = {
  async read (reader, _v, options) {
    const repair = await reader.readBool('repair', options)
    return { repair, dontCheckSigs: await reader.readBool('dontCheckSigs', options) }
  },
  write (writer, args) { writer.writeBool(args.repair).writeBool(args.dontCheckSigs) }
}

const AddBuildLogArgsCodec: Codec<AddBuildLogArgs> = {
  async read (reader, _v, options) {
    const base = await reader.readString(MAX_STORE_PATH_LENGTH, 'derivation base name', options)
    return { drvBaseName: validateStorePathBaseName(base, 'build log derivation') }
  },
  write (writer, args) { writer.writeString(args.drvBaseName) }
}

const AddPermRootArgsCodec: Codec<AddPermRootArgs> = {
  async read (reader, version, options) {
    const path = await StorePathCodec.read(reader, version, options)
    return { path, gcRoot: await reader.readString(MAX_STORE_PATH_LENGTH, 'gc root', options) }
  },
  write (writer, args, version) {
    StorePathCodec.write(writer, args.path, version)
    writer.writeString(args.gcRoot)
  }
}

const MAX_SINGLE_DERIVED_DEPTH = 64

async function readSingleDerivedPath (reader: WireReader, version: WireVersion, depth: number, options?: AbortOptions): Promise<SingleDerivedPath> {
  if (depth > MAX_SINGLE_DERIVED_DEPTH) throw new ProtocolError('single derived path nested too deeply', 'ERR_TOO_LARGE')
  const tag = await reader.readNumber('single derived path tag', 255, options)
  if (tag === 0) return { type: 'opaque', path: await StorePathCodec.read(reader, version, options) }
  if (tag !== 1) throw new ProtocolError(`invalid tag ${tag} for single derived path`, 'ERR_BAD_VALUE')
  const drvPath = await readSingleDerivedPath(reader, version, depth + 1, options)
  const output = await reader.readString(MAX_SHORT_STRING_LENGTH, 'output name', options)
  return { type: 'built', drvPath, output }
}

function writeSingleDerivedPath (writer: WireWriter, value: SingleDerivedPath, version: WireVersion): void {
  if (value.type === 'opaque') {
    writer.writeU64(0)
    StorePathCodec.write(writer, value.path, version)
  } else {
    writer.writeU64(1)
    writeSingleDerivedPath(writer, value.drvPath, version)
    writer.writeString(value.output)
  }
}

const SubmitOutputArgsCodec: Codec<SubmitOutputArgs> = {
  async read (reader, version, options) {
    const path = await readSingleDerivedPath(reader, version, 0, options)
    return { path, output: await reader.readString(MAX_SHORT_STRING_LENGTH, 'output name', options) }
  },
  write (writer, args, version) {
    writeSingleDerivedPath(writer, args.path, version)
    writer.writeString(args.output)
  }
}

const AddToStoreScanningArgsCodec: Codec<AddToStoreScanningArgs> = {
  async read (reader, _v, options) {
    const name = await reader.readString(MAX_SHORT_STRING_LENGTH, 'name', options)
    return { name, camStr: await reader.readString(MAX_SHORT_STRING_LENGTH, 'content-address method', options) }
  },
  write (writer, args) { writer.writeString(args.name).writeString(args.camStr) }
}

const FindRootsReplyCodec: Codec<Array<[string, string]>> = {
  async read (reader, version, options) {
    return await reader.readPairs(
      async () => await reader.readString(MAX_STORE_PATH_LENGTH, 'root link', options),
      async () => await StorePathCodec.read(reader, version, options),
      'roots', undefined, options)
  },
  write (writer, reply, version) {
    writer.writeU64(reply.length)
    for (const [link, target] of reply) {
      writer.writeString(link)
      StorePathCodec.write(writer, target, version)
    }
  }
}

const NarHashReplyCodec: Codec<string> = ShortString

/* ------------------------------------------------------------------------ */
/* The op table                                                              */
/* ------------------------------------------------------------------------ */

function addToStoreNarPayload (version: WireVersion): ArgsPayload {
  if (workerAtLeast(version, GATE.ADD_TO_STORE_NAR_FRAMED)) return 'framed'
  if (workerAtLeast(version, GATE.ADD_TO_STORE_NAR_STDERR_READ)) return 'stderr-read'
  return 'nar'
}

function addToStorePayload (version: WireVersion): ArgsPayload {
  return workerAtLeast(version, GATE.ADD_TO_STORE_NEW) ? 'framed' : 'nar'
}

/** Every operation's codecs, by name (§2). */
export const OPS = {
  IsValidPath: def(Op.IsValidPath, PathArgsCodec, Bool),
  HasSubstitutes: def(Op.HasSubstitutes, PathArgsCodec, Bool),
  QueryPathHash: def(Op.QueryPathHash, PathArgsCodec, NarHashReplyCodec),
  QueryReferences: def(Op.QueryReferences, PathArgsCodec, StorePathSetCodec),
  QueryReferrers: def(Op.QueryReferrers, PathArgsCodec, StorePathSetCodec),
  AddToStore: def(Op.AddToStore, AddToStoreArgsCodec, AddToStoreReplyCodec, addToStorePayload),
  AddTextToStore: def(Op.AddTextToStore, AddTextToStoreArgsCodec, StorePathCodec),
  BuildPaths: def(Op.BuildPaths, BuildPathsArgsCodec, One),
  EnsurePath: def(Op.EnsurePath, PathArgsCodec, One),
  AddTempRoot: def(Op.AddTempRoot, PathArgsCodec, One),
  AddIndirectRoot: def(Op.AddIndirectRoot, IndirectRootArgsCodec, One),
  SyncWithGC: def(Op.SyncWithGC, Nothing, One),
  FindRoots: def(Op.FindRoots, Nothing, FindRootsReplyCodec),
  ExportPath: def(Op.ExportPath, ExportPathArgsCodec, One, 'none', 'stderr-write'),
  QueryDeriver: def(Op.QueryDeriver, PathArgsCodec, OptStorePathCodec),
  SetOptions: def(Op.SetOptions, ClientSettingsCodec, Nothing),
  CollectGarbage: def(Op.CollectGarbage, CollectGarbageArgsCodec, CollectGarbageReplyCodec),
  QuerySubstitutablePathInfo: def(Op.QuerySubstitutablePathInfo, PathArgsCodec, SubstitutablePathInfoReplyCodec),
  QueryDerivationOutputs: def(Op.QueryDerivationOutputs, PathArgsCodec, StorePathSetCodec),
  QueryAllValidPaths: def(Op.QueryAllValidPaths, Nothing, StorePathSetCodec),
  QueryFailedPaths: def(Op.QueryFailedPaths, Nothing, ShortStringSet),
  ClearFailedPaths: def(Op.ClearFailedPaths, StringSetArgsCodec, One),
  QueryPathInfo: def(Op.QueryPathInfo, PathArgsCodec, QueryPathInfoReplyCodec),
  ImportPaths: def(Op.ImportPaths, Nothing, StorePathListCodec, 'stderr-read'),
  QueryDerivationOutputNames: def(Op.QueryDerivationOutputNames, PathArgsCodec, ShortStringSet),
  QueryPathFromHashPart: def(Op.QueryPathFromHashPart, HashPartArgsCodec, OptStorePathCodec),
  QuerySubstitutablePathInfos: def(Op.QuerySubstitutablePathInfos, SubstitutablePathInfosArgsCodec, SubstitutablePathInfosReplyCodec),
  QueryValidPaths: def(Op.QueryValidPaths, QueryValidPathsArgsCodec, StorePathSetCodec),
  QuerySubstitutablePaths: def(Op.QuerySubstitutablePaths, PathSetArgsCodec, StorePathSetCodec),
  QueryValidDerivers: def(Op.QueryValidDerivers, PathArgsCodec, StorePathSetCodec),
  OptimiseStore: def(Op.OptimiseStore, Nothing, One),
  VerifyStore: def(Op.VerifyStore, VerifyStoreArgsCodec, Bool),
  BuildDerivation: def(Op.BuildDerivation, BuildDerivationArgsCodec, BuildResultCodec),
  AddSignatures: def(Op.AddSignatures, AddSignaturesArgsCodec, One),
  NarFromPath: def(Op.NarFromPath, PathArgsCodec, Nothing, 'none', 'nar'),
  AddToStoreNar: def(Op.AddToStoreNar, AddToStoreNarArgsCodec, Nothing, addToStoreNarPayload),
  QueryMissing: def(Op.QueryMissing, QueryMissingArgsCodec, QueryMissingReplyCodec),
  QueryDerivationOutputMap: def(Op.QueryDerivationOutputMap, PathArgsCodec, OutputMapReplyCodec),
  RegisterDrvOutput: def(Op.RegisterDrvOutput, RegisterDrvOutputArgsCodec, Nothing),
  QueryRealisation: def(Op.QueryRealisation, QueryRealisationArgsCodec, QueryRealisationReplyCodec),
  AddMultipleToStore: def(Op.AddMultipleToStore, AddMultipleToStoreArgsCodec, Nothing, 'framed'),
  AddBuildLog: def(Op.AddBuildLog, AddBuildLogArgsCodec, One, 'framed'),
  BuildPathsWithResults: def(Op.BuildPathsWithResults, BuildPathsArgsCodec, listCodec<KeyedBuildResult>(KeyedBuildResultCodec, 'build results')),
  AddPermRoot: def(Op.AddPermRoot, AddPermRootArgsCodec, ShortString),
  BuiltinBuilders: def(Op.BuiltinBuilders, Nothing, ShortStringList),
  SubstituteURLs: def(Op.SubstituteURLs, Nothing, ShortStringList),
  SubmitOutput: def(Op.SubmitOutput, SubmitOutputArgsCodec, One),
  AddToStoreScanning: def(Op.AddToStoreScanning, AddToStoreScanningArgsCodec, ValidPathInfoCodec, 'framed')
} satisfies { [K in OpName]: OpDefinition<any, any> }

/** Argument type of each op. */
export type OpArgs = { [K in OpName]: Awaited<ReturnType<typeof OPS[K]['readArgs']>> }
/** Reply body type of each op. */
export type OpReply = { [K in OpName]: Awaited<ReturnType<typeof OPS[K]['readReply']>> }

/** A decoded request: op name + typed arguments. */
export type OpRequest = { [K in OpName]: { op: K, args: OpArgs[K] } }[OpName]

/** Looks an op up by its code; throws `ERR_UNKNOWN_OP`. */
export function opDefinition (code: number): OpDefinition<unknown, unknown> {
  const name = OP_NAMES[code]
  if (name == null) throw new ProtocolError(`invalid operation ${code}`, 'ERR_UNKNOWN_OP')
  return OPS[name] as OpDefinition<unknown, unknown>
}

/**
 * Reads an op code and its arguments (server side). Returns null on a clean
 * end of stream before an op code. Streamed payloads are left for the caller
 * (see `opDefinition(code).argsPayload(version)`).
 */
export async function readRequest (reader: WireReader, version: WireVersion, options?: AbortOptions): Promise<OpRequest | null> {
  if (await reader.atEnd(options)) return null
  const code = await reader.readNumber('op code', U32_MAX, options)
  const definition = opDefinition(code)
  const args = await definition.readArgs(reader, version, options)
  return { op: definition.name, args } as OpRequest
}

/** Writes an op code and its arguments (client side). */
export function writeRequest<K extends OpName> (writer: WireWriter, op: K, args: OpArgs[K], version: WireVersion): void {
  const definition = OPS[op] as unknown as OpDefinition<OpArgs[K], unknown>
  writer.writeU64(definition.op)
  definition.writeArgs(writer, args, version)
}

/** Reads the reply body of `op` (after STDERR_LAST). */
export async function readReply<K extends OpName> (reader: WireReader, op: K, version: WireVersion, options?: AbortOptions): Promise<OpReply[K]> {
  const definition = OPS[op] as unknown as OpDefinition<unknown, OpReply[K]>
  return await definition.readReply(reader, version, options)
}

/** Writes the reply body of `op`. */
export function writeReply<K extends OpName> (writer: WireWriter, op: K, reply: OpReply[K], version: WireVersion): void {
  const definition = OPS[op] as unknown as OpDefinition<unknown, OpReply[K]>
  definition.writeReply(writer, reply, version)
}

/* ------------------------------------------------------------------------ */
/* AddMultipleToStore payload (§2 op 44)                                     */
/* ------------------------------------------------------------------------ */

/** One path of an AddMultipleToStore stream; `nar` must be consumed before the next item. */
export interface PathWithNar {
  info: ValidPathInfo
  /** The NAR: exactly `info.narSize` bytes (views of the source's buffers). */
  nar: AsyncIterable<Uint8Array>
}

/**
 * Reads the payload of AddMultipleToStore from a reader over its framed stream:
 * `u64 count`, then count × (ValidPathInfo in the 1.16 layout, NAR of narSize
 * bytes). Whatever part of a NAR the consumer leaves unread is skipped.
 */
export async function * readPathsWithNars (reader: WireReader, options?: AbortOptions): AsyncGenerator<PathWithNar, void, undefined> {
  const count = await reader.readCount('AddMultipleToStore paths', undefined, options)
  for (let i = 0; i < count; i++) {
    const info = await ValidPathInfoCodec.read(reader, PATH_INFO_TRANSFER_VERSION, options)
    const end = reader.position + info.narSize
    yield { info, nar: reader.readStream(info.narSize, undefined, 'NAR', options) }
    const left = end - reader.position
    if (left > 0) await reader.skip(left, 'NAR', options)
  }
}

/** Writes the header of one AddMultipleToStore item (its NAR bytes follow). */
export function writePathInfoForTransfer (writer: WireWriter, info: ValidPathInfo): void {
  ValidPathInfoCodec.write(writer, info, PATH_INFO_TRANSFER_VERSION)
}
