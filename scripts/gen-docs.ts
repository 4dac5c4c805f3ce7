/**
 * `npm run docs`: regenerates the generated parts of README.md — the configuration reference
 * between `<!-- config-reference:start -->` and `<!-- config-reference:end -->`, from the schema
 * in node/config.ts. Writes atomically (temp file, fsync, rename); `--check` only reports.
 */
import { open, readFile, rename } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { configReferenceMarkdown } from '../node/config.ts'

export const START = '<!-- config-reference:start -->'
export const END = '<!-- config-reference:end -->'

/** README text with the block between the markers replaced by `generated`. */
export function replaceBlock (readme: string, generated: string): string {
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} … ${END} block`)
  return readme.slice(0, start + START.length) + '\n' + generated + readme.slice(end)
}

const readmePath = fileURLToPath(new URL('../README.md', import.meta.url))
const before = await readFile(readmePath, 'utf8')
const after = replaceBlock(before, configReferenceMarkdown())
if (process.argv.includes('--check')) {
  if (after !== before) {
    process.stderr.write('README.md: the configuration reference is stale; run `npm run docs`\n')
    process.exitCode = 1
  }
} else if (after !== before) {
  const tmp = `${readmePath}.${process.pid}.tmp`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(after)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, readmePath)
  process.stdout.write('README.md: configuration reference updated\n')
} else {
  process.stdout.write('README.md: configuration reference up to date\n')
}
