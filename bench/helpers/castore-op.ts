/**
 * Child process for bench/castore.ts: one import or export, timed inside the process, with the
 * peak resident set size. Prints a JSON line on stderr (stdout carries the NAR for export).
 * Usage: node castore-op.ts import DATA_DIR NAR_FILE STORE_PATH | export DATA_DIR STORE_PATH
 */
import { createReadStream } from 'node:fs'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import module from 'node:module'
module.enableCompileCache?.()
const { openCastore } = await import('../../src/castore/index.ts')
const { loadKernel } = await import('../../src/blake3/index.ts')

const [op, dataDir, a, b] = process.argv.slice(2)
await loadKernel()
const store = await openCastore({ dataDir, fsync: process.env.BENCH_FSYNC !== '0' })
const t0 = performance.now()
let bytes = 0
if (op === 'import') {
  const { info } = await store.importNar(createReadStream(a, { highWaterMark: 1024 * 1024 }), { storePath: b, sizeHint: (await import('node:fs')).statSync(a).size })
  bytes = info.narSize
} else {
  const out = process.stdout as unknown as Writable
  await pipeline(Readable.from((async function * () {
    for await (const piece of store.exportNar(a)) { bytes += piece.byteLength; yield piece }
  })()), out)
}
const ms = performance.now() - t0
await store.close()
process.stderr.write(JSON.stringify({ op, bytes, ms, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n')
