/**
 * `storeswarm watch --from-daemon [SOCKET] [--interval SECONDS] [--once] [--closure]`: follows a
 * Nix store. Every interval it asks the daemon for its valid paths (QueryAllValidPaths: the
 * protocol has no cheaper "what changed" operation), and imports the paths it has not seen yet
 * — at most `PATHS_PER_ROUND` per round (when a round is full the next starts at once) — with
 * their signatures, deriver and CA (src/daemon/seed.ts), and their closures with `--closure`.
 * When the daemon goes away (restart), it reconnects with backoff (1 s doubling to 60 s).
 *
 * The store lock: one process owns a data directory. When a node runs on it, the paths to import
 * are sent to the node over its control socket (`watch-import`), and the node pulls them from
 * the daemon itself — watch never opens the store then. With no node running, watch opens the
 * store for each round and closes it after, so a node can start between rounds.
 *
 * Memory: the set of daemon paths already seen (one string per valid path of the daemon's store,
 * ≈ 150 B each).
 */
import { parseArgs } from 'node:util'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { DaemonClient, importFromDaemon } from '../src/daemon/index.ts'
import { commandDataDir } from './config.ts'
import { controlRequest } from './control.ts'
import type { ControlServer } from './control.ts'
import { resolveNixDaemonSocket } from './daemon.ts'

export const PATHS_PER_ROUND = 256
const PATHS_PER_REQUEST = 64
const DEFAULT_INTERVAL_S = 10
const BACKOFF_MIN_MS = 1000
const BACKOFF_MAX_MS = 60_000

export class WatchUsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

export interface ImportBatchResult {
  imported: string[]
  skipped: string[]
  /** paths that could not be imported (gone from the daemon, bad NAR), with the reason */
  failed: Array<{ path: string, error: string }>
}

/** Errors that concern one path (not the connection): the path is given up, the round goes on. */
function pathError (err: any): boolean {
  return ['DaemonOpError', 'DaemonError', 'NarHashMismatchError', 'CastoreValidationError', 'UnsupportedOperationError'].includes(err?.name)
}

/** Imports paths one by one (each with its closure when asked) from a connected daemon. */
export async function importBatch (client: DaemonClient, castore: Castore, paths: readonly string[], options: { closure?: boolean, signal?: AbortSignal } = {}): Promise<ImportBatchResult> {
  const out: ImportBatchResult = { imported: [], skipped: [], failed: [] }
  for (const p of paths) {
    options.signal?.throwIfAborted()
    try {
      const r = await importFromDaemon(client, castore, [p], { closure: options.closure, signal: options.signal })
      out.imported.push(...r.imported)
      if (r.imported.length === 0) out.skipped.push(p)
    } catch (err: any) {
      if (!pathError(err)) throw err
      out.failed.push({ path: p, error: err.message })
    }
  }
  return out
}

/** The running node's side: `watch-import` pulls paths from the daemon at `socket` into its store. */
export function registerWatchControl (control: ControlServer, castore: Castore): void {
  control.handle('watch-import', async (args, { signal }) => {
    const a = (args[0] ?? {}) as { socket?: string, paths?: string[], closure?: boolean }
    if (typeof a.socket !== 'string' || !Array.isArray(a.paths)) throw new WatchUsageError('watch-import needs { socket, paths }')
    const client = await DaemonClient.connect({ socketPath: a.socket, signal })
    try {
      return await importBatch(client, castore, a.paths.map(String), { closure: a.closure === true, signal })
    } finally {
      await client.close().catch(() => {})
    }
  })
}

export interface WatchOptions {
  dataDir: string
  socketPath: string
  intervalMs?: number
  once?: boolean
  closure?: boolean
  signal?: AbortSignal
  /** a path was imported (stdout of the command) */
  onImported?: (path: string) => void
  log?: (line: string) => void
}

export interface WatchRound {
  seen: number
  imported: string[]
  failed: number
  /** paths still waiting for a later round */
  remaining: number
  viaNode: boolean
}

function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted === true) { resolve(); return }
    const t = setTimeout(done, ms)
    function done (): void { signal?.removeEventListener('abort', done); clearTimeout(t); resolve() }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** Follows the daemon until `signal` aborts (or one round with `once`); returns the rounds' total. */
export async function watchDaemon (options: WatchOptions): Promise<{ rounds: number, imported: number }> {
  const log = options.log ?? (() => {})
  const seen = new Set<string>()
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_S * 1000
  let client: DaemonClient | undefined
  let backoff = BACKOFF_MIN_MS
  let rounds = 0
  let total = 0
  const signal = options.signal
  const aborted = (): boolean => signal?.aborted === true
  try {
    while (!aborted()) {
      let round: WatchRound
      try {
        client ??= await DaemonClient.connect({ socketPath: options.socketPath, signal, connectTimeoutMs: 10_000, ioTimeoutMs: 60_000 })
        round = await watchRound(client, seen, options)
        backoff = BACKOFF_MIN_MS
      } catch (err: any) {
        await client?.close().catch(() => {})
        client = undefined
        if (aborted()) break
        if (options.once === true) throw err
        log(`storeswarm watch: ${err?.message ?? String(err)}; retrying in ${Math.round(backoff / 1000)} s`)
        await sleep(backoff, signal)
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2)
        continue
      }
      rounds++
      total += round.imported.length
      if (round.imported.length > 0 || round.failed > 0) {
        log(`storeswarm watch: imported ${round.imported.length} paths${round.failed > 0 ? `, ${round.failed} failed` : ''}${round.viaNode ? ' (through the running node)' : ''}; ${round.remaining} waiting`)
      }
      if (options.once === true) break
      // a full round: go on at once; caught up: wait
      if (round.remaining === 0) await sleep(intervalMs, signal)
    }
  } finally {
    await client?.close().catch(() => {})
  }
  return { rounds, imported: total }
}

async function watchRound (client: DaemonClient, seen: Set<string>, options: WatchOptions): Promise<WatchRound> {
  const signal = options.signal
  const valid = await client.queryAllValidPaths({ signal })
  const fresh = valid.filter(p => !seen.has(p)).sort()
  const batch = fresh.slice(0, PATHS_PER_ROUND)
  const round: WatchRound = { seen: valid.length, imported: [], failed: 0, remaining: fresh.length - batch.length, viaNode: false }
  if (batch.length === 0) return round
  const record = (r: ImportBatchResult): void => {
    for (const p of r.imported) { round.imported.push(p); options.onImported?.(p) }
    round.failed += r.failed.length
    for (const f of r.failed) options.log?.(`storeswarm watch: ${f.path}: ${f.error}`)
  }
  // a node owns the store: it imports (the first request tells whether one runs)
  for (let i = 0; i < batch.length; i += PATHS_PER_REQUEST) {
    const chunk = batch.slice(i, i + PATHS_PER_REQUEST)
    const r = await controlRequest(options.dataDir, 'watch-import', [{ socket: options.socketPath, paths: chunk, closure: options.closure === true }], { signal }) as ImportBatchResult | undefined
    if (r === undefined) {
      if (i > 0) throw new Error('the node stopped during the round')
      break
    }
    round.viaNode = true
    record(r)
    for (const p of chunk) seen.add(p)
  }
  if (round.viaNode) return round
  await loadKernel()
  const castore = await openCastore({ dataDir: options.dataDir })
  try {
    const r = await importBatch(client, castore, batch, { closure: options.closure, signal })
    record(r)
    for (const p of batch) seen.add(p)
  } finally {
    await castore.close()
  }
  return round
}

/** `storeswarm watch --from-daemon [SOCKET] [--interval SECONDS] [--once] [--closure]` */
export async function cmdWatch (args: string[]): Promise<number> {
  let values: Record<string, any>
  let positionals: string[]
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        'from-daemon': { type: 'boolean' },
        interval: { type: 'string' },
        once: { type: 'boolean' },
        closure: { type: 'boolean' },
        'data-dir': { type: 'string' },
        config: { type: 'string' }
      },
      allowPositionals: true,
      strict: true
    }))
  } catch (err: any) {
    throw new WatchUsageError(err.message)
  }
  if (values['from-daemon'] !== true) throw new WatchUsageError('watch needs --from-daemon [SOCKET] (the only source it follows)')
  if (positionals.length > 1) throw new WatchUsageError('watch takes at most one SOCKET')
  let intervalMs = DEFAULT_INTERVAL_S * 1000
  if (values.interval !== undefined) {
    const n = Number(values.interval)
    if (!Number.isFinite(n) || n <= 0) throw new WatchUsageError(`--interval must be a positive number of seconds, not ${JSON.stringify(values.interval)}`)
    intervalMs = Math.round(n * 1000)
  }
  const socketPath = resolveNixDaemonSocket(positionals[0])
  const dataDir = commandDataDir(values)
  const controller = new AbortController()
  const stop = (): void => { controller.abort(new Error('interrupted')) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const r = await watchDaemon({
      dataDir,
      socketPath,
      intervalMs,
      once: values.once === true,
      closure: values.closure === true,
      signal: controller.signal,
      onImported: (p) => { process.stdout.write(`${p}\n`) },
      log: (line) => { process.stderr.write(line + '\n') }
    })
    if (values.once === true) process.stderr.write(`storeswarm watch: ${r.imported} paths imported from ${socketPath}\n`)
    return 0
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
