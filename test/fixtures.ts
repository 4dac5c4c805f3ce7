/**
 * Where the shared golden fixtures live: `../shared/fixtures/` beside the checkout.
 * Tests read them in place; nothing is copied into the repository.
 */
import { fileURLToPath } from 'node:url'
import { isAbsolute, join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))
export const fixturesDir = process.env.STORESWARM_FIXTURES ?? findFixtures()

/**
 * `../shared/fixtures` beside the checkout; for a clone made elsewhere from a local checkout
 * (`git clone /path/to/checkout /tmp/x`), the one beside the checkout it was cloned from.
 */
function findFixtures (): string {
  const beside = join(repoRoot, '..', 'shared', 'fixtures')
  if (existsSync(beside)) return beside
  try {
    const origin = execFileSync('git', ['-C', repoRoot, 'remote', 'get-url', 'origin'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const local = origin.startsWith('file://') ? fileURLToPath(origin) : origin
    if (isAbsolute(local)) {
      const fromOrigin = join(local, '..', 'shared', 'fixtures')
      if (existsSync(fromOrigin)) return fromOrigin
    }
  } catch {}
  return beside
}

export function fixture (...parts: string[]): string {
  return join(fixturesDir, ...parts)
}

if (!existsSync(fixturesDir)) {
  throw new Error(`shared fixtures not found at ${fixturesDir} (set STORESWARM_FIXTURES)`)
}
