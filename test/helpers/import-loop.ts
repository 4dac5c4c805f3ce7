/**
 * Child process for the crash test: imports generated NARs into a data directory forever,
 * printing each store path once its import has returned (i.e. it is committed).
 * Usage: node import-loop.ts DATA_DIR SEED
 */
import { openCastore } from '../../src/castore/index.ts'
import { loadKernel } from '../../src/blake3/index.ts'
import { writeNar } from '../../src/nar/index.ts'
import type { NarSourceNode } from '../../src/nar/index.ts'

const [dataDir, seedText] = process.argv.slice(2)
let seed = Number(seedText) >>> 0
const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32 }
const bytes = (n: number): Uint8Array => { const b = new Uint8Array(n); for (let i = 0; i < n; i += 4) { const v = (rand() * 2 ** 32) >>> 0; b[i] = v; b[i + 1] = v >> 8; b[i + 2] = v >> 16; b[i + 3] = v >> 24 } return b }

function tree (depth: number): NarSourceNode {
  const n = 2 + Math.floor(rand() * 5)
  const names = Array.from({ length: n }, (_, i) => `e${i}`)
  const kids = names.map((name): { name: Uint8Array, node: NarSourceNode } => {
    const r = rand()
    if (r < 0.2 && depth < 3) return { name: Buffer.from(name), node: tree(depth + 1) }
    if (r < 0.3) return { name: Buffer.from(name), node: { type: 'symlink', target: Buffer.from('../' + name) } }
    const data = bytes(Math.floor(rand() < 0.2 ? rand() * 3_000_000 : rand() * 40_000))
    return { name: Buffer.from(name), node: { type: 'regular', executable: rand() < 0.3, size: data.length, contents: async function * () { yield data } } }
  })
  return { type: 'directory', entries: async function * () { yield * kids } }
}

await loadKernel()
const store = await openCastore({ dataDir })
const alphabet = '0123456789abcdfghijklmnpqrsvwxyz'
for (let i = 0; ; i++) {
  let h = ''
  for (let k = 0; k < 32; k++) h += alphabet[Math.floor(rand() * 32)]
  const storePath = `/nix/store/${h}-crash-${i}`
  await store.importNar(writeNar(tree(0)), { storePath })
  process.stdout.write(storePath + '\n')
}
