/**
 * The configuration system (node/config.ts): precedence flag > env > file > default, errors that
 * name the key and its source, `config show`, the README reference, and a node started from a
 * config file.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest'
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  ConfigError, parseConfigText, resolveConfig, configToServeOptions, commandDataDir, resolveDataDir,
  configReferenceMarkdown, formatConfigToml, configToJSON, parseSize, parseDuration, SETTINGS, envName
} from '../node/config.ts'
import { createLogger } from '../node/log.ts'
import { runMain } from './helpers/run-main.ts'
import type { MainResult } from './helpers/run-main.ts'
import { startNode } from '../node/serve.ts'

const KEY = 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY='
let work: string
let emptyXdg: string

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storeswarm-config-'))
  emptyXdg = join(work, 'xdg-empty')
  await mkdir(emptyXdg)
})
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

/** an environment without the machine's own config file */
function env (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { XDG_CONFIG_HOME: emptyXdg, XDG_DATA_HOME: join(work, 'xdg-data'), XDG_RUNTIME_DIR: join(work, 'run'), ...extra }
}

function configError (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError')
}

async function run (argv: string[], extraEnv: Record<string, string> = {}): Promise<MainResult> {
  return await runMain(argv, env(extraEnv))
}

describe('values', () => {
  it('parses sizes and durations', () => {
    expect(parseSize('50G')).toBe(50 * 1024 ** 3)
    expect(parseSize('512M')).toBe(512 * 1024 ** 2)
    expect(parseSize('1.5T')).toBe(1.5 * 1024 ** 4)
    expect(parseSize('4096')).toBe(4096)
    expect(parseSize('4GiB')).toBe(4 * 1024 ** 3)
    expect(parseSize('lots')).toBeUndefined()
    expect(parseSize('-1G')).toBeUndefined()
    expect(parseDuration('3s')).toBe(3000)
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('10m')).toBe(600_000)
    expect(parseDuration('1h')).toBe(3_600_000)
    expect(parseDuration('10')).toBeUndefined()
    expect(parseDuration('3 fortnights')).toBeUndefined()
  })
})

describe('precedence: flag > environment > file > default', () => {
  const file = [
    'data-dir = "store"',
    '[http]',
    'listen = "127.0.0.1:4000"',
    'priority = 20',
    '[p2p]',
    'mdns = true',
    'bootstrap = ["/ip4/192.0.2.1/tcp/4001"]',
    '[gc]',
    'max-size = "50G"',
    'interval = "1h"'
  ].join('\n')

  it('takes each value from the strongest source and says which', () => {
    const cfg = resolveConfig({
      configPath: join(work, 'etc', 'config.toml'),
      fileText: file,
      env: env({ STORESWARM_HTTP_PRIORITY: '10', STORESWARM_GC_MAX_SIZE: '20G', STORESWARM_P2P_UPNP: 'yes' }),
      flags: { 'max-size': '5G', 'no-eris': true }
    })
    const v = (k: string): unknown => cfg.settings.get(k)!.value
    const src = (k: string): string => { const s = cfg.settings.get(k)!.source; return s.kind }
    expect(v('http.listen')).toBe('127.0.0.1:4000'); expect(src('http.listen')).toBe('file')
    expect(cfg.settings.get('http.listen')!.source).toMatchObject({ line: 3 })
    expect(v('http.priority')).toBe(10); expect(src('http.priority')).toBe('env')
    expect(v('gc.max-size')).toBe(5 * 1024 ** 3); expect(src('gc.max-size')).toBe('flag')
    expect(v('gc.interval')).toBe(3_600_000); expect(src('gc.interval')).toBe('file')
    expect(v('p2p.upnp')).toBe(true); expect(src('p2p.upnp')).toBe('env')
    expect(v('eris.enabled')).toBe(false); expect(src('eris.enabled')).toBe('flag')
    expect(v('http.compression')).toBe('none'); expect(src('http.compression')).toBe('default')
    // relative paths in the file are relative to the file
    expect(v('data-dir')).toBe(join(work, 'etc', 'store'))

    const opts = configToServeOptions(cfg)
    expect(opts).toMatchObject({ http: '127.0.0.1:4000', priority: 10, eris: false, gc: { maxSize: 5 * 1024 ** 3, intervalMs: 3_600_000 } })
    expect(opts.p2p).toMatchObject({ mdns: true, upnp: true, bootstrap: ['/ip4/192.0.2.1/tcp/4001'], disabled: false })
  })

  it('embedded defaults without any file: loopback, no mDNS/UPnP, no bootstrap, no upstream, no GC', () => {
    const cfg = resolveConfig({ env: env() })
    expect(cfg.file).toBeUndefined()
    const opts = configToServeOptions(cfg)
    expect(opts.http).toBe('127.0.0.1:37515')
    expect(opts.httpGuix).toBeUndefined()
    expect(opts.dataDir).toBe(join(work, 'xdg-data', 'storeswarm'))
    expect(opts.p2p).toMatchObject({ mdns: false, upnp: false, bootstrap: [] })
    expect(opts.upstreams).toEqual([])
    expect(opts.gc?.maxSize).toBeUndefined()
    expect(opts.logFormat).toBe('text')
    for (const s of SETTINGS) expect(cfg.settings.get(s.key)!.source.kind).toBe('default')
  })

  it('upstreams: file, then environment, then flags replace the list', () => {
    const text = `[[upstream]]\nurl = "https://cache.nixos.org"\npublic-keys = ["${KEY}"]\ntimeout = "5s"\n[[upstream]]\nurl = "https://bordeaux.guix.gnu.org"\nstore-dir = "/gnu/store"\n`
    const fromFile = resolveConfig({ configPath: join(work, 'u.toml'), fileText: text, env: env() })
    expect(configToServeOptions(fromFile).upstreams).toEqual([
      { url: 'https://cache.nixos.org', publicKeys: [KEY], timeoutMs: 5000, storeDir: '/nix/store' },
      { url: 'https://bordeaux.guix.gnu.org', publicKeys: [], timeoutMs: 3000, storeDir: '/gnu/store' }
    ])
    const fromEnv = resolveConfig({ configPath: join(work, 'u.toml'), fileText: text, env: env({ STORESWARM_UPSTREAM_URLS: 'http://a.example,http://b.example', STORESWARM_UPSTREAM_PUBLIC_KEYS: KEY }) })
    expect(configToServeOptions(fromEnv).upstreams!.map(u => [u.url, u.publicKeys])).toEqual([['http://a.example', [KEY]], ['http://b.example', [KEY]]])
    const fromFlags = resolveConfig({ configPath: join(work, 'u.toml'), fileText: text, env: env(), flags: { upstream: ['http://c.example/'], 'upstream-public-key': [KEY], 'upstream-timeout': '750ms' } })
    expect(configToServeOptions(fromFlags).upstreams).toEqual([{ url: 'http://c.example', publicKeys: [KEY], timeoutMs: 750, storeDir: '/nix/store' }])
    expect(configError(() => resolveConfig({ env: env(), flags: { 'upstream-public-key': [KEY] } })).message).toMatch(/--upstream-public-key goes with --upstream/)
  })

  it('commandDataDir: --data-dir > $STORESWARM_DATA_DIR > the file\'s data-dir > XDG', async () => {
    const dir = join(work, 'cdd')
    await mkdir(dir, { recursive: true })
    const file = join(dir, 'c.toml')
    await writeFile(file, 'data-dir = "/srv/from-file"\n')
    expect(commandDataDir({ 'data-dir': '/x/flag', config: file }, env({ STORESWARM_DATA_DIR: '/x/env' }))).toBe('/x/flag')
    expect(commandDataDir({ config: file }, env({ STORESWARM_DATA_DIR: '/x/env' }))).toBe('/x/env')
    expect(commandDataDir({ config: file }, env())).toBe('/srv/from-file')
    expect(commandDataDir({}, env())).toBe(join(work, 'xdg-data', 'storeswarm'))
    // the default file counts too
    await mkdir(join(dir, 'xdg', 'storeswarm'), { recursive: true })
    await writeFile(join(dir, 'xdg', 'storeswarm', 'config.toml'), 'data-dir = "/srv/default-file"\n')
    expect(commandDataDir({}, { ...env(), XDG_CONFIG_HOME: join(dir, 'xdg') })).toBe('/srv/default-file')
    expect(resolveDataDir(undefined, { STORESWARM_DATA_DIR: '/x/env' })).toBe('/x/env')
    // resolveDataDir (used by older commands) counts the default file and an explicit one too
    expect(resolveDataDir(undefined, { ...env(), XDG_CONFIG_HOME: join(dir, 'xdg') })).toBe('/srv/default-file')
    expect(resolveDataDir(undefined, env(), file)).toBe('/srv/from-file')
    expect(resolveDataDir('/x/flag', { ...env(), XDG_CONFIG_HOME: join(dir, 'xdg') })).toBe('/x/flag')
    expect(configError(() => commandDataDir({ config: join(dir, 'missing.toml') }, env())).message).toMatch(/missing\.toml: no such file/)
  })
})

describe('errors name the key, its source and what is expected', () => {
  it('unknown keys in the file', () => {
    const e1 = configError(() => parseConfigText('[http]\npriority = 3\nlisen = "x"\n', 'my.toml'))
    expect(e1.message).toMatch(/^my\.toml:3: unknown key "http\.lisen"/)
    expect(e1.message).toContain('listen')
    expect(configError(() => parseConfigText('\n[htpp]\nlisten = "x"\n', 'my.toml')).message).toMatch(/^my\.toml:2: unknown key "htpp"/)
    expect(configError(() => parseConfigText('[[upstream]]\nurl = "http://a"\nkey = "x"\n', 'my.toml')).message).toMatch(/^my\.toml:3: unknown key "upstream\.key"/)
    expect(configError(() => parseConfigText('[[upstream]]\npublic-keys = []\n', 'my.toml')).message).toMatch(/upstream\[0\] has no url/)
    expect(configError(() => parseConfigText('[http\nlisten = 1', 'my.toml')).message).toMatch(/^my\.toml:1:\d+: /)
  })

  it('unknown STORESWARM_* variables, but not the ones other code reads', () => {
    const e = configError(() => resolveConfig({ env: env({ STORESWARM_HTTP_LISTN: '1' }) }))
    expect(e.message).toMatch(/\$STORESWARM_HTTP_LISTN: unknown configuration variable \(did you mean \$STORESWARM_HTTP_LISTEN\?\)/)
    expect(e.origin).toBe('env')
    expect(configError(() => resolveConfig({ env: env({ STORESWARM_GC_MAXSIZE: '1G' }) })).message).toContain('STORESWARM_GC_MAXSIZE')
    expect(() => resolveConfig({ env: env({ STORESWARM_UPLOAD_TOKEN: 't', STORESWARM_DEBUG: '1', STORESWARM_SKIP_NATIVE: '1' }) })).not.toThrow()
  })

  const bad: Array<[string, string, RegExp]> = [
    ['size', '[gc]\nmax-size = "5 quintillion"', /^f\.toml:2: gc\.max-size = "5 quintillion": expected a size/],
    ['size (negative)', '[http]\nnar-cache-size = -1', /^f\.toml:2: http\.nar-cache-size = -1: expected a size/],
    ['duration', '[gc]\ninterval = "10"', /^f\.toml:2: gc\.interval = "10": expected a duration/],
    ['enum', '[http]\ncompression = "xz"', /^f\.toml:2: http\.compression = "xz": expected none \| zstd/],
    ['port', '[http]\nlisten = "127.0.0.1:70000"', /^f\.toml:2: http\.listen = "127\.0\.0\.1:70000": expected HOST:PORT/],
    ['multiaddr', '[p2p]\nbootstrap = ["/ip4/1.2.3/tcp/1"]', /^f\.toml:2: p2p\.bootstrap = "\/ip4\/1\.2\.3\/tcp\/1": .*expected a list of multiaddrs/],
    ['key', '[daemon]\ntrusted-public-keys = ["nokey"]', /^f\.toml:2: daemon\.trusted-public-keys = "nokey": .*NAME:BASE64KEY/],
    ['boolean', '[p2p]\nmdns = "yes"', /^f\.toml:2: p2p\.mdns = "yes": expected true or false/],
    ['integer', '[http]\npriority = 1.5', /^f\.toml:2: http\.priority = 1\.5: expected an integer/],
    ['url', '[[upstream]]\nurl = "gopher://x"', /^f\.toml:2: upstream\[0\]\.url = "gopher:\/\/x": expected an http/],
    ['table', 'http = 3', /^f\.toml:1: http must be a table/]
  ]
  for (const [what, text, re] of bad) {
    it(`bad ${what} in the file`, () => {
      const e = configError(() => parseConfigText(text, 'f.toml'))
      expect(e.message).toMatch(re)
      expect(e.origin).toBe('file')
    })
  }

  it('bad values from the environment and flags', () => {
    const e = configError(() => resolveConfig({ env: env({ STORESWARM_GC_INTERVAL: 'soon' }) }))
    expect(e.message).toMatch(/^\$STORESWARM_GC_INTERVAL: gc\.interval = "soon": expected a duration/)
    expect(configError(() => resolveConfig({ env: env({ STORESWARM_P2P_LISTEN: '/ip4/0.0.0.0/tcp/0,nonsense' }) })).message).toMatch(/^\$STORESWARM_P2P_LISTEN: p2p\.listen = "nonsense"/)
    const f = configError(() => resolveConfig({ env: env(), flags: { http: 'localhost:port' } }))
    expect(f.message).toMatch(/^--http: http\.listen = "localhost:port": expected HOST:PORT/)
    expect(f.origin).toBe('flag')
    expect(configError(() => resolveConfig({ env: env(), flags: { 'log-format': 'xml' } })).message).toMatch(/^--log-format: log\.format = "xml": expected text \| json/)
    expect(configError(() => resolveConfig({ env: env(), flags: { 'no-daemon': true, 'daemon-socket': '/x.sock' } })).message).toMatch(/exclude each other/)
  })

  it('a missing explicit file is an error; a missing default file is not', () => {
    const e = configError(() => resolveConfig({ env: env(), configPath: join(work, 'nope.toml') }))
    expect(e.message).toMatch(/nope\.toml: no such file/)
    expect(resolveConfig({ env: env() }).file).toBeUndefined()
  })

  it('never throws anything but ConfigError on arbitrary text (fuzz)', () => {
    const keys = SETTINGS.map(s => s.key.split('.').pop()!)
    const line = fc.oneof(
      fc.string(),
      fc.constantFrom('[http]', '[p2p]', '[gc]', '[[upstream]]', '[log]', '[daemon]'),
      fc.tuple(fc.constantFrom(...keys, 'url', 'public-keys'), fc.oneof(fc.string().map(s => JSON.stringify(s)), fc.integer().map(String), fc.constantFrom('true', '[]', '["a"]', '1979-05-27', '{}', '3.5'))).map(([k, v]) => `${k} = ${v}`)
    )
    fc.assert(fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
      try {
        parseConfigText(lines.join('\n'), 'fuzz.toml')
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        expect(err.message.startsWith('fuzz.toml')).toBe(true)
      }
    }), { numRuns: 300 })
  })
})

describe('config show', () => {
  it('prints the effective config with the source of each value', async () => {
    const file = join(work, 'show.toml')
    await writeFile(file, '[http]\nlisten = "127.0.0.1:4001"\n\n[gc]\nmax-size = "10G"\n')
    const r = await run(['config', 'show', '--config', file, '--priority', '12'], { STORESWARM_P2P_MDNS: 'true' })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`listen = "127.0.0.1:4001"  # ${file}:2`)
    expect(r.stdout).toContain(`max-size = "10G"  # ${file}:5`)
    expect(r.stdout).toContain('priority = 12  # --priority')
    expect(r.stdout).toContain('mdns = true  # $STORESWARM_P2P_MDNS')
    expect(r.stdout).toContain('compression = "none"  # default')
    const j = await run(['config', 'show', '--json', '--config', file], { STORESWARM_P2P_MDNS: 'true' })
    expect(j.code).toBe(0)
    const parsed = JSON.parse(j.stdout)
    expect(parsed.values.http.listen).toBe('127.0.0.1:4001')
    expect(parsed.values.gc['max-size']).toBe('10G')
    expect(parsed.sources['p2p.mdns']).toBe('$STORESWARM_P2P_MDNS')
    expect(parsed.sources['http.priority']).toBe('default')
  })

  it('the TOML it prints reads back as the same configuration', () => {
    const cfg = resolveConfig({ env: env({ STORESWARM_GC_MAX_SIZE: '3G', STORESWARM_HTTP_GUIX_LISTEN: '127.0.0.1:4002' }), flags: { upstream: ['https://cache.nixos.org'], 'upstream-public-key': [KEY] } })
    const again = resolveConfig({ env: env(), configPath: join(work, 'roundtrip.toml'), fileText: formatConfigToml(cfg) })
    expect(configToJSON(again)).toMatchObject({ values: (configToJSON(cfg) as any).values })
  })

  it('every key has a distinct environment variable', () => {
    const names = SETTINGS.map(s => envName(s.key))
    expect(new Set(names).size).toBe(names.length)
    expect(envName('gc.max-size')).toBe('STORESWARM_GC_MAX_SIZE')
  })
})

describe('README', () => {
  it('holds the generated configuration reference (run `npm run docs` after changing the schema)', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const m = /<!-- config-reference:start -->\n([\s\S]*?)<!-- config-reference:end -->/.exec(readme)
    expect(m, 'README.md has the config-reference markers').not.toBeNull()
    expect(m![1]).toBe(configReferenceMarkdown())
  })
})

describe('structured logs', () => {
  it('json: one object per line with time, level, msg and fields; text unchanged', () => {
    const lines: string[] = []
    const log = createLogger({ format: 'json', write: (l) => lines.push(l), now: () => new Date('2026-01-02T03:04:05Z') })
    log('storeswarm: Nix binary cache on http://127.0.0.1:1')
    log('storeswarm: ERIS of /nix/store/x failed: boom')
    log.event('info', 'request', { method: 'GET', status: 200, nested: { a: 1 } })
    expect(lines.map(l => JSON.parse(l))).toEqual([
      { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'Nix binary cache on http://127.0.0.1:1' },
      { time: '2026-01-02T03:04:05.000Z', level: 'error', msg: 'ERIS of /nix/store/x failed: boom' },
      { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'request', method: 'GET', status: 200, nested: { a: 1 } }
    ])
    const text: string[] = []
    const t = createLogger({ write: (l) => text.push(l) })
    t('storeswarm: as is')
    t.event('warn', 'slow peer', { peer: 'abc', ms: 12, why: 'two words' })
    expect(text).toEqual(['storeswarm: as is', 'storeswarm: slow peer peer=abc ms=12 why="two words"'])
  })
})

describe('a node started from a config file', () => {
  it('listens where the file says, with its settings, logging JSON', async () => {
    const dir = join(work, 'node')
    await mkdir(dir, { recursive: true })
    const file = join(dir, 'config.toml')
    await writeFile(file, [
      'data-dir = "data"',
      '[http]',
      'listen = "127.0.0.1:0"',
      'priority = 17',
      '[daemon]',
      'enabled = false',
      '[p2p]',
      'enabled = false',
      '[eris]',
      'enabled = false',
      '[log]',
      'format = "json"',
      'requests = true'
    ].join('\n'))
    const opts = configToServeOptions(resolveConfig({ configPath: file, env: env() }))
    const lines: string[] = []
    const node = await startNode({ ...opts, log: (l) => lines.push(l) })
    try {
      const url = node.nix.url!
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const info = await (await fetch(`${url}/nix-cache-info`, { signal: AbortSignal.timeout(10_000) })).text()
      expect(info).toContain('Priority: 17')
      expect(node.daemon).toBeUndefined()
      expect(node.p2p).toBeUndefined()
    } finally {
      await node.stop()
    }
    const events = lines.map(l => JSON.parse(l))
    for (const e of events) expect(Object.keys(e).slice(0, 3)).toEqual(['time', 'level', 'msg'])
    expect(events.some(e => /^trusted-public-keys = /.test(e.msg))).toBe(true)
    expect(events).toContainEqual(expect.objectContaining({ msg: 'request', method: 'GET', url: '/nix-cache-info', status: 200 }))
    // the store is where the file says (relative to the file)
    expect((await readdir(join(dir, 'data'))).length).toBeGreaterThan(0)
  })
})
