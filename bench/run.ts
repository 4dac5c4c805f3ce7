/**
 * `npm run bench`: runs every benchmark in turn, each against its anchor measured in the same
 * run, and prints their ratios. `npm run bench -- castore blake3` runs only those;
 * other arguments (e.g. `--size 256M`) are passed to each benchmark.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ALL = ['blake3', 'castore', 'eris', 'eris-paths', 'http', 'daemon', 'p2p', 'upstream']
const args = process.argv.slice(2)
const chosen = args.filter(a => ALL.includes(a))
const passThrough = args.filter(a => !ALL.includes(a))
let failed = 0
for (const name of chosen.length > 0 ? chosen : ALL) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url))
  if (!existsSync(file)) continue
  console.log(`\n=== bench/${name}.ts ${passThrough.join(' ')}`)
  const r = spawnSync(process.execPath, [file, ...passThrough], { stdio: 'inherit' })
  if (r.status !== 0) { failed++; console.log(`bench/${name}.ts exited with ${r.status}`) }
}
process.exitCode = failed > 0 ? 1 : 0
