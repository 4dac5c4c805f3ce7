/**
 * Both sides of the worker-protocol handshake (§1.2, §1.3): magic numbers,
 * version negotiation (`min(client, server)`), the ≥ 1.38 feature exchange, the
 * obsolete cpu-affinity/reserve-space words, the daemon version string (≥ 1.33),
 * the trust flag (≥ 1.35) and the initial stderr loop.
 *
 * A server announces its version *before* reading the client's and flushes it
 * (Nix 2.8 clients wait for it). The Guix dialect (minor ≥ 0x60) is detected and
 * either refused (Nix socket) or served with its own post-handshake layout.
 */
import {
  GATE,
  GUIX_MIN_DAEMON_MINOR,
  GUIX_PROTOCOL_VERSION,
  MAX_SHORT_STRING_LENGTH,
  MAX_WORKER_VERSION,
  MIN_WORKER_VERSION,
  STDERR_LAST,
  WORKER_MAGIC_1,
  WORKER_MAGIC_2,
  WORKER_PROTOCOL_MAJOR,
  formatVersion,
  isGuixVersion,
  protocolMajor,
  protocolMinor
} from './constants.ts'
import { ProtocolError } from './errors.ts'
import { readStderrMessage, toDaemonError, writeStderrMessage } from './stderr.ts'
import type { StderrMessage } from './stderr.ts'
import { ClientHandshakeInfoCodec } from './types.ts'
import type { ClientHandshakeInfo } from './types.ts'
import { WireWriter, sortedUnique } from './wire.ts'
import type { ByteSink, WireReader } from './wire.ts'
import type { AbortOptions } from '../abort.ts'

const U32_MAX = 0xffffffff
const MAX_FEATURES = 1024

/** Which protocol family a connection speaks. */
export type Dialect = 'nix' | 'guix'

/** Reads a u64 handshake word bounded to `unsigned int` like Nix's `readInt`. */
async function readWord (reader: WireReader, what: string, options?: AbortOptions): Promise<number> {
  return await reader.readNumber(what, U32_MAX, options)
}

function checkMajor (version: number, who: string): void {
  if (protocolMajor(version) !== WORKER_PROTOCOL_MAJOR) {
    throw new ProtocolError(
      `${who} protocol version ${formatVersion(version)} has an unsupported major number`, 'ERR_UNSUPPORTED_VERSION'
    )
  }
}

function intersect (a: Iterable<string>, b: Iterable<string>): Set<string> {
  const bs = new Set(b)
  const out = new Set<string>()
  for (const x of a) if (bs.has(x)) out.add(x)
  return out
}

/* ------------------------------------------------------------------------ */
/* Client side                                                               */
/* ------------------------------------------------------------------------ */

export interface ClientHandshakeOptions extends AbortOptions {
  /** Version we offer (default 1.38). */
  version?: number
  /** Features we offer at ≥ 1.38 (default none). */
  features?: Iterable<string>
  /** Refuse daemons (negotiated versions) older than this (default 1.10). */
  minimumVersion?: number
  /** Obsolete CPU affinity to request (default none → flag 0). */
  cpuAffinity?: number | null
  /** Obsolete reserveSpace flag (default false). */
  reserveSpace?: boolean
  /** Called for stderr messages the daemon sends before STDERR_LAST. */
  onMessage?: (msg: StderrMessage) => void | Promise<void>
}

export interface ClientHandshakeResult {
  /** Negotiated version: min(ours, daemon's). */
  version: number
  /** Version the daemon announced. */
  daemonVersion: number
  /** Negotiated features (intersection). */
  features: Set<string>
  /** Features the daemon offered (≥ 1.38). */
  daemonFeatures: string[]
  /** ≥ 1.33 */
  daemonNixVersion: string | null
  /** ≥ 1.35: does the daemon trust us? */
  trusted: boolean | null
}

/**
 * Runs the client side: sends magic + version, negotiates, exchanges features,
 * sends the obsolete words, reads the handshake info and the initial stderr loop
 * (an STDERR_ERROR there throws {@link DaemonError}).
 */
export async function clientHandshake (reader: WireReader, sink: ByteSink, options: ClientHandshakeOptions = {}): Promise<ClientHandshakeResult> {
  const ours = options.version ?? MAX_WORKER_VERSION
  const minimum = options.minimumVersion ?? MIN_WORKER_VERSION
  const ourFeatures = sortedUnique(options.features ?? [])
  const w = new WireWriter()

  w.writeU64(WORKER_MAGIC_1).writeU64(ours)
  await w.flush(sink, options)

  const daemonVersion = await readServerHello(reader, options)
  if (isGuixVersion(daemonVersion) !== isGuixVersion(ours)) {
    throw new ProtocolError(
      `daemon version ${formatVersion(daemonVersion)} is a different dialect than ours (${formatVersion(ours)})`,
      'ERR_UNSUPPORTED_VERSION'
    )
  }
  const version = Math.min(daemonVersion, ours)
  if (version < minimum) {
    throw new ProtocolError(`the daemon version ${formatVersion(daemonVersion)} is too old`, 'ERR_UNSUPPORTED_VERSION')
  }
  const guix = isGuixVersion(version)
  if (guix && protocolMinor(daemonVersion) < GUIX_MIN_DAEMON_MINOR) {
    throw new ProtocolError(`Guix daemon version ${formatVersion(daemonVersion)} is too old`, 'ERR_UNSUPPORTED_VERSION')
  }

  let daemonFeatures: string[] = []
  if (!guix && protocolMinor(version) >= GATE.FEATURES) {
    w.writeStrings(ourFeatures)
    await w.flush(sink, options)
    daemonFeatures = await reader.readStrings(MAX_FEATURES, MAX_SHORT_STRING_LENGTH, 'daemon features', options)
  }

  if (protocolMinor(version) >= GATE.CPU_AFFINITY) {
    if (options.cpuAffinity != null) w.writeU64(1).writeU64(options.cpuAffinity)
    else w.writeU64(0)
  }
  if (protocolMinor(version) >= GATE.RESERVE_SPACE) w.writeBool(options.reserveSpace ?? false)
  await w.flush(sink, options)

  const info: ClientHandshakeInfo = guix
    ? { daemonNixVersion: null, trusted: null }
    : await ClientHandshakeInfoCodec.read(reader, version, options)

  while (true) {
    const msg = await readStderrMessage(reader, version, options)
    if (msg.type === 'last') break
    if (msg.type === 'error') throw toDaemonError(msg.error)
    if (msg.type === 'read') throw new ProtocolError('daemon requested data during the handshake', 'ERR_BAD_VALUE')
    if (options.onMessage != null) await options.onMessage(msg)
  }

  return {
    version,
    daemonVersion,
    features: intersect(daemonFeatures, ourFeatures),
    daemonFeatures,
    daemonNixVersion: info.daemonNixVersion,
    trusted: info.trusted
  }
}

/* ------------------------------------------------------------------------ */
/* Server side                                                               */
/* ------------------------------------------------------------------------ */

export interface ServerHandshakeOptions extends AbortOptions {
  /** `nix` (default) or `guix`; a Nix server refuses Guix clients and vice versa. */
  dialect?: Dialect
  /** Version we announce (default 1.38 for Nix, 0x163 for Guix). */
  version?: number
  /** Features we offer at ≥ 1.38 (default none, §1.3). */
  features?: Iterable<string>
  /** Refuse clients whose negotiated version is older (default 1.10; Guix: 0x160). */
  minimumClientVersion?: number
  /** Version string sent at ≥ 1.33 (default "storeswarm"). */
  daemonNixVersion?: string
  /** Trust status sent at ≥ 1.35 (default null = unknown). */
  trusted?: boolean | null
  /** Messages to send before STDERR_LAST (e.g. warnings). */
  startupMessages?: StderrMessage[]
  /** Send STDERR_LAST to end the handshake (default true). */
  sendLast?: boolean
}

export interface ServerHandshakeResult {
  dialect: Dialect
  /** Negotiated version: min(client, ours). */
  version: number
  /** Version the client announced. */
  clientVersion: number
  /** Negotiated features (intersection). */
  features: Set<string>
  /** Features the client offered (≥ 1.38). */
  clientFeatures: string[]
  /** Obsolete CPU affinity the client asked for (null = none). */
  cpuAffinity: number | null
  /** Obsolete reserveSpace flag. */
  reserveSpace: boolean
}

/**
 * Runs the server side up to (by default) STDERR_LAST. Bad magic, an unknown
 * major, a client older than the minimum or the wrong dialect throw
 * {@link ProtocolError}; the caller should then close the connection.
 */
export async function serverHandshake (reader: WireReader, sink: ByteSink, options: ServerHandshakeOptions = {}): Promise<ServerHandshakeResult> {
  const dialect = options.dialect ?? 'nix'
  const ours = options.version ?? (dialect === 'guix' ? GUIX_PROTOCOL_VERSION : MAX_WORKER_VERSION)
  const minimum = options.minimumClientVersion ?? (dialect === 'guix' ? 0x160 : MIN_WORKER_VERSION)
  const ourFeatures = sortedUnique(options.features ?? [])
  const w = new WireWriter()

  const magic = await readWord(reader, 'client magic', options)
  if (magic !== WORKER_MAGIC_1) {
    throw new ProtocolError(`protocol mismatch: bad client magic 0x${magic.toString(16)}`, 'ERR_BAD_MAGIC')
  }
  w.writeU64(WORKER_MAGIC_2).writeU64(ours)
  await w.flush(sink, options)

  const clientVersion = await readWord(reader, 'client version', options)
  checkMajor(clientVersion, 'client')
  const clientIsGuix = isGuixVersion(clientVersion)
  if (clientIsGuix !== (dialect === 'guix')) {
    throw new ProtocolError(
      clientIsGuix
        ? `client version ${formatVersion(clientVersion)} is the Guix dialect; this socket speaks Nix`
        : `client version ${formatVersion(clientVersion)} is the Nix dialect; this socket speaks Guix`,
      'ERR_UNSUPPORTED_VERSION'
    )
  }
  const version = Math.min(clientVersion, ours)
  if (version < minimum) {
    throw new ProtocolError(`the client version ${formatVersion(clientVersion)} is too old`, 'ERR_UNSUPPORTED_VERSION')
  }

  let clientFeatures: string[] = []
  if (dialect === 'nix' && protocolMinor(version) >= GATE.FEATURES) {
    clientFeatures = await reader.readStrings(MAX_FEATURES, MAX_SHORT_STRING_LENGTH, 'client features', options)
    w.writeStrings(ourFeatures)
    await w.flush(sink, options)
  }

  // Gate on the client's own minor for Guix (its daemon does), on min() for Nix.
  const gateMinor = protocolMinor(dialect === 'guix' ? clientVersion : version)
  let cpuAffinity: number | null = null
  if (gateMinor >= GATE.CPU_AFFINITY) {
    // Any non-zero flag is followed by a cpu word (Nix 2.23 sends its version here, §1.3).
    const flag = await readWord(reader, 'cpu affinity flag', options)
    if (flag !== 0) cpuAffinity = await readWord(reader, 'cpu affinity', options)
  }
  let reserveSpace = false
  if (gateMinor >= GATE.RESERVE_SPACE) reserveSpace = await readWord(reader, 'reserveSpace', options) !== 0

  if (dialect === 'nix') {
    ClientHandshakeInfoCodec.write(w, {
      daemonNixVersion: options.daemonNixVersion ?? 'storeswarm',
      trusted: options.trusted ?? null
    }, version)
  }
  for (const msg of options.startupMessages ?? []) writeStderrMessage(w, msg, version)
  if (options.sendLast ?? true) w.writeU64(STDERR_LAST)
  await w.flush(sink, options)

  return {
    dialect,
    version,
    clientVersion,
    features: intersect(clientFeatures, ourFeatures),
    clientFeatures,
    cpuAffinity,
    reserveSpace
  }
}

/* ------------------------------------------------------------------------ */
/* The server greeting on its own                                            */
/* ------------------------------------------------------------------------ */

/** Writes the server greeting `WORKER_MAGIC_2, version` (golden `handshake-to-client.bin`). */
export function writeServerHello (writer: WireWriter, version: number): void {
  writer.writeU64(WORKER_MAGIC_2).writeU64(version)
}

/** Reads the server greeting; returns the daemon's version (bad magic / major → ProtocolError). */
export async function readServerHello (reader: WireReader, options?: AbortOptions): Promise<number> {
  const magic = await readWord(reader, 'daemon magic', options)
  if (magic !== WORKER_MAGIC_2) {
    throw new ProtocolError(`protocol mismatch: bad daemon magic 0x${magic.toString(16)}`, 'ERR_BAD_MAGIC')
  }
  const version = await readWord(reader, 'daemon version', options)
  checkMajor(version, 'daemon')
  return version
}
