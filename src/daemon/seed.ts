/**
 * Seeding the node from a running daemon (issue 4, `storeswarm import --from-daemon`):
 * ask the daemon for path infos (and closures), pull each missing NAR with
 * NarFromPath and stream it straight into the castore, which verifies NarHash and
 * NarSize before the path becomes valid. Signatures, deriver and content address
 * are kept as the daemon reports them.
 */
import type { Castore } from '../castore/index.ts'
import type { DaemonClient, DaemonPathInfo } from './client.ts'
import { importOptionsFromWire } from './upload.ts'
import type { AbortOptions } from '../abort.ts'

export interface ImportProgress {
  /** Paths selected (closure or all). */
  paths: number
  /** Paths the node already held. */
  skipped: number
  /** Paths imported so far. */
  imported: number
  /** NAR bytes to transfer in total / so far. */
  bytes: number
  bytesDone: number
  /** Path being transferred. */
  current?: string
}

export interface ImportFromDaemonOptions extends AbortOptions {
  /** Import the closures of the given paths (default: just the paths). */
  closure?: boolean
  /** Import every valid path of the daemon (the paths argument is ignored). */
  all?: boolean
  /** Called after every path and about every MiB. */
  onProgress?: (progress: ImportProgress) => void
}

export interface ImportFromDaemonResult {
  imported: string[]
  skipped: string[]
}

/** Copies paths from a daemon into the castore, dependencies first. */
export async function importFromDaemon (
  client: DaemonClient, castore: Castore, paths: readonly string[], options: ImportFromDaemonOptions = {}
): Promise<ImportFromDaemonResult> {
  let infos: DaemonPathInfo[]
  if (options.all === true) {
    infos = await client.queryAll(options)
  } else if (options.closure === true) {
    infos = await client.queryClosure(paths, options)
  } else {
    infos = []
    for (const p of paths) {
      const info = await client.queryPathInfo(p, options)
      if (info == null) throw new Error(`path '${p}' is not valid in the daemon's store`)
      infos.push(info)
    }
  }
  const missing: DaemonPathInfo[] = []
  const skipped: string[] = []
  for (const info of infos) {
    if (await castore.getPathInfo(info.path, options) !== undefined) skipped.push(info.path)
    else missing.push(info)
  }
  const progress: ImportProgress = {
    paths: infos.length,
    skipped: skipped.length,
    imported: 0,
    bytes: missing.reduce((n, i) => n + i.narSize, 0),
    bytesDone: 0
  }
  options.onProgress?.({ ...progress })
  const imported: string[] = []
  for (const info of missing) {
    options.signal?.throwIfAborted()
    progress.current = info.path
    let lastReport = progress.bytesDone
    const counted = async function * (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      for await (const piece of source) {
        progress.bytesDone += piece.byteLength
        if (progress.bytesDone - lastReport >= 1 << 20) {
          lastReport = progress.bytesDone
          options.onProgress?.({ ...progress })
        }
        yield piece
      }
    }
    await castore.importNar(counted(client.narFromPath(info.path, { narSize: info.narSize, signal: options.signal })), {
      ...importOptionsFromWire(info),
      signal: options.signal
    })
    imported.push(info.path)
    progress.imported++
    options.onProgress?.({ ...progress })
  }
  return { imported, skipped }
}
