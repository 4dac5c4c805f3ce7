/**
 * ERIS blocks of store paths: keep them, or regenerate them from castore on demand?
 * Imports a generated NAR, computes its ERIS capability (32 KiB blocks), then measures
 *   - disk: bytes the index keeps (internal nodes + leaf locations) vs keeping every block;
 *   - CPU: time to regenerate every leaf from castore (NAR range → ChaCha20 → reference check)
 *     vs reading kept blocks back from a file, in the same run.
 * Usage: node bench/eris-paths.ts [--size 256M]
 */
import { mkdtemp, rm, writeFile, open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { openCastore } from '../src/castore/index.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { ErisPathIndex, encodeErisBytes, base32Decode } from '../src/eris/index.ts'
import { parseSize } from './helpers/common.ts'

const args = process.argv.slice(2)
const size = parseSize(args.includes('--size') ? args[args.indexOf('--size') + 1] : '', 256 * 1024 * 1024)
await loadKernel()
const work = await mkdtemp(join(tmpdir(), 'storeswarm-bench-eris-'))
try {
  const files: Uint8Array[] = []
  for (let made = 0; made < size;) { const n = Math.min(size - made, 4 * 1024 * 1024); files.push(randomBytes(n)); made += n }
  const root: NarSourceNode = {
    type: 'directory',
    entries: async function * () {
      for (const [i, f] of files.entries()) yield { name: Buffer.from(`f${String(i).padStart(5, '0')}`), node: { type: 'regular', executable: false, size: f.length, contents: async function * () { yield f } } }
    }
  }
  const store = await openCastore({ dataDir: join(work, 'data') })
  const { info } = await store.importNar(writeNar(root), { storePath: '/nix/store/' + 'f'.repeat(32) + '-eris-bench' })
  const index = new ErisPathIndex(store)
  let t = performance.now()
  const enc = await index.encodePath(info)
  const encodeMs = performance.now() - t
  // the reference set of blocks (to read back and to ask the index for)
  const nar: Uint8Array[] = []
  for await (const p of store.exportNar(info.storePath)) nar.push(p)
  const all = await encodeErisBytes(Buffer.concat(nar), { blockSize: 32768 })
  const kept = join(work, 'blocks')
  const fh = await open(kept, 'w')
  let keptBytes = 0
  const offsets = new Map<string, number>()
  for (const [ref, block] of all.blocks) { offsets.set(ref, keptBytes); await fh.write(block, 0, block.length, keptBytes); keptBytes += block.length }
  await fh.close()
  spawnSync('sync')
  const du = (p: string): number => Number(spawnSync('du', ['-sb', p]).stdout.toString().split('\t')[0])
  const dbBytes = du(join(work, 'data', 'db'))
  const refs = [...all.blocks.keys()]
  t = performance.now()
  for (const ref of refs) { const b = await index.getBlock(base32Decode(ref)); if (b === undefined) throw new Error(`missing ${ref}`) }
  const regenMs = performance.now() - t
  const rf = await open(kept, 'r')
  t = performance.now()
  const buf = Buffer.alloc(32768)
  for (const ref of refs) await rf.read(buf, 0, 32768, offsets.get(ref)!)
  const readMs = performance.now() - t
  await rf.close()
  await store.close()
  const mb = (n: number): string => (n / 1e6).toFixed(1) + ' MB'
  console.log(`NAR ${mb(info.narSize)}: ERIS encode ${(info.narSize / 1e6 / (encodeMs / 1000)).toFixed(0)} MB/s, ${enc.leaves} leaves + ${enc.nodes} internal nodes`)
  console.log(`disk: keeping every block ${mb(keptBytes)} (${(keptBytes / info.narSize).toFixed(4)} × NAR); regenerating: index db ${mb(dbBytes)} (${(dbBytes / info.narSize).toFixed(4)} × NAR)`)
  console.log(`CPU: regenerate all ${refs.length} blocks ${(regenMs / refs.length * 1000).toFixed(0)} µs/block (${(info.narSize / 1e6 / (regenMs / 1000)).toFixed(0)} MB/s) vs read kept blocks ${(readMs / refs.length * 1000).toFixed(0)} µs/block`)
  console.log(JSON.stringify({ bench: 'eris-paths', narBytes: info.narSize, encodeMBps: info.narSize / 1e6 / (encodeMs / 1000), keptBlockBytes: keptBytes, indexDbBytes: dbBytes, regenerateUsPerBlock: regenMs / refs.length * 1000, readKeptUsPerBlock: readMs / refs.length * 1000 }))
} finally {
  await rm(work, { recursive: true, force: true })
}
