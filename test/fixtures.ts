/**
 * Where the shared golden fixtures live: `../shared/fixtures/` beside the checkout.
 * Tests read them in place; nothing is copied into the repository.
 */
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { existsSync } from 'node:fs'

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))
export const fixturesDir = process.env.STORESWARM_FIXTURES ?? join(repoRoot, '..', 'shared', 'fixtures')

export function fixture (...parts: string[]): string {
  return join(fixturesDir, ...parts)
}

if (!existsSync(fixturesDir)) {
  throw new Error(`shared fixtures not found at ${fixturesDir} (set STORESWARM_FIXTURES)`)
}
