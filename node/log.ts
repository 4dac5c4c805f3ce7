/**
 * The node's log: text lines as before (`storeswarm: …`), or with `--log-format json` one JSON
 * object per line, `{ time, level, msg, …fields }`. A `Logger` is also a plain `(line) => void`,
 * so it can be handed to everything that takes a `log` callback; `event` adds structured fields.
 */
export type LogFormat = 'text' | 'json'
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface Logger {
  /** a text line, as the modules write them (`storeswarm: …`) */
  (line: string): void
  /** an event with fields: `msg key=value …` in text, the fields as members in JSON */
  event: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void
  readonly format: LogFormat
}

export interface LoggerOptions {
  format?: LogFormat
  /** where finished lines go (default: stderr) */
  write?: (line: string) => void
  /** clock, for tests */
  now?: () => Date
}

const PREFIX = /^storeswarm(?: [a-z0-9-]+)?: /

/** The level of a free-form line, from its wording. */
export function levelOf (line: string): LogLevel {
  const body = line.replace(PREFIX, '')
  if (/^(error|fatal)\b|\bfailed\b|\berror:/i.test(body)) return 'error'
  if (/^(warning|warn)\b|^no daemon socket\b/i.test(body)) return 'warn'
  return 'info'
}

function textValue (v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  if (v instanceof Error) return JSON.stringify(v.message)
  return JSON.stringify(v) ?? String(v)
}

function jsonSafe (fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue
    out[k] = v instanceof Error ? { name: v.name, message: v.message } : typeof v === 'bigint' ? v.toString() : v
  }
  return out
}

export function createLogger (options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'text'
  const write = options.write ?? ((line: string) => { process.stderr.write(line + '\n') })
  const now = options.now ?? (() => new Date())
  const json = (level: LogLevel, msg: string, fields: Record<string, unknown>): void => {
    // time, level and msg first and never overwritten by a field of the same name
    const { time: _t, level: _l, msg: _m, ...rest } = jsonSafe(fields)
    write(JSON.stringify({ time: now().toISOString(), level, msg, ...rest }))
  }
  const logger = ((line: string): void => {
    if (format === 'text') { write(line); return }
    // multi-line text (stacks) stays one JSON object
    json(levelOf(line), line.replace(PREFIX, ''), {})
  }) as Logger
  logger.event = (level, msg, fields = {}) => {
    if (format === 'json') { json(level, msg, fields); return }
    const rest = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${textValue(v)}`).join(' ')
    write(`storeswarm: ${msg}${rest !== '' ? ' ' + rest : ''}`)
  }
  Object.defineProperty(logger, 'format', { value: format })
  return logger
}
