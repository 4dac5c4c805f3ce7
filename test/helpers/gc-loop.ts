/**
 * Child process of test/gc.test.ts (crash safety): imports paths and collects garbage in a loop
 * until killed. Usage: node test/helpers/gc-loop.ts DATA-DIR SEED PINNED-STORE-PATH
 * Paths share files (families), so evictions leave blobs that kept paths still use.
 */
import { createHash } from 'node:crypto'
import { loadKernel } from '../../src/blake3/index.ts'
import { openCastore, createGarbageCollector } from '../../src/castore/index.ts'
import { dirNarBytes, fakeStorePath } from './daemon-harness.ts'

const [dir, seedArg, pinned] = process.argv.slice(2)
let seed = Number(seedArg)
const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
const filler = (n: number, tag: string): string => createHash('sha256').update(tag).digest('hex').repeat(Math.ceil(n / 64)).slice(0, n)

await loadKernel()
const castore = await openCastore({ dataDir: dir, fsync: false })
const gc = createGarbageCollector({ castore })
for (let round = 0; ; round++) {
  for (let k = 0; k < 4; k++) {
    const name = `p-${seedArg}-${round}-${k}`
    const family = Math.floor(rand() * 3)
    const nar = await dirNarBytes({ own: filler(20_000 + Math.floor(rand() * 20_000), name), shared: filler(30_000, `family-${family}`), small: name })
    const storePath = fakeStorePath(name, name)
    const refs = rand() < 0.5 && round > 0 ? [pinned] : []
    await castore.importNar([nar], { storePath, references: refs, narHash: createHash('sha256').update(nar).digest(), narSize: nar.byteLength })
    castore.touch(storePath, Date.now() + Math.floor(rand() * 600_000))
  }
  await gc.run({ maxSize: 300_000 })
  process.stdout.write(`round ${round}\n`)
}
