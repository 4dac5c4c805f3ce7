/**
 * `npm run fuzz` itself: the watchdog kills a worker stuck in a synchronous loop or on a promise
 * that never settles and saves that input as a hang, a crash is saved (minimised) with its
 * description, the run continues after each, and the exit status reports them. Uses the
 * deliberately broken `selftest` target (only registered with STORESWARM_FUZZ_SELFTEST=1) and
 * only its seeds, so the outcome is exact.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot } from './fixtures.ts'

const run = promisify(execFile)
const SCRIPT = join(repoRoot, 'scripts', 'fuzz.ts')
const dir = mkdtempSync(join(tmpdir(), 'storeswarm-fuzz-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

async function fuzz (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [SCRIPT, ...args], { env: { ...process.env, STORESWARM_FUZZ_SELFTEST: '1' }, timeout: 120_000 })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

describe('scripts/fuzz.ts', () => {
  it('--list names every target with its expected rejections', async () => {
    const { code, stdout } = await fuzz(['--list'])
    expect(code).toBe(0)
    for (const t of ['nar', 'narinfo', 'guix-narinfo', 'daemon-server', 'daemon-client', 'daemon-session', 'p2p-streams', 'castore-directory', 'http-range', 'selftest']) {
      expect(stdout).toMatch(new RegExp(`^${t} `, 'm'))
    }
    expect(stdout).toMatch(/rejects with: NarParseError/)
  })

  it('saves a crash and both kinds of hang, restarts the worker after each, and exits 1', async () => {
    const out = join(dir, 'regressions')
    const json = join(dir, 'figures.json')
    const { code, stderr } = await fuzz(['selftest', '--inputs', '4', '--timeout-ms', '1000', '--out', out, '--json', json])
    expect(code, stderr).toBe(1)
    const figures = JSON.parse(readFileSync(json, 'utf8')).results[0]
    expect(figures).toMatchObject({ target: 'selftest', inputs: 4, crashes: 1, hangs: 2 })
    const files = readdirSync(join(out, 'selftest')).sort()
    const bins = (prefix: string): number[][] => files.filter(f => f.startsWith(prefix) && f.endsWith('.bin'))
      .map(f => [...readFileSync(join(out, 'selftest', f))]).sort((a, b) => a[0] - b[0])
    expect(bins('crash-')).toEqual([[3, 0xee]])
    expect(bins('hang-')).toEqual([[1, 0xee], [2, 0xee, 0]])
    const crashText = readFileSync(join(out, 'selftest', files.find(f => f.startsWith('crash-') && f.endsWith('.txt')) as string), 'utf8')
    expect(crashText).toMatch(/^TypeError: boom/)
  })

  it('a clean run exits 0 and reports its figures', async () => {
    const json = join(dir, 'clean.json')
    const { code, stdout } = await fuzz(['http-range', '--inputs', '2000', '--seed', '3', '--out', join(dir, 'none'), '--json', json])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^http-range +2000 inputs/m)
    expect(JSON.parse(readFileSync(json, 'utf8')).results[0]).toMatchObject({ target: 'http-range', inputs: 2000, crashes: 0, hangs: 0 })
  })
})
