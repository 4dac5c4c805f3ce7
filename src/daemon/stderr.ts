/**
 * The stderr loop that precedes every reply (§1.4): log lines, data tunnels
 * (STDERR_READ/WRITE), activities and results, ended by STDERR_LAST (reply body
 * follows) or STDERR_ERROR (no body).
 *
 * Errors have two wire formats: `string msg, u64 status` below 1.26 (and in the
 * Guix dialect), the structured `Error` record at ≥ 1.26.
 */
import {
  FIELD_INT,
  FIELD_STRING,
  GATE,
  MAX_SAFE,
  STDERR_ERROR,
  STDERR_LAST,
  STDERR_NEXT,
  STDERR_READ,
  STDERR_RESULT,
  STDERR_START_ACTIVITY,
  STDERR_STOP_ACTIVITY,
  STDERR_WRITE,
  isGuixVersion,
  protocolMinor
} from './constants.ts'
import { DaemonError, ProtocolError } from './errors.ts'
import { versionNumber } from './version.ts'
import type { WireVersion } from './version.ts'
import type { WireReader, WireWriter } from './wire.ts'
import type { AbortOptions } from '../abort.ts'

/** A logger field: `0 = int` (bigint) or `1 = string` (§1.4). */
export type LoggerField = bigint | string

/** Error payload of STDERR_ERROR. */
export interface StderrError {
  message: string
  /** Exit status (old format); structured errors carry none (1 is assumed). */
  status: number
  /** Verbosity level (structured format); 0 in the old format. */
  level: number
  /** Trace hints (structured format). */
  traces: string[]
}

/** One message of the stderr loop. */
export type StderrMessage =
  | { type: 'next', message: string }
  | { type: 'read', length: number }
  | { type: 'write', data: Uint8Array }
  | { type: 'last' }
  | { type: 'error', error: StderrError }
  | {
    type: 'start-activity'
    id: bigint
    level: number
    activityType: number
    text: string
    fields: LoggerField[]
    parent: bigint
  }
  | { type: 'stop-activity', id: bigint }
  | { type: 'result', id: bigint, resultType: number, fields: LoggerField[] }

export interface StderrReadOptions extends AbortOptions {
  /** Cap for log lines, error messages and STDERR_WRITE chunks (default: reader's). */
  maxStringLength?: number
  /** Cap for the number of logger fields / traces (default 4096). */
  maxFields?: number
}

const U32_MAX = 0xffffffff
const DEFAULT_MAX_FIELDS = 4096

/** True when STDERR_ERROR uses the structured format at `version` (≥ 1.26, not Guix). */
export function usesStructuredErrors (version: WireVersion): boolean {
  const v = versionNumber(version)
  return !isGuixVersion(v) && protocolMinor(v) >= GATE.STRUCTURED_ERROR
}

/** True when activities/results may be sent at `version` (≥ 1.20, never to Guix). */
export function supportsActivities (version: WireVersion): boolean {
  const v = versionNumber(version)
  return !isGuixVersion(v) && protocolMinor(v) >= GATE.ACTIVITIES
}

async function readFields (reader: WireReader, max: number, options?: StderrReadOptions): Promise<LoggerField[]> {
  const n = await reader.readCount('logger fields', max, options)
  const fields: LoggerField[] = []
  for (let i = 0; i < n; i++) {
    const type = await reader.readNumber('field type', U32_MAX, options)
    if (type === FIELD_INT) fields.push(await reader.readU64('int field', options))
    else if (type === FIELD_STRING) fields.push(await reader.readString(options?.maxStringLength, 'string field', options))
    else throw new ProtocolError(`unsupported logger field type ${type}`, 'ERR_BAD_VALUE')
  }
  return fields
}

function writeFields (writer: WireWriter, fields: readonly LoggerField[]): void {
  writer.writeU64(fields.length)
  for (const f of fields) {
    if (typeof f === 'bigint') writer.writeU64(FIELD_INT).writeU64(f)
    else writer.writeU64(FIELD_STRING).writeString(f)
  }
}

/** Reads the error payload after a STDERR_ERROR code. */
export async function readStderrError (reader: WireReader, version: WireVersion, options?: StderrReadOptions): Promise<StderrError> {
  const maxLen = options?.maxStringLength
  if (!usesStructuredErrors(version)) {
    const message = await reader.readString(maxLen, 'error message', options)
    const status = await reader.readNumber('error status', U32_MAX, options)
    return { message, status, level: 0, traces: [] }
  }
  const type = await reader.readString(256, 'error type', options)
  if (type !== 'Error') throw new ProtocolError(`unexpected error type '${type}'`, 'ERR_BAD_VALUE')
  const level = await reader.readNumber('error level', U32_MAX, options)
  await reader.readString(256, 'error name', options) // always "Error", removed upstream
  const message = await reader.readString(maxLen, 'error message', options)
  const havePos = await reader.readU64('error position flag', options)
  if (havePos !== 0n) throw new ProtocolError('error positions are not supported', 'ERR_BAD_VALUE')
  const n = await reader.readCount('error traces', options?.maxFields ?? DEFAULT_MAX_FIELDS, options)
  const traces: string[] = []
  for (let i = 0; i < n; i++) {
    const tracePos = await reader.readU64('trace position flag', options)
    if (tracePos !== 0n) throw new ProtocolError('trace positions are not supported', 'ERR_BAD_VALUE')
    traces.push(await reader.readString(maxLen, 'trace hint', options))
  }
  return { message, status: 1, level, traces }
}

/** Writes STDERR_ERROR + payload in the format of `version`. */
export function writeStderrError (writer: WireWriter, error: StderrError, version: WireVersion): void {
  writer.writeU64(STDERR_ERROR)
  if (!usesStructuredErrors(version)) {
    writer.writeString(error.message).writeU64(error.status)
    return
  }
  writer.writeString('Error').writeU64(error.level).writeString('Error').writeString(error.message)
  writer.writeU64(0).writeU64(error.traces.length)
  for (const t of error.traces) writer.writeU64(0).writeString(t)
}

/** Reads one stderr-loop message. Unknown codes throw `ERR_UNKNOWN_MESSAGE`. */
export async function readStderrMessage (reader: WireReader, version: WireVersion, options?: StderrReadOptions): Promise<StderrMessage> {
  const code = await reader.readNumber('stderr message code', MAX_SAFE, options)
  const maxLen = options?.maxStringLength
  const maxFields = options?.maxFields ?? DEFAULT_MAX_FIELDS
  switch (code) {
    case STDERR_NEXT:
      return { type: 'next', message: await reader.readString(maxLen, 'log message', options) }
    case STDERR_READ:
      return { type: 'read', length: await reader.readNumber('STDERR_READ length', MAX_SAFE, options) }
    case STDERR_WRITE:
      return { type: 'write', data: await reader.readBytes(maxLen, 'STDERR_WRITE data', options) }
    case STDERR_LAST:
      return { type: 'last' }
    case STDERR_ERROR:
      return { type: 'error', error: await readStderrError(reader, version, options) }
    case STDERR_START_ACTIVITY: {
      const id = await reader.readU64('activity id', options)
      const level = await reader.readNumber('activity level', U32_MAX, options)
      const activityType = await reader.readNumber('activity type', U32_MAX, options)
      const text = await reader.readString(maxLen, 'activity text', options)
      const fields = await readFields(reader, maxFields, options)
      const parent = await reader.readU64('parent activity id', options)
      return { type: 'start-activity', id, level, activityType, text, fields, parent }
    }
    case STDERR_STOP_ACTIVITY:
      return { type: 'stop-activity', id: await reader.readU64('activity id', options) }
    case STDERR_RESULT: {
      const id = await reader.readU64('activity id', options)
      const resultType = await reader.readNumber('result type', U32_MAX, options)
      const fields = await readFields(reader, maxFields, options)
      return { type: 'result', id, resultType, fields }
    }
    default:
      throw new ProtocolError(`unknown stderr message type 0x${code.toString(16)}`, 'ERR_UNKNOWN_MESSAGE')
  }
}

/**
 * Writes one stderr-loop message at `version`, downgrading like the C++ daemon:
 * below 1.20 (and to Guix) a start-activity with text becomes a `STDERR_NEXT
 * "<text>...\n"` and stop-activity/result are dropped. Returns false when
 * nothing was written.
 */
export function writeStderrMessage (writer: WireWriter, msg: StderrMessage, version: WireVersion): boolean {
  switch (msg.type) {
    case 'next':
      writer.writeU64(STDERR_NEXT).writeString(msg.message)
      return true
    case 'read':
      writer.writeU64(STDERR_READ).writeU64(msg.length)
      return true
    case 'write':
      writer.writeU64(STDERR_WRITE).writeBytes(msg.data)
      return true
    case 'last':
      writer.writeU64(STDERR_LAST)
      return true
    case 'error':
      writeStderrError(writer, msg.error, version)
      return true
    case 'start-activity':
      if (!supportsActivities(version)) {
        if (msg.text === '') return false
        writer.writeU64(STDERR_NEXT).writeString(`${msg.text}...\n`)
        return true
      }
      writer.writeU64(STDERR_START_ACTIVITY).writeU64(msg.id).writeU64(msg.level).writeU64(msg.activityType)
      writer.writeString(msg.text)
      writeFields(writer, msg.fields)
      writer.writeU64(msg.parent)
      return true
    case 'stop-activity':
      if (!supportsActivities(version)) return false
      writer.writeU64(STDERR_STOP_ACTIVITY).writeU64(msg.id)
      return true
    case 'result':
      if (!supportsActivities(version)) return false
      writer.writeU64(STDERR_RESULT).writeU64(msg.id).writeU64(msg.resultType)
      writeFields(writer, msg.fields)
      return true
  }
}

export interface StderrLoopOptions extends StderrReadOptions {
  /**
   * Called for every message before the terminal one (log lines, activities,
   * STDERR_WRITE data, STDERR_READ requests — the handler must answer those).
   */
  onMessage?: (msg: StderrMessage) => void | Promise<void>
}

/**
 * Reads the stderr loop up to STDERR_LAST or STDERR_ERROR. Returns null after
 * STDERR_LAST (the reply body follows) or the error after STDERR_ERROR.
 * STDERR_READ without an `onMessage` handler is a ProtocolError (the loop would
 * deadlock).
 */
export async function readStderrLoop (reader: WireReader, version: WireVersion, options: StderrLoopOptions = {}): Promise<StderrError | null> {
  while (true) {
    const msg = await readStderrMessage(reader, version, options)
    if (msg.type === 'last') return null
    if (msg.type === 'error') return msg.error
    if (msg.type === 'read' && options.onMessage == null) {
      throw new ProtocolError('peer requested data (STDERR_READ) but no handler is installed', 'ERR_BAD_VALUE')
    }
    if (options.onMessage != null) await options.onMessage(msg)
  }
}

/** Like {@link readStderrLoop} but throws a {@link DaemonError} on STDERR_ERROR. */
export async function expectStderrLast (reader: WireReader, version: WireVersion, options: StderrLoopOptions = {}): Promise<void> {
  const error = await readStderrLoop(reader, version, options)
  if (error != null) throw toDaemonError(error)
}

/** Converts an error payload to a throwable {@link DaemonError}. */
export function toDaemonError (error: StderrError): DaemonError {
  return new DaemonError(error.message, error.status, error.level, error.traces.map((hint) => ({ hint })))
}
