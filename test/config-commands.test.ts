/**
 * The configuration of the daemon, ERIS and p2p commands (node/daemon.ts, node/eris.ts,
 * node/p2p.ts): `--config FILE` is accepted, the data directory follows `commandDataDir`
 * (flag > $STORESWARM_DATA_DIR > the file's data-dir > default), and the settings of the schema
 * (daemon socket / trusted keys / trust-clients, p2p listen / bootstrap / mdns / enabled) come
 * from the resolved config with the flags winning. Also `http.status-remote`.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Readable } from 'node:stream'
import { runMain } from './helpers/run-main.ts'
import type { MainResult } from './helpers/run-main.ts'
import { configArgOptions, configToJSON, configToServeOptions, resolveConfig } from '../node/config.ts'
import { p2pOptionsFromConfig } from '../node/p2p.ts'
import { encodeEris } from '../src/eris/index.ts'
import { DaemonClient } from '../src/daemon/index.ts'
import { repoRoot } from './fixtures.ts'

const KEY = 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY='
const OTHER_KEY = 'other-1:' + Buffer.alloc(32, 7).toString('base64')
const STORE_PATH = '/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z-dep'
const BIN = join(repoRoot, 'node', 'bin.ts')
let work: string
let emptyXdg: string
const children: ChildProcess[] = []

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storeswarm-cfgcmd-'))
  emptyXdg = join(work, 'xdg-empty')
  await mkdir(emptyXdg)
})
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await rm(work, { recursive: true, force: true })
})

/** an environment without the machine's own config file or STORESWARM_* variables */
function env (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STORESWARM_')) out[k] = v
  return { ...out, XDG_CONFIG_HOME: emptyXdg, XDG_DATA_HOME: join(work, 'xdg-data'), XDG_RUNTIME_DIR: join(work, 'run'), ...extra }
}

async function run (argv: string[], extraEnv: Record<string, string> = {}): Promise<MainResult> {
  return await runMain(argv, env(extraEnv), 'all')
}

let n = 0
/** a config file (TOML text) in its own directory; returns its path */
async function configFile (text: string): Promise<string> {
  const dir = join(work, `cfg-${n++}`)
  await mkdir(dir)
  const file = join(dir, 'config.toml')
  await writeFile(file, text)
  return file
}

/** runs `node node/bin.ts ARGS` until `ready` matches its output (stdout + stderr) */
async function startChild (args: string[], ready: RegExp): Promise<{ child: ChildProcess, output: () => string, exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let log = ''
  const exited = new Promise<number | null>((resolve) => { child.once('close', resolve) })
  await new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer): void => { log += b.toString(); if (ready.test(log)) resolve() }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    void exited.then((code) => { reject(new Error(`${args[0]} exited ${code}: ${log}`)) })
  })
  return { child, output: () => log, exited }
}

describe('data directory of the p2p commands', () => {
  it('peers: --config data-dir, then $STORESWARM_DATA_DIR over it, then --data-dir over both', async () => {
    const fromFile = join(work, 'peers-from-file')
    const file = await configFile(`data-dir = ${JSON.stringify(fromFile)}\n`)
    let r = await run(['peers', '--config', file])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`no node is running on the data directory ${fromFile}`)
    r = await run(['peers', '--config', file], { STORESWARM_DATA_DIR: join(work, 'peers-env') })
    expect(r.stderr).toContain(`data directory ${join(work, 'peers-env')}`)
    r = await run(['peers', '--config', file, '--data-dir', join(work, 'peers-flag')], { STORESWARM_DATA_DIR: join(work, 'peers-env') })
    expect(r.stderr).toContain(`data directory ${join(work, 'peers-flag')}`)
    // the default config file counts as well
    const xdg = join(work, 'xdg-peers')
    await mkdir(join(xdg, 'storeswarm'), { recursive: true })
    await writeFile(join(xdg, 'storeswarm', 'config.toml'), `data-dir = ${JSON.stringify(join(work, 'peers-default-file'))}\n`)
    r = await run(['peers'], { XDG_CONFIG_HOME: xdg })
    expect(r.stderr).toContain(`data directory ${join(work, 'peers-default-file')}`)
  })

  it('peers: a missing --config file is a configuration error', async () => {
    const r = await run(['peers', '--config', join(work, 'missing.toml')])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('missing.toml: no such file')
  })

  it('fetch and announce: the config data dir and p2p.enabled = false (no node running, no temporary one)', async () => {
    const dataDir = join(work, 'fetch-from-file')
    const file = await configFile(`data-dir = ${JSON.stringify(dataDir)}\n[p2p]\nenabled = false\n`)
    for (const argv of [['fetch', STORE_PATH], ['announce', STORE_PATH]]) {
      const r = await run([...argv, '--config', file])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(`no node is running on the data directory ${dataDir} and the swarm is off`)
    }
    // the environment's data dir and --no-p2p, without a file
    const r = await run(['fetch', STORE_PATH, '--no-p2p'], { STORESWARM_DATA_DIR: join(work, 'fetch-env') })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`data directory ${join(work, 'fetch-env')} and the swarm is off`)
    // $STORESWARM_P2P_ENABLED counts like the file
    const r2 = await run(['announce', STORE_PATH, '--data-dir', join(work, 'ann-flag')], { STORESWARM_P2P_ENABLED: 'false' })
    expect(r2.code).toBe(2)
    expect(r2.stderr).toContain(`data directory ${join(work, 'ann-flag')} and the swarm is off`)
  })

  it('p2pOptionsFromConfig: file < environment < flags', async () => {
    const file = await configFile([
      `data-dir = ${JSON.stringify(join(work, 'p2p-opts'))}`,
      '[p2p]',
      'listen = ["/ip4/127.0.0.1/tcp/4001"]',
      'bootstrap = ["/ip4/192.0.2.1/tcp/4001"]',
      'mdns = true',
      'upnp = true',
      `trusted-public-keys = [${JSON.stringify(KEY)}]`,
      ''
    ].join('\n'))
    const fromFile = p2pOptionsFromConfig({ config: file }, env())
    expect(fromFile).toEqual({
      dataDir: join(work, 'p2p-opts'),
      listen: ['/ip4/127.0.0.1/tcp/4001'],
      bootstrap: ['/ip4/192.0.2.1/tcp/4001'],
      mdns: true,
      upnp: true,
      disabled: false,
      trustedPublicKeys: [KEY],
      referralCopies: 2
    })
    const mixed = p2pOptionsFromConfig({ config: file, listen: ['/ip4/127.0.0.1/tcp/0'], 'trusted-public-key': [OTHER_KEY], 'no-p2p': true }, env({ STORESWARM_P2P_MDNS: 'false' }))
    expect(mixed.listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
    expect(mixed.trustedPublicKeys).toEqual([OTHER_KEY])
    expect(mixed.mdns).toBe(false)
    expect(mixed.disabled).toBe(true)
    expect(mixed.bootstrap).toEqual(['/ip4/192.0.2.1/tcp/4001'])
    // a bad flag value is a usage error of the flag
    expect(() => p2pOptionsFromConfig({ listen: ['not-a-multiaddr'] }, env())).toThrow(/--listen/)
  })

  it('p2p: listens where the config file says', async () => {
    const dataDir = join(work, 'p2p-node')
    const file = await configFile(`data-dir = ${JSON.stringify(dataDir)}\n[p2p]\nlisten = ["/ip4/127.0.0.1/tcp/0"]\n`)
    const node = await startChild(['p2p', '--config', file], /listening on \/ip4\/\S+/)
    // only the configured loopback address (the default /ip4/0.0.0.0 would list every interface)
    const addrs = [...node.output().matchAll(/listening on (\S+)/g)].map(m => m[1])
    expect(addrs.length).toBeGreaterThan(0)
    for (const a of addrs) expect(a).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
    expect(existsSync(join(dataDir, 'p2p', 'identity.key'))).toBe(true)
    node.child.kill('SIGTERM')
    expect(await node.exited).toBe(0)
  })
})

describe('daemon commands', () => {
  it('daemon: socket, data dir and trust settings from --config', async () => {
    const dataDir = join(work, 'daemon-data')
    const sock = join(work, 'cfg-daemon.sock')
    const file = await configFile(`data-dir = ${JSON.stringify(dataDir)}\n[daemon]\nsocket = ${JSON.stringify(sock)}\ntrust-clients = true\n`)
    const node = await startChild(['daemon', '--config', file], /daemon protocol on/)
    expect(node.output()).toContain(`nix daemon protocol on ${sock}`)
    expect(existsSync(dataDir)).toBe(true)
    const c = await DaemonClient.connect({ socketPath: sock })
    expect(await c.isValidPath(STORE_PATH)).toBe(false)
    await c.close()
    node.child.kill('SIGTERM')
    expect(await node.exited).toBe(0)
    expect(existsSync(sock)).toBe(false)
  })

  it('daemon: a bad key in the file is a configuration error naming FILE:LINE; a bad flag value a usage error', async () => {
    const file = await configFile(`[daemon]\ntrusted-public-keys = ["nope"]\n`)
    let r = await run(['daemon', '--config', file])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`${file}:2`)
    expect(r.stderr).toContain('daemon.trusted-public-keys')
    r = await run(['daemon', '--trusted-public-keys', 'nope', '--data-dir', join(work, 'never')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--trusted-public-keys')
    r = await run(['daemon', '--config', join(work, 'missing.toml')])
    expect(r.code).toBe(3)
  })

  it('stdio: the socket of the config file', async () => {
    const sock = join(work, 'nobody-here.sock')
    const file = await configFile(`[daemon]\nsocket = ${JSON.stringify(sock)}\n`)
    const r = await run(['stdio', '--config', file])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`daemon socket ${sock}`)
  })

  it('import --from-daemon: the data dir of the config file', async () => {
    const dataDir = join(work, 'import-data')
    const file = await configFile(`data-dir = ${JSON.stringify(dataDir)}\n`)
    const r = await run(['import', '--from-daemon', join(work, 'no-nix-daemon.sock'), STORE_PATH, '--config', file])
    expect(r.code).toBe(1)
    expect(existsSync(dataDir)).toBe(true)
  })
})

describe('eris commands', () => {
  it('eris encode and decode accept --config; decode reads the config data dir', async () => {
    const dataDir = join(work, 'eris-data')
    const file = await configFile(`data-dir = ${JSON.stringify(dataDir)}\n`)
    const content = join(work, 'eris-content')
    await writeFile(content, 'hello eris\n')
    const { urn } = await encodeEris(Readable.from([new TextEncoder().encode('hello eris\n')]), { blockSize: 1024 })
    let r = await run(['eris', 'encode', content, '--block-size', '1K', '--config', file])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(urn)
    // not in the (empty) store of the config's data dir
    r = await run(['eris', 'decode', urn, '--config', file])
    expect(r.code).not.toBe(0)
    expect(existsSync(dataDir)).toBe(true)
    r = await run(['eris', 'decode', urn, '--config', join(work, 'missing.toml')])
    expect(r.code).toBe(3)
  })

  it('fetch urn:eris: the config data dir, and p2p.enabled = false leaves no block source', async () => {
    const dataDir = join(work, 'eris-fetch-data')
    const file = await configFile(`data-dir = ${JSON.stringify(dataDir)}\n[p2p]\nenabled = false\n`)
    const { urn } = await encodeEris(Readable.from([new Uint8Array(10)]), { blockSize: 1024 })
    const r = await run(['fetch', urn, '--store-path', STORE_PATH, '--config', file])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('no block source')
    expect(existsSync(dataDir)).toBe(true)
  })
})

describe('http.status-remote', () => {
  const flags = (argv: string[]): Record<string, unknown> => parseArgs({ args: argv, options: configArgOptions(), strict: true }).values
  const value = (cfg: ReturnType<typeof resolveConfig>): unknown => configToServeOptions(cfg).statusRemote

  it('defaults to false and maps to ServeOptions.statusRemote from the file, the environment and --status-remote', () => {
    expect(value(resolveConfig({ env: env(), fileText: '' , configPath: 'c.toml' }))).toBe(false)
    const fromFile = resolveConfig({ env: env(), fileText: '[http]\nstatus-remote = true\n', configPath: 'c.toml' })
    expect(value(fromFile)).toBe(true)
    expect(fromFile.settings.get('http.status-remote')!.source).toEqual({ kind: 'file', file: 'c.toml', line: 2 })
    expect(value(resolveConfig({ env: env({ STORESWARM_HTTP_STATUS_REMOTE: 'yes' }) }))).toBe(true)
    expect(value(resolveConfig({ env: env({ STORESWARM_HTTP_STATUS_REMOTE: '0' }), fileText: '[http]\nstatus-remote = true\n', configPath: 'c.toml' }))).toBe(false)
    expect(value(resolveConfig({ env: env(), flags: flags(['--status-remote']) }))).toBe(true)
    expect((configToJSON(resolveConfig({ env: env(), flags: flags(['--status-remote']) })) as any).sources['http.status-remote']).toBe('--status-remote')
  })

  it('rejects a non-boolean', () => {
    expect(() => resolveConfig({ env: env(), fileText: '[http]\nstatus-remote = "yes"\n', configPath: 'c.toml' })).toThrow(/c\.toml:2: http\.status-remote = "yes": expected true or false/)
    expect(() => resolveConfig({ env: env({ STORESWARM_HTTP_STATUS_REMOTE: 'maybe' }) })).toThrow(/\$STORESWARM_HTTP_STATUS_REMOTE/)
  })
})
