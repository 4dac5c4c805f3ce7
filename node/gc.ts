/**
 * Garbage collection and pins on the command line (`gc`, `pin`, `unpin`, `pins`) and in the
 * running node (`startGc`, control commands of the same names). A command goes to the node
 * that owns the data directory over its control socket; with no node running it opens the
 * store itself. The collector is src/castore/gc.ts.
 */
import { parseArgs } from 'node:util'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore, createGarbageCollector, parseSize, splitStorePath } from '../src/castore/index.ts'
import type { Castore, GarbageCollector, GcResult, Pin } from '../src/castore/index.ts'
import { commandDataDir, resolveConfig } from './config.ts'
import { controlRequest } from './control.ts'
import type { ControlServer } from './control.ts'
import { formatBytes } from './progress.ts'

export class GcUsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

type OptionSpec = Record<string, { type: 'string' | 'boolean', multiple?: boolean }>

function parse (args: string[], options: OptionSpec, positionals: boolean): { values: Record<string, any>, positionals: string[] } {
  try {
    return parseArgs({ args, options: { 'data-dir': { type: 'string' }, config: { type: 'string' }, ...options }, allowPositionals: positionals, strict: true })
  } catch (err: any) {
    throw new GcUsageError(err.message)
  }
}

function storePathsOf (positionals: string[], command: string): string[] {
  if (positionals.length === 0) throw new GcUsageError(`${command} needs store paths`)
  for (const p of positionals) {
    try { splitStorePath(p) } catch { throw new GcUsageError(`not a store path: ${p}`) }
  }
  return positionals
}

/** Runs `fn` on the store of `dataDir` (no node running there). */
async function withStore<T> (dataDir: string, fn: (gc: GarbageCollector, castore: Castore) => Promise<T>): Promise<T> {
  await loadKernel()
  const castore = await openCastore({ dataDir })
  try {
    return await fn(createGarbageCollector({ castore }), castore)
  } finally {
    await castore.close()
  }
}

/* ------------------------------------------------------------------------ */
/* In the node                                                               */
/* ------------------------------------------------------------------------ */

export interface GcServiceOptions {
  maxSize?: number
  intervalMs?: number
  /** forget cached path infos of evicted paths (the facades' caches) */
  onEvicted?: (infos: Array<{ storePath: string, hashPart: string }>) => void
  log?: (line: string) => void
}

/** The node's collector: background passes when a limit is set, stats always. */
export function startGc (castore: Castore, options: GcServiceOptions = {}): GarbageCollector {
  const gc = createGarbageCollector({
    castore,
    maxSize: options.maxSize,
    intervalMs: options.intervalMs,
    log: options.log,
    onEvicted: (infos) => { options.onEvicted?.(infos) }
  })
  gc.start()
  return gc
}

interface GcArgs { maxSize?: number, dryRun?: boolean }

/** Control commands `gc`, `pin`, `unpin`, `pins` of the running node. */
export function registerGcControl (control: ControlServer, gc: GarbageCollector): void {
  control.handle('gc', async (args, { signal }) => {
    const a = (args[0] ?? {}) as GcArgs
    return await gc.run({ maxSize: typeof a.maxSize === 'number' ? a.maxSize : undefined, dryRun: a.dryRun === true, signal })
  })
  control.handle('pin', async (args, { signal }) => {
    const [paths, closure] = args as [string[], boolean | undefined]
    return await gc.pin(paths, { closure: closure === true, signal })
  })
  control.handle('unpin', async (args, { signal }) => await gc.unpin(args[0] as string[], { signal }))
  control.handle('pins', async (_args, { signal }) => await gc.pins.list({ signal }))
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */
/* ------------------------------------------------------------------------ */

/** `storeswarm gc [--max-size SIZE] [--dry-run] [--json]` */
export async function cmdGc (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { 'max-size': { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } }, false)
  void positionals
  let maxSize: number | undefined
  if (values['max-size'] !== undefined) {
    try { maxSize = parseSize(values['max-size']) } catch (err: any) { throw new GcUsageError(`--max-size: ${err.message}`) }
  }
  const dataDir = commandDataDir(values)
  const request: GcArgs = { ...(maxSize !== undefined ? { maxSize } : {}), dryRun: values['dry-run'] === true }
  let result = await controlRequest(dataDir, 'gc', [request]) as GcResult | undefined
  if (result === undefined) {
    // no node: the limit of the configuration (gc.max-size) unless one is given
    if (request.maxSize === undefined) {
      const configured = resolveConfig({ flags: { config: values.config } }).settings.get('gc.max-size')?.value
      if (typeof configured === 'number') request.maxSize = configured
    }
    result = await withStore(dataDir, async (gc) => await gc.run(request))
  }
  if (values.json === true) {
    process.stdout.write(JSON.stringify(result) + '\n')
    return 0
  }
  const verb = result.dryRun ? 'would evict' : 'evicted'
  for (const p of result.evicted) process.stdout.write(`${p}\n`)
  const limit = result.maxBytes !== undefined ? ` (limit ${formatBytes(result.maxBytes)})` : ' (no size limit: only unreferenced objects)'
  process.stderr.write(`${verb} ${result.evicted.length} paths, ${result.dryRun ? 'would free' : 'freed'} ${formatBytes(result.freedBytes)}${result.dryRun ? '' : ` (${result.objectsRemoved} objects)`}; store ${formatBytes(result.storeBytesBefore)} → ${formatBytes(result.storeBytes)}${limit}\n`)
  if (result.objectsKeptInUse > 0) process.stderr.write(`${result.objectsKeptInUse} objects in use were kept for the next run\n`)
  return 0
}

/** `storeswarm pin STORE-PATH... [--closure]` */
export async function cmdPin (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { closure: { type: 'boolean' } }, true)
  const paths = storePathsOf(positionals, 'pin')
  const dataDir = commandDataDir(values)
  const closure = values.closure === true
  let pinned = await controlRequest(dataDir, 'pin', [paths, closure]) as string[] | undefined
  if (pinned === undefined) pinned = await withStore(dataDir, async (gc) => await gc.pin(paths, { closure }))
  for (const p of pinned) process.stdout.write(`${p}\n`)
  process.stderr.write(`pinned ${pinned.length} path${pinned.length === 1 ? '' : 's'}\n`)
  return 0
}

/** `storeswarm unpin STORE-PATH...` */
export async function cmdUnpin (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {}, true)
  const paths = storePathsOf(positionals, 'unpin')
  const dataDir = commandDataDir(values)
  let removed = await controlRequest(dataDir, 'unpin', [paths]) as string[] | undefined
  if (removed === undefined) removed = await withStore(dataDir, async (gc) => await gc.unpin(paths))
  for (const p of removed) process.stdout.write(`${p}\n`)
  process.stderr.write(`unpinned ${removed.length} path${removed.length === 1 ? '' : 's'}\n`)
  return 0
}

/** `storeswarm pins [--json]` */
export async function cmdPins (args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' } }, false)
  const dataDir = commandDataDir(values)
  let pins = await controlRequest(dataDir, 'pins', []) as Pin[] | undefined
  if (pins === undefined) pins = await withStore(dataDir, async (gc) => await gc.pins.list())
  if (values.json === true) {
    process.stdout.write(JSON.stringify(pins) + '\n')
    return 0
  }
  for (const p of pins) {
    const why = p.reasons.map(r => r === 'self' ? 'pinned' : `closure of ${r}`).join(', ')
    process.stdout.write(`${p.storePath}  (${why})\n`)
  }
  return 0
}
