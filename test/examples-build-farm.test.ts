/**
 * examples/build-farm/post-build-hook.sh, run the way Nix runs it: a real Nix 2.8 `nix-build`
 * in a chroot store with `--option post-build-hook` pointing at the example and
 * `--option secret-key-files` set to a farm key made here. The node (`storeswarm serve`, a
 * separate process) must then serve every output over HTTP with Nix's NarHash, the farm's
 * signature, and NAR bytes that hash to it. Pushed both ways the hook supports: the node's daemon
 * socket (the farm key in --trusted-public-keys) and an HTTP upload (--allow-uploads). With no
 * node at all the build must still succeed. Nix 2.8.0 hands the hook an empty OUT_PATHS
 * (NixOS/nix#6446); the hook falls back to DRV_PATH, which this test covers on Debian's nix-bin.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import type { TestContext } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { requireTool } from './helpers/tools.ts'
import { rawRequest } from './helpers/http.ts'
import { decodeNixBase32 } from '../src/nix/index.ts'
import { stopChildren } from './helpers/children.ts'

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
const HOOK = fileURLToPath(new URL('../examples/build-farm/post-build-hook.sh', import.meta.url))
const haveNix = ['nix', 'nix-store', 'nix-build'].every(t => requireTool(t, 'nix-bin'))
const T = mkdtempSync(join(tmpdir(), 'storeswarm-examples-farm-'))
const STORE = join(T, 'store')
const ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  TMPDIR: process.env.TMPDIR,
  HOME: join(T, 'home'),
  XDG_CACHE_HOME: join(T, 'cache'),
  XDG_CONFIG_HOME: join(T, 'config'),
  NIX_CONF_DIR: join(T, 'etc'),
  NIX_REMOTE: ''
}
const nodes: ChildProcess[] = []
let farmPublic = ''

interface Run { code: number | null, stdout: string, stderr: string }

async function run (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 120_000)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

async function ok (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await run(cmd, args, env)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(r.code)}):\n${r.stderr}`)
  return r.stdout
}

/** `storeswarm serve` as a process; resolves with its HTTP port once it is up. */
async function serve (name: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [bin, 'serve', '--data-dir', join(T, name), '--http', '127.0.0.1:0', '--no-p2p', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: ENV })
  nodes.push(child)
  let log = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`serve did not start: ${log}`)) }, 30_000)
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString()
      if (log.includes('trusted-public-keys =')) { clearTimeout(timer); resolve() }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited ${String(code)}: ${log}`)) })
  })
  return Number(/Nix binary cache on http:\/\/127\.0\.0\.1:(\d+)/.exec(log)![1])
}

/** A two-output derivation (out, dev) depending on a second one: three store paths, two builds. */
function expr (tag: string): string {
  return `
let
  dep = derivation { name = "farm-dep-${tag}"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo dependency ${tag} > $out" ]; };
  app = derivation {
    name = "farm-app-${tag}"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "dev" ];
    args = [ "-c" "/bin/mkdir -p $out/bin $dev; echo \${dep} > $out/bin/app; /usr/bin/head -c 70000 /dev/urandom > $out/blob; echo $out > $dev/ref" ];
  };
in [ app app.dev ]`
}

/** nix-build with the example as post-build-hook; returns every path built (outputs and dep). */
async function buildWithHook (tag: string, env: NodeJS.ProcessEnv): Promise<{ paths: string[], stderr: string }> {
  const file = join(T, `${tag}.nix`)
  writeFileSync(file, expr(tag))
  const r = await run('nix-build', ['--store', STORE, '--option', 'build-users-group', '', '--option', 'sandbox-paths', '/bin /lib /lib64 /usr',
    '--option', 'substituters', '', '--option', 'secret-key-files', join(T, 'farm.secret'), '--option', 'post-build-hook', HOOK,
    '--no-out-link', file], env)
  if (r.code !== 0) throw new Error(`nix-build failed (${String(r.code)}): ${r.stderr}`)
  const outs = r.stdout.trim().split('\n')
  const dep = (await ok('nix-store', ['--store', STORE, '-qR', ...outs])).trim().split('\n').filter(p => p.includes('farm-dep-'))
  return { paths: [...outs, ...dep], stderr: r.stderr }
}

/** The node serves `path` with Nix's NarHash, the farm signature, and NAR bytes hashing to it. */
async function expectServed (port: number, path: string): Promise<void> {
  const nixHash = (await ok('nix-store', ['--store', STORE, '-q', '--hash', path])).trim()
  const hashPart = path.slice('/nix/store/'.length, '/nix/store/'.length + 32)
  const narinfo = await rawRequest(port, 'GET', `/${hashPart}.narinfo`)
  expect(narinfo.status, `${path} on the node`).toBe(200)
  const text = narinfo.body.toString()
  expect(text).toContain(`StorePath: ${path}\n`)
  expect(text).toContain(`NarHash: ${nixHash}\n`)
  expect(text).toContain(`Sig: ${farmPublic.split(':')[0]}:`)
  const url = /^URL: (\S+)$/m.exec(text)![1]
  const nar = await rawRequest(port, 'GET', `/${url}`)
  expect(nar.status).toBe(200)
  const digest = createHash('sha256').update(nar.body).digest()
  expect(digest.equals(Buffer.from(decodeNixBase32(nixHash.slice('sha256:'.length))))).toBe(true)
}

function need (ctx: TestContext): void {
  if (!haveNix) ctx.skip()
}

beforeAll(async () => {
  for (const d of ['home', 'cache', 'config', 'etc']) mkdirSync(join(T, d), { recursive: true })
  if (!haveNix) return
  await ok('nix-store', ['--generate-binary-cache-key', 'farm.example-1', join(T, 'farm.secret'), join(T, 'farm.public')])
  farmPublic = readFileSync(join(T, 'farm.public'), 'utf8').trim()
}, 60_000)

afterAll(async () => {
  await stopChildren(nodes)
  spawnSync('chmod', ['-R', 'u+w', T]) // store paths are read-only (matters when not root)
  rmSync(T, { recursive: true, force: true })
})

describe('examples/build-farm/post-build-hook.sh as Nix post-build-hook', () => {
  it('pushes every built path to the node over its daemon socket (farm key trusted)', async (ctx) => {
    need(ctx)
    const socket = join(T, 'daemon.sock')
    const port = await serve('node-unix', ['--daemon-socket', socket, '--trusted-public-keys', farmPublic])
    const { paths } = await buildWithHook('unix', { STORESWARM_DAEMON_SOCKET: socket })
    expect(paths).toHaveLength(3)
    for (const p of paths) await expectServed(port, p)
  }, 120_000)

  it('pushes over HTTP with STORESWARM_PUSH_TO=http://… to a node with --allow-uploads', async (ctx) => {
    need(ctx)
    const port = await serve('node-http', ['--no-daemon', '--allow-uploads'])
    const { paths } = await buildWithHook('http', { STORESWARM_PUSH_TO: `http://127.0.0.1:${port}` })
    expect(paths).toHaveLength(3)
    for (const p of paths) await expectServed(port, p)
  }, 120_000)

  it('never fails the build when the node is not there', async (ctx) => {
    need(ctx)
    const { paths, stderr } = await buildWithHook('down', { STORESWARM_DAEMON_SOCKET: join(T, 'nobody-listens.sock'), STORESWARM_PUSH_TIMEOUT: '30' })
    expect(paths).toHaveLength(3)
    expect(stderr).toContain('storeswarm post-build-hook: could not push')
  }, 120_000)
})
