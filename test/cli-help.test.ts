/**
 * CLI polish: `--help`/`-h`/`help CMD` for every command, exit codes (2 usage, 3 configuration),
 * `--json` outputs — mostly in-process through `main(argv)`, plus one spawned end-to-end check.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runMain } from './helpers/run-main.ts'
import type { MainResult } from './helpers/run-main.ts'
import { COMMANDS, EXIT_CODES } from '../node/help.ts'

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
let work: string

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storeswarm-help-'))
  await mkdir(join(work, 'xdg-config'))
})
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

async function run (argv: string[], extraEnv: Record<string, string> = {}): Promise<MainResult> {
  return await runMain(argv, { XDG_CONFIG_HOME: join(work, 'xdg-config'), XDG_DATA_HOME: join(work, 'xdg-data'), ...extraEnv })
}

const ALL = ['hash', 'import', 'export', 'info', 'list', 'serve', 'keys', 'daemon', 'stdio', 'eris', 'fetch', 'peers', 'announce', 'p2p', 'gc', 'pin', 'unpin', 'pins', 'watch', 'status', 'verify', 'config']

describe('help', () => {
  it('covers every command', () => {
    expect(COMMANDS.map(c => c.name).sort()).toEqual([...ALL].sort())
    for (const c of COMMANDS) {
      expect(c.synopsis.length, c.name).toBeGreaterThan(0)
      expect(c.examples.length, c.name).toBeGreaterThanOrEqual(1)
      expect(c.examples.length, c.name).toBeLessThanOrEqual(3)
      for (const s of c.synopsis) expect(s.startsWith(`storeswarm ${c.name}`), s).toBe(true)
    }
  })

  for (const name of ALL) {
    it(`${name} --help, -h and help ${name} print its synopsis and exit 0`, async () => {
      const synopsis = COMMANDS.find(c => c.name === name)!.synopsis[0]
      for (const argv of [[name, '--help'], [name, '-h'], ['help', name]]) {
        const r = await run(argv)
        expect(r.code, argv.join(' ')).toBe(0)
        expect(r.stdout).toContain(synopsis)
        expect(r.stdout).toContain('Examples:')
        expect(r.stderr).toBe('')
      }
    })
  }

  it('--help wins over other arguments and is handled before the command runs', async () => {
    // would otherwise fail (no store path / a bad flag value)
    const r = await run(['export', '--help'])
    expect(r.code).toBe(0)
    expect((await run(['serve', '--http', 'bad', '--help'])).code).toBe(0)
    // after `--` it is an argument, not a request for help
    expect((await run(['hash', '--', '-h'])).code).toBe(1)
  })

  it('the top-level help lists every command and the exit codes', async () => {
    const r = await run(['--help'])
    expect(r.code).toBe(0)
    for (const name of ALL) expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'))
    for (const [code] of EXIT_CODES) expect(r.stdout).toMatch(new RegExp(`^  ${code} `, 'm'))
    expect((await run([])).stdout).toBe(r.stdout)
    expect((await run(['help'])).stdout).toBe(r.stdout)
  })

  it('serve --help lists every option of the config schema', async () => {
    const r = await run(['serve', '--help'])
    for (const flag of ['--config FILE', '--upstream URL', '--upstream-public-key', '--upstream-timeout', '--max-size SIZE', '--gc-interval', '--log-format', '--no-daemon', '--mdns', '--http HOST:PORT']) {
      expect(r.stdout).toContain(flag)
    }
  })
})

describe('exit codes', () => {
  it('2 for an unknown command, an unknown flag or a bad flag value', async () => {
    const unknown = await run(['frobnicate'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/)
    expect((await run(['help', 'frobnicate'])).code).toBe(2)
    expect((await run(['list', '--frob'])).code).toBe(2)
    const bad = await run(['config', 'show', '--max-size', 'huge'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--max-size: gc\.max-size = "huge": expected a size/)
  })

  it('3 for a configuration error in the file or the environment', async () => {
    const file = join(work, 'bad.toml')
    await writeFile(file, '[http]\nlisten = "nowhere"\n')
    const r = await run(['config', 'show', '--config', file])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`${file}:2: http.listen = "nowhere"`)
    expect((await run(['serve', '--config', file, '--data-dir', join(work, 'never')])).code).toBe(3)
    expect((await run(['list', '--config', join(work, 'missing.toml')])).code).toBe(3)
    const env = await run(['config', 'show'], { STORESWARM_LOG_FORMAT: 'yaml' })
    expect(env.code).toBe(3)
    expect(env.stderr).toMatch(/\$STORESWARM_LOG_FORMAT: log\.format = "yaml": expected text \| json/)
  })
})

describe('--json outputs', () => {
  it('config show --json, keys show --json and list --json print JSON', async () => {
    const dataDir = join(work, 'data')
    const show = await run(['config', 'show', '--json', '--data-dir', dataDir])
    expect(JSON.parse(show.stdout).values['data-dir']).toBe(dataDir)
    // keys show reads keys (creating none): run serve's key creation through a node first
    const { loadOrCreateKeys } = await import('../node/keys.ts')
    const keys = await loadOrCreateKeys(dataDir, { keyName: 'test-1' })
    const k = await run(['keys', 'show', '--json', '--data-dir', dataDir])
    expect(k.code, k.stderr).toBe(0)
    expect(JSON.parse(k.stdout)).toMatchObject({ nix: keys.nixPublic })
    const l = await run(['list', '--json', '--data-dir', dataDir])
    expect(l.code, l.stderr).toBe(0)
    expect(JSON.parse(l.stdout)).toEqual([])
  })

  it('config reference prints the schema, as Markdown with --markdown', async () => {
    const text = await run(['config', 'reference'])
    expect(text.stdout).toContain('gc.max-size')
    expect(text.stdout).toContain('STORESWARM_GC_MAX_SIZE')
    const md = await run(['config', 'reference', '--markdown'])
    expect(md.stdout).toContain('| `gc.max-size` | `STORESWARM_GC_MAX_SIZE` | `--max-size SIZE` |')
  })
})

describe('the installed command (spawned)', () => {
  it('exits 3 on a configuration error and 0 on --help', () => {
    const env = { ...process.env, XDG_CONFIG_HOME: join(work, 'xdg-config'), STORESWARM_P2P_MDSN: 'true' }
    const bad = spawnSync(process.execPath, [bin, 'config', 'show'], { env, encoding: 'utf8', timeout: 30_000 })
    expect(bad.status).toBe(3)
    expect(bad.stderr).toContain('$STORESWARM_P2P_MDSN')
    const help = spawnSync(process.execPath, [bin, 'gc', '--help'], { env: { ...process.env }, encoding: 'utf8', timeout: 30_000 })
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('storeswarm gc [--max-size SIZE] [--dry-run] [--json]')
  })
})

describe('progress', () => {
  it('redraws one line on a TTY; elsewhere prints a plain line now and then', async () => {
    const { progressLine } = await import('../node/progress.ts')
    let t = 0
    const plain: string[] = []
    const pipe = { isTTY: false, write: (s: string) => { plain.push(s); return true } } as unknown as NodeJS.WriteStream
    const p = progressLine(pipe, { now: () => t, plainAfterMs: 5000, plainEveryMs: 10_000 })
    p.update('a'); t = 4000; p.update('b')
    t = 6000; p.update('c'); t = 9000; p.update('d'); t = 16_000; p.update('e')
    p.done('finished')
    expect(plain).toEqual(['c\n', 'e\n', 'finished\n'])
    const drawn: string[] = []
    const tty = { isTTY: true, columns: 80, write: (s: string) => { drawn.push(s); return true } } as unknown as NodeJS.WriteStream
    t = 0
    const q = progressLine(tty, { now: () => t })
    t = 1000; q.update('x'); t = 1050; q.update('skipped'); t = 1200; q.update('y')
    q.done()
    expect(drawn).toEqual(['\r\x1b[Kx', '\r\x1b[Ky', '\r\x1b[K'])
  })
})
