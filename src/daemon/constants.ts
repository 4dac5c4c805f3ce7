/**
 * Constants of the Nix worker ("daemon") protocol and its relatives.
 *
 * Section references (§) are to `shared/specs/daemon-protocol.md`, which cites
 * NixOS/nix `src/libstore/include/nix/store/worker-protocol.hh`,
 * `src/libstore/worker-protocol.cc`, `src/libstore/daemon.cc`,
 * `src/libutil/serialise.{hh,cc}` and `src/libutil/logging.hh`.
 */

/* ------------------------------------------------------------------------ */
/* Magic numbers (§1.2)                                                     */
/* ------------------------------------------------------------------------ */

/** Client → server greeting, "cxin" little-endian (§1.2, `WORKER_MAGIC_1`). */
export const WORKER_MAGIC_1 = 0x6e697863
/** Server → client greeting, "oixd" little-endian (§1.2, `WORKER_MAGIC_2`). */
export const WORKER_MAGIC_2 = 0x6478696f

/** `nix-store --serve` client greeting (§5, `SERVE_MAGIC_1`). */
export const SERVE_MAGIC_1 = 0x390c9deb
/** `nix-store --serve` server greeting (§5, `SERVE_MAGIC_2`). */
export const SERVE_MAGIC_2 = 0x5452eecb

/* ------------------------------------------------------------------------ */
/* Versions (§1.2, §1.3)                                                    */
/* ------------------------------------------------------------------------ */

/** Builds a version word: `major << 8 | minor` (§1.2). */
export function protocolVersion (major: number, minor: number): number {
  return ((major & 0xff) << 8) | (minor & 0xff)
}

/** `GET_PROTOCOL_MAJOR(v)` — the major number (not shifted). */
export function protocolMajor (version: number): number {
  return (version >> 8) & 0xff
}

/** `GET_PROTOCOL_MINOR(v) = v & 0xff`. */
export function protocolMinor (version: number): number {
  return version & 0xff
}

/** Renders `1.34` style text for messages. */
export function formatVersion (version: number): string {
  return `${protocolMajor(version)}.${protocolMinor(version)}`
}

/** Worker protocol major number; the only one that exists (§1.2). */
export const WORKER_PROTOCOL_MAJOR = 1

/** Oldest worker protocol version this codec speaks: 1.10 (2.8 daemon minimum, §1.2). */
export const MIN_WORKER_VERSION = protocolVersion(1, 10)

/**
 * Newest worker protocol version: 1.38 (`WorkerProto::latest`, §1.2 table). A server
 * advertises this with an **empty** feature list (§1.3).
 */
export const MAX_WORKER_VERSION = protocolVersion(1, 38)

/** Default serve-protocol version of the golden fixtures (§5). */
export const SERVE_PROTOCOL_DEFAULT_VERSION = protocolVersion(2, 5)

/**
 * Guix minors start at 0x60 so they never collide with Nix's (§1.3, §4). A client
 * version with minor ≥ this is the Guix dialect and must not be gated like Nix.
 */
export const GUIX_MINOR_THRESHOLD = 0x60
/** Guix `PROTOCOL_VERSION` since 2018-10 (0x163, §4). */
export const GUIX_PROTOCOL_VERSION = 0x163
/** Newest Guix version (0x164, adds op 81 SubstituteURLs, §4). */
export const GUIX_PROTOCOL_VERSION_LATEST = 0x164
/** Guix clients require a daemon minor ≥ 0x61 (§4). */
export const GUIX_MIN_DAEMON_MINOR = 0x61

/** True when `version` is a Guix-dialect version (§1.3). */
export function isGuixVersion (version: number): boolean {
  return protocolMinor(version) >= GUIX_MINOR_THRESHOLD
}

/**
 * Protocol minors at which the wire format changes (§1.2 "Protocol minor changelog").
 * Compare with `protocolMinor(version) >= GATE.x`.
 */
export const GATE = {
  /** reserveSpace in the handshake. */
  RESERVE_SPACE: 11,
  /** SetOptions overrides map; QueryValidPaths etc. exist. */
  SET_OPTIONS_OVERRIDES: 12,
  /** cpu affinity in the handshake. */
  CPU_AFFINITY: 14,
  /** BuildPaths carries a BuildMode. */
  BUILD_MODE: 15,
  /** UnkeyedValidPathInfo has ultimate/sigs/ca. */
  PATH_INFO_ULTIMATE: 16,
  /** QueryPathInfo replies start with a `valid` bool. */
  PATH_INFO_VALID_FLAG: 17,
  /** START/STOP_ACTIVITY and RESULT stderr messages. */
  ACTIVITIES: 20,
  /** AddToStoreNar pulls the NAR with STDERR_READ. */
  ADD_TO_STORE_NAR_STDERR_READ: 21,
  /** QuerySubstitutablePathInfos takes a StorePath → CA map. */
  SUBSTITUTABLE_INFOS_MAP: 22,
  /** AddToStoreNar sends the NAR framed. */
  ADD_TO_STORE_NAR_FRAMED: 23,
  /** New AddToStore (framed, CA method string). */
  ADD_TO_STORE_NEW: 25,
  /** Structured STDERR_ERROR. */
  STRUCTURED_ERROR: 26,
  /** QueryValidPaths substitute flag; realisation ops. */
  QUERY_VALID_PATHS_SUBSTITUTE: 27,
  /** BuildResult builtOutputs. */
  BUILD_RESULT_BUILT_OUTPUTS: 28,
  /** BuildResult timesBuilt/isNonDeterministic/startTime/stopTime. */
  BUILD_RESULT_TIMING: 29,
  /** DerivedPath sent in the `drv!outputs` string form. */
  DERIVED_PATH_STRINGS: 30,
  /** Realisations as JSON strings. */
  REALISATION_JSON: 31,
  /** daemon Nix version string after the handshake. */
  DAEMON_VERSION_STRING: 33,
  /** trusted flag after the handshake. */
  TRUSTED_FLAG: 35,
  /** BuildResult cpuUser/cpuSystem. */
  BUILD_RESULT_CPU: 37,
  /** feature exchange in the handshake. */
  FEATURES: 38
} as const

/** Serve-protocol (`nix-store --serve`) gates, by minor of version 2.x (§5). */
export const SERVE_GATE = {
  BUILD_OPTIONS_MAX_LOG_SIZE: 2,
  BUILD_RESULT_TIMING: 3,
  BUILD_OPTIONS_REPEAT: 3,
  PATH_INFO_HASH_CA_SIGS: 4,
  BUILD_RESULT_BUILT_OUTPUTS: 6,
  BUILD_OPTIONS_KEEP_FAILED: 7,
  REALISATION_WITH_PATH: 8
} as const

/* ------------------------------------------------------------------------ */
/* Features (§1.2, ≥ 1.38)                                                  */
/* ------------------------------------------------------------------------ */

/** Binary realisations / DrvOutput keyed by drv path (§1.2, §3.5). */
export const FEATURE_REALISATION_WITH_PATH = 'realisation-with-path-not-hash'
/** New CollectGarbage path specification (§2 op 20). */
export const FEATURE_DELETE_DEAD_SPECIFIC_REFERRERS = 'delete-dead-specific-referrers'
/** Client skips SetOptions (§1.2). */
export const FEATURE_DISABLE_SET_OPTIONS = 'disable-set-options'
/** Op 1001 AddToStoreScanning (§2). */
export const FEATURE_ADD_TO_STORE_SCANNING = 'add-to-store-scanning'
/** Op 1000 SubmitOutput (§2). */
export const FEATURE_SUBMIT_OUTPUT = 'submit-output'

/* ------------------------------------------------------------------------ */
/* Stderr loop (§1.4)                                                       */
/* ------------------------------------------------------------------------ */

/** Log line ("gmlo"). */
export const STDERR_NEXT = 0x6f6c6d67
/** Server asks the client for up to n bytes ("atad"). */
export const STDERR_READ = 0x64617461
/** Data for the client's sink. */
export const STDERR_WRITE = 0x64617416
/** End of stderr; the reply body follows ("stla"). */
export const STDERR_LAST = 0x616c7473
/** Error; no reply body follows ("ptxc"). */
export const STDERR_ERROR = 0x63787470
/** Activity start, ≥ 1.20 ("TRTS"). */
export const STDERR_START_ACTIVITY = 0x53545254
/** Activity stop, ≥ 1.20 ("POTS"). */
export const STDERR_STOP_ACTIVITY = 0x53544f50
/** Activity result, ≥ 1.20 ("TLSR"). */
export const STDERR_RESULT = 0x52534c54

/** Names of the stderr message codes, for diagnostics. */
export const STDERR_NAMES: Readonly<Record<number, string>> = {
  [STDERR_NEXT]: 'STDERR_NEXT',
  [STDERR_READ]: 'STDERR_READ',
  [STDERR_WRITE]: 'STDERR_WRITE',
  [STDERR_LAST]: 'STDERR_LAST',
  [STDERR_ERROR]: 'STDERR_ERROR',
  [STDERR_START_ACTIVITY]: 'STDERR_START_ACTIVITY',
  [STDERR_STOP_ACTIVITY]: 'STDERR_STOP_ACTIVITY',
  [STDERR_RESULT]: 'STDERR_RESULT'
}

/** Logger field types in activity/result messages (§1.4 `fields`). */
export const FIELD_INT = 0
export const FIELD_STRING = 1

/** ActivityType (§1.4, `logging.hh`). */
export const ActivityType = {
  Unknown: 0,
  CopyPath: 100,
  FileTransfer: 101,
  Realise: 102,
  CopyPaths: 103,
  Builds: 104,
  Build: 105,
  OptimiseStore: 106,
  VerifyPaths: 107,
  Substitute: 108,
  QueryPathInfo: 109,
  PostBuildHook: 110,
  BuildWaiting: 111,
  FetchTree: 112
} as const

/** ResultType (§1.4, `logging.hh`). */
export const ResultType = {
  FileLinked: 100,
  BuildLogLine: 101,
  UntrustedPath: 102,
  CorruptedPath: 103,
  SetPhase: 104,
  Progress: 105,
  SetExpected: 106,
  PostBuildLogLine: 107,
  FetchStatus: 108
} as const

/** Verbosity levels (§1.1). */
export const Verbosity = {
  Error: 0,
  Warn: 1,
  Notice: 2,
  Info: 3,
  Talkative: 4,
  Chatty: 5,
  Debug: 6,
  Vomit: 7
} as const

/* ------------------------------------------------------------------------ */
/* Enumerations of composite types (§1.1, §3.4)                             */
/* ------------------------------------------------------------------------ */

/** BuildMode (§1.1): u64 0 normal, 1 repair, 2 check. */
export const BuildMode = {
  Normal: 0,
  Repair: 1,
  Check: 2
} as const
export type BuildMode = typeof BuildMode[keyof typeof BuildMode]

/** BuildResult status wire values (§3.4, `common-protocol.cc buildResultStatusTable`). */
export const BuildStatus = {
  Built: 0,
  Substituted: 1,
  AlreadyValid: 2,
  PermanentFailure: 3,
  InputRejected: 4,
  OutputRejected: 5,
  TransientFailure: 6,
  CachedFailure: 7,
  TimedOut: 8,
  MiscFailure: 9,
  DependencyFailed: 10,
  LogLimitExceeded: 11,
  NotDeterministic: 12,
  ResolvesToAlreadyValid: 13,
  NoSubstituters: 14
} as const

/** Names by wire value, e.g. `BUILD_STATUS_NAMES[2] === 'AlreadyValid'`. */
export const BUILD_STATUS_NAMES: readonly string[] = Object.keys(BuildStatus)

/** Statuses that mean success (§3.4). */
export function isSuccessStatus (status: number): boolean {
  return status === BuildStatus.Built || status === BuildStatus.Substituted ||
    status === BuildStatus.AlreadyValid || status === BuildStatus.ResolvesToAlreadyValid
}

/** CollectGarbage actions (§2 op 20). */
export const GCAction = {
  ReturnLive: 0,
  ReturnDead: 1,
  DeleteDead: 2,
  DeleteSpecific: 3
} as const

/* ------------------------------------------------------------------------ */
/* Operations (§2)                                                          */
/* ------------------------------------------------------------------------ */

/** Worker op codes (§2 table; `WorkerProto::Op`; 80/81 Guix only). */
export const Op = {
  IsValidPath: 1,
  HasSubstitutes: 3,
  QueryPathHash: 4,
  QueryReferences: 5,
  QueryReferrers: 6,
  AddToStore: 7,
  AddTextToStore: 8,
  BuildPaths: 9,
  EnsurePath: 10,
  AddTempRoot: 11,
  AddIndirectRoot: 12,
  SyncWithGC: 13,
  FindRoots: 14,
  ExportPath: 16,
  QueryDeriver: 18,
  SetOptions: 19,
  CollectGarbage: 20,
  QuerySubstitutablePathInfo: 21,
  QueryDerivationOutputs: 22,
  QueryAllValidPaths: 23,
  QueryFailedPaths: 24,
  ClearFailedPaths: 25,
  QueryPathInfo: 26,
  ImportPaths: 27,
  QueryDerivationOutputNames: 28,
  QueryPathFromHashPart: 29,
  QuerySubstitutablePathInfos: 30,
  QueryValidPaths: 31,
  QuerySubstitutablePaths: 32,
  QueryValidDerivers: 33,
  OptimiseStore: 34,
  VerifyStore: 35,
  BuildDerivation: 36,
  AddSignatures: 37,
  NarFromPath: 38,
  AddToStoreNar: 39,
  QueryMissing: 40,
  QueryDerivationOutputMap: 41,
  RegisterDrvOutput: 42,
  QueryRealisation: 43,
  AddMultipleToStore: 44,
  AddBuildLog: 45,
  BuildPathsWithResults: 46,
  AddPermRoot: 47,
  BuiltinBuilders: 80,
  SubstituteURLs: 81,
  SubmitOutput: 1000,
  AddToStoreScanning: 1001
} as const
export type OpName = keyof typeof Op
export type OpCode = typeof Op[OpName]

/** Op names by code, e.g. `OP_NAMES[26] === 'QueryPathInfo'`. */
export const OP_NAMES: Readonly<Record<number, OpName>> = Object.fromEntries(
  Object.entries(Op).map(([name, code]) => [code, name])
) as Record<number, OpName>

/* ------------------------------------------------------------------------ */
/* Codec limits (bounded memory; not part of the protocol)                  */
/* ------------------------------------------------------------------------ */

/** Largest integer `readNumber()` returns (2^53 − 1). */
export const MAX_SAFE = Number.MAX_SAFE_INTEGER

/** Default cap for a generic string/bytes read: 16 MiB. */
export const DEFAULT_MAX_STRING_LENGTH = 16 * 1024 * 1024
/** Cap for a store path string (store dir + 32 + 1 + 211 fits easily). */
export const MAX_STORE_PATH_LENGTH = 4096
/** Cap for short tokens: names, hashes, CA strings, feature names, signatures. */
export const MAX_SHORT_STRING_LENGTH = 64 * 1024
/** Default cap for list/set/map element counts. */
export const DEFAULT_MAX_COLLECTION_SIZE = 1 << 20
/** Frame payload chunk size the framed reader hands out (bounded memory). */
export const FRAMED_CHUNK_SIZE = 64 * 1024
/** Frame size the framed writer emits (Nix 2.8 buffers ~32 KiB, §1.1). */
export const DEFAULT_FRAME_SIZE = 32 * 1024
/** Deepest NAR directory nesting the NAR skipper accepts. */
export const MAX_NAR_DEPTH = 256
/** Longest NAR token we read into memory (names, symlink targets). */
export const MAX_NAR_TOKEN_LENGTH = 4096
