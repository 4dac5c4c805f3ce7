/**
 * Runs the CLI's `main(argv)` in-process with a given environment, capturing stdout and stderr:
 * the CLI and config tests' way to check commands without spawning a process each time.
 */
import { vi } from 'vitest'
import { main } from '../../node/cli.ts'

export interface MainResult { code: number, stdout: string, stderr: string }

/**
 * `env` replaces the `STORESWARM_*` variables (`clear: 'storeswarm'`, the default) or the whole
 * environment (`clear: 'all'`) for the duration of the call; everything is restored afterwards.
 */
export async function runMain (argv: string[], env: NodeJS.ProcessEnv, clear: 'storeswarm' | 'all' = 'storeswarm'): Promise<MainResult> {
  const out: string[] = []
  const err: string[] = []
  const saved = { ...process.env }
  for (const k of Object.keys(process.env)) if (clear === 'all' || k.startsWith('STORESWARM_')) delete process.env[k]
  Object.assign(process.env, env)
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: any) => { out.push(String(chunk)); return true })
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: any) => { err.push(String(chunk)); return true })
  try {
    const code = await main(argv)
    return { code, stdout: out.join(''), stderr: err.join('') }
  } finally {
    o.mockRestore()
    e.mockRestore()
    for (const k of Object.keys(process.env)) delete process.env[k]
    Object.assign(process.env, saved)
  }
}
