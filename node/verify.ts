/**
 * `storeswarm verify [--repair] [--json] [--check-nar-hash]`: fsck of the node's store
 * (`verifyCastore`). Goes through the running node's control socket when one owns the data
 * directory; otherwise opens the store itself. Exit 0 when sound (or every damage repaired),
 * 1 when damage remains.
 */
import { parseArgs } from 'node:util'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { verifyCastore, verifyFoundDamage } from '../src/castore/verify.ts'
import type { VerifyReport, VerifyProblem } from '../src/castore/verify.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { commandDataDir } from './config.ts'
import { controlRequest } from './control.ts'
import type { ControlServer } from './control.ts'
import { formatBytes } from './progress.ts'

/** leftovers younger than this are left alone while a node runs (it may be writing them) */
export const ONLINE_MIN_AGE_MS = 10 * 60_000

class VerifyUsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

interface VerifyArgs { repair: boolean, narHashes: boolean }

function parseVerifyArgs (raw: unknown): VerifyArgs {
  const a = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
  return { repair: a.repair === true, narHashes: a.narHashes === true }
}

/** Registers `verify` on the running node's control socket (one run at a time). */
export function registerVerify (control: ControlServer, castore: Castore, dataDir: string): void {
  let running = false
  control.handle('verify', async (args, ctx) => {
    if (running) throw new Error('a verify is already running on this node')
    running = true
    try {
      const { repair, narHashes } = parseVerifyArgs(args[0])
      let last = 0
      return await verifyCastore(castore, {
        repair,
        narHashes,
        dataDir,
        minAgeMs: ONLINE_MIN_AGE_MS,
        signal: ctx.signal,
        onProgress: (bytes) => { if (bytes - last >= 64 * 1024 * 1024) { last = bytes; ctx.progress(bytes) } }
      })
    } finally {
      running = false
    }
  })
}

export async function cmdVerify (args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  try {
    ({ values } = parseArgs({
      args,
      options: {
        repair: { type: 'boolean' },
        json: { type: 'boolean' },
        'check-nar-hash': { type: 'boolean' },
        'data-dir': { type: 'string' },
        config: { type: 'string' }
      },
      allowPositionals: false,
      strict: true
    }))
  } catch (err: any) {
    throw new VerifyUsageError(err.message)
  }
  // --data-dir > $STORESWARM_DATA_DIR > the config file's data-dir (--config FILE) > XDG default
  const dataDir = commandDataDir(values)
  const request: VerifyArgs = { repair: values.repair === true, narHashes: values['check-nar-hash'] === true }
  const tty = process.stderr.isTTY && values.json !== true
  const onProgress = tty ? (bytes: number) => { process.stderr.write(`\rverify: ${formatBytes(bytes)} hashed`) } : undefined
  let report = await controlRequest(dataDir, 'verify', [request], { onProgress }) as VerifyReport | undefined
  let where = 'running node'
  if (report === undefined) {
    where = 'store'
    // opening the store empties tmp/: count what an interrupted process left there first
    const temps = await readdir(join(dataDir, 'tmp')).catch(() => [] as string[])
    await loadKernel()
    const castore = await openCastore({ dataDir })
    try {
      report = await verifyCastore(castore, { ...request, dataDir, onProgress })
    } finally {
      await castore.close()
    }
    for (const name of temps) {
      report.leftovers.unshift({ kind: 'temp-file', object: `tmp/${name}`, problem: 'temp file of an interrupted write (removed on open)', repaired: true })
    }
  }
  if (tty) process.stderr.write('\n')
  const damaged = verifyFoundDamage(report)
  if (values.json === true) {
    process.stdout.write(JSON.stringify({ ...report, damaged }) + '\n')
  } else {
    process.stdout.write(formatReport(report, where))
  }
  return damaged ? 1 : 0
}

function line (p: VerifyProblem): string {
  const what = p.storePath ?? p.object ?? 'store'
  return `  ${p.repaired === true ? 'repaired' : p.kind}: ${what}: ${p.problem}\n`
}

export function formatReport (report: VerifyReport, where: string): string {
  let out = `verified ${report.paths} paths, ${report.directoriesChecked} directories, ${report.blobsChecked} blobs (${formatBytes(report.bytesHashed)} hashed) via the ${where}\n`
  if (report.problems.length > 0) {
    out += `damage (${report.problems.length}):\n`
    for (const p of report.problems) out += line(p)
  }
  if (report.leftovers.length > 0) {
    out += `leftovers of interrupted writes (${report.leftovers.length}, not damage):\n`
    for (const p of report.leftovers) out += line(p)
  }
  for (const path of report.lostPaths) out += `lost: ${path} (its data was damaged; fetch or import it again)\n`
  const open = report.problems.filter(p => p.repaired !== true).length
  if (open > 0) out += `${open} problem(s) found${report.repair ? ' and not repaired' : '; run storeswarm verify --repair'}\n`
  else if (report.problems.length > 0) out += 'all damage repaired\n'
  else out += 'store is sound\n'
  return out
}
