/**
 * Real external tools for interop tests (b3sum, nix-store). When CI=true a missing tool is a
 * failure, never a silent skip: `.ci/run` installs them.
 */
import { spawnSync } from 'node:child_process'

export function hasTool (name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0
}

/** Throws when CI=true and the tool is missing; otherwise tells whether it is there. */
export function requireTool (name: string, apt: string): boolean {
  const present = hasTool(name)
  if (!present && process.env.CI === 'true') {
    throw new Error(`${name} is required for this test under CI (apt-get install -y ${apt})`)
  }
  return present
}
