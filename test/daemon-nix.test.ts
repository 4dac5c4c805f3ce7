/**
 * Issue 4, real clients: Nix 2.8 (`nix`, `nix-store`, `nix-build`, `nix-daemon` from
 * Debian's nix-bin) against a storeswarm node started by the test. Nix runs in
 * throw-away chroot stores (`--store DIR`) with an isolated HOME / XDG dirs and an
 * empty NIX_CONF_DIR; only Unix sockets in a temp dir are used.
 *
 *  1. `nix path-info --store unix://S --json -r`, `nix-store -q --references / -qR`,
 *     and Nix's "is not valid" for an unknown path.
 *  2. `nix copy --to unix://S` and `--to ssh-ng://localhost?remote-program=…` of a
 *     closure built by real Nix: ingested and verified (signatures, NarHash).
 *  3. `nix copy --from ssh-ng://…` and `nix-store -r` with it as a substituter: NARs
 *     travel through op 38; `nix-store --verify --check-contents` is clean.
 *  4. A real `nix-daemon` holds the closure; `storeswarm import --from-daemon` pulls
 *     it; the node serves it back (export → `nix-store --import`).
 *
 * For ssh-ng, Nix 2.8 runs `bash -c '<remote-program> --stdio'` itself when the host
 * is `localhost` (no ssh involved); the remote program is a two-line wrapper around
 * node/stdio-bin.ts, which finds the node through $STORESWARM_DAEMON_SOCKET.
 * Without nix-bin these tests skip locally and FAIL under CI=true.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestContext } from 'vitest'
import { fixture, repoRoot } from './fixtures.ts'
import { requireTool } from './helpers/tools.ts'
import { openCastore } from '../src/castore/index.ts'
import { exportStream } from '../src/daemon/index.ts'
import type { DaemonServerEvent } from '../src/daemon/index.ts'
import { encodeNixBase32, parsePublicKey } from '../src/nix/index.ts'
import { collect, startTestDaemon } from './helpers/daemon-harness.ts'
import type { TestDaemon } from './helpers/daemon-harness.ts'

const haveNix = ['nix', 'nix-store', 'nix-build', 'nix-daemon'].every((t) => requireTool(t, 'nix-bin'))
const KEY_FILE = fixture('real-nix', 'keys', 'test-cache-1.secret')
const PUBLIC_KEY = readFileSync(fixture('real-nix', 'keys', 'test-cache-1.public'), 'utf8').trim()
const T = mkdtempSync(join(tmpdir(), 'storeswarm-daemon-nix-'))
const ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: join(T, 'home'),
  XDG_CACHE_HOME: join(T, 'cache'),
  XDG_CONFIG_HOME: join(T, 'config'),
  XDG_DATA_HOME: join(T, 'data'),
  NIX_CONF_DIR: join(T, 'etc'),
  NIX_REMOTE: ''
}
const NIX_ARGS = ['--extra-experimental-features', 'nix-command']
const BRIDGE = join(T, 'storeswarm-stdio')
const sshNg = `ssh-ng://localhost?remote-program=${BRIDGE}`

interface Run { code: number | null, stdout: string, stderr: string }

/** Runs a command without blocking the event loop (the node under test lives in this process). */
async function run (cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv, input?: AsyncIterable<Uint8Array> | Uint8Array } = {}): Promise<Run> {
  return await new Promise<Run>((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...ENV, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    })
    child.stdin.on('error', () => {})
    const input = options.input
    if (input instanceof Uint8Array) child.stdin.end(input)
    else if (input != null) {
      void (async () => {
        for await (const piece of input) if (!child.stdin.write(piece)) await new Promise((r) => child.stdin.once('drain', r))
        child.stdin.end()
      })().catch(() => { child.stdin.destroy() })
    } else child.stdin.end()
  })
}

async function ok (cmd: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, options)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stderr}`)
  return r.stdout
}

function need (ctx: TestContext): void {
  if (!haveNix) ctx.skip()
}

const DRV = (tag: string): string => `
let
  dep = derivation { name = "dep-${tag}"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo dependency ${tag} > $out" ]; };
in derivation {
  name = "hello-${tag}"; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" "/bin/mkdir -p $out/bin; printf '#!/bin/sh\\\\necho %s\\\\n' \${dep} > $out/bin/hello; /bin/chmod +x $out/bin/hello; /bin/ln -s bin/hello $out/link; echo self $out > $out/self" ];
}`

/** Builds a two-path closure with real Nix in chroot store `store`; returns the top path. */
async function build (store: string, tag: string): Promise<string> {
  const file = join(T, `${tag}.nix`)
  writeFileSync(file, DRV(tag))
  const out = await ok('nix-build', ['--store', store, '--option', 'build-users-group', '', '--option', 'sandbox-paths', '/bin /lib /lib64 /usr',
    '--option', 'substituters', '', file, '--no-out-link'])
  return out.trim()
}

interface NixPathInfo { path: string, narHash: string, narSize: number, references: string[], signatures?: string[], deriver?: string }

async function pathInfos (store: string, path: string): Promise<NixPathInfo[]> {
  return JSON.parse(await ok('nix', [...NIX_ARGS, 'path-info', '--store', store, '--json', '-r', '--sigs', path])) as NixPathInfo[]
}

/** Nix's `sha256-<base64>` from castore bytes. */
function sri (digest: Uint8Array): string {
  return 'sha256-' + Buffer.from(digest).toString('base64')
}

const BUILD_STORE = join(T, 'build')
let signedTop = ''
let unsignedTop = ''
const started: TestDaemon[] = []
const daemons: ChildProcess[] = []

async function node (init: Parameters<typeof startTestDaemon>[0] = {}): Promise<TestDaemon & { events: DaemonServerEvent[] }> {
  const events: DaemonServerEvent[] = []
  const d = await startTestDaemon({ ...init, onEvent: (e) => { events.push(e) } })
  started.push(d)
  return Object.assign(d, { events })
}

function opsSeen (events: DaemonServerEvent[]): string[] {
  return events.flatMap((e) => e.type === 'op' ? [String(e.op)] : [])
}

beforeAll(async () => {
  for (const dir of ['home', 'cache', 'config', 'data', 'etc']) mkdirSync(join(T, dir), { recursive: true })
  writeFileSync(BRIDGE, `#!/bin/sh\nexec '${process.execPath}' '${join(repoRoot, 'node', 'stdio-bin.ts')}' "$@"\n`)
  chmodSync(BRIDGE, 0o755)
  if (!haveNix) return
  signedTop = await build(BUILD_STORE, 'signed')
  await ok('nix', [...NIX_ARGS, 'store', 'sign', '--store', BUILD_STORE, '--key-file', KEY_FILE, '-r', signedTop])
  unsignedTop = await build(BUILD_STORE, 'unsigned')
}, 120_000)

afterAll(async () => {
  for (const p of daemons) p.kill('SIGTERM')
  for (const d of started) await d.stop()
  rmSync(T, { recursive: true, force: true })
})

describe('real Nix 2.8 clients against the node', () => {
  let holder: TestDaemon & { events: DaemonServerEvent[] }

  it('2. nix copy --to unix:// ingests a signed closure built by Nix, verified against trusted-public-keys', async (ctx) => {
    need(ctx)
    holder = await node({ trustedPublicKeys: [parsePublicKey(PUBLIC_KEY)] })
    await ok('nix', [...NIX_ARGS, '--store', BUILD_STORE, 'copy', '--to', `unix://${holder.socketPath}`, signedTop])
    expect(opsSeen(holder.events)).toContain('AddMultipleToStore')
    for (const want of await pathInfos(BUILD_STORE, signedTop)) {
      const got = await holder.castore.getPathInfo(want.path)
      expect(got, want.path).toBeDefined()
      expect(sri(got!.narHash)).toBe(want.narHash)
      expect(got!.narSize).toBe(want.narSize)
      expect(got!.references).toEqual(want.references)
      expect(got!.signatures).toEqual(want.signatures)
      expect(got!.signatures[0]).toMatch(/^test-cache-1:/)
    }
  })

  it('2. unsigned: refused by an untrusted node ("lacks a valid signature"), accepted with --no-check-sigs by a trusted one', async (ctx) => {
    need(ctx)
    const r = await run('nix', [...NIX_ARGS, '--store', BUILD_STORE, 'copy', '--to', `unix://${holder.socketPath}`, unsignedTop])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/lacks a valid signature/)
    expect(await holder.castore.getPathInfo(unsignedTop)).toBeUndefined()
    const trusted = await node({ trustClients: true })
    await ok('nix', [...NIX_ARGS, '--store', BUILD_STORE, 'copy', '--no-check-sigs', '--to', `unix://${trusted.socketPath}`, unsignedTop])
    const [want] = await pathInfos(BUILD_STORE, unsignedTop)
    expect(sri((await trusted.castore.getPathInfo(unsignedTop))!.narHash)).toBe(want.narHash)
  })

  it('2. nix copy --to ssh-ng://localhost?remote-program=… (through the stdio bridge)', async (ctx) => {
    need(ctx)
    const viaBridge = await node({ trustedPublicKeys: [parsePublicKey(PUBLIC_KEY)] })
    await ok('nix', [...NIX_ARGS, '--store', BUILD_STORE, 'copy', '--to', sshNg, signedTop], { env: { STORESWARM_DAEMON_SOCKET: viaBridge.socketPath } })
    expect(opsSeen(viaBridge.events)).not.toContain('SetOptions') // ssh-ng stores send none
    expect(opsSeen(viaBridge.events)).toContain('AddMultipleToStore')
    for (const want of await pathInfos(BUILD_STORE, signedTop)) {
      expect(sri((await viaBridge.castore.getPathInfo(want.path))!.narHash)).toBe(want.narHash)
    }
  })

  it('1. nix path-info --json -r and nix-store -q --references / -qR return what the node holds', async (ctx) => {
    need(ctx)
    const store = `unix://${holder.socketPath}`
    const infos = await pathInfos(store, signedTop)
    expect(infos.map((i) => i.path).sort()).toEqual((await pathInfos(BUILD_STORE, signedTop)).map((i) => i.path).sort())
    for (const i of infos) {
      const held = (await holder.castore.getPathInfo(i.path))!
      expect(i.narHash).toBe(sri(held.narHash))
      expect(i.narSize).toBe(held.narSize)
      expect(i.references).toEqual(held.references)
      expect(i.signatures).toEqual(held.signatures)
      expect(i.deriver).toBe(held.deriver)
    }
    const top = (await holder.castore.getPathInfo(signedTop))!
    const refs = (await ok('nix-store', ['--store', store, '-q', '--references', signedTop])).trim().split('\n').sort()
    expect(refs).toEqual(top.references)
    const closure = (await ok('nix-store', ['--store', store, '-qR', signedTop])).trim().split('\n').sort()
    expect(closure).toEqual(infos.map((i) => i.path).sort())
    const hash = (await ok('nix-store', ['--store', store, '-q', '--hash', signedTop])).trim()
    expect(hash).toBe('sha256:' + encodeNixBase32(top.narHash))
  })

  it('1. an unknown path gives Nix\'s normal "is not valid" behaviour', async (ctx) => {
    need(ctx)
    const store = `unix://${holder.socketPath}`
    const missing = '/nix/store/00000000000000000000000000000000-nonexist'
    const r = await run('nix', [...NIX_ARGS, 'path-info', '--store', store, missing])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(`path '${missing}' is not valid`)
    const q = await run('nix-store', ['--store', store, '-q', '--references', missing])
    expect(q.code).not.toBe(0)
    expect(q.stderr).toContain(`path '${missing}' is not valid`)
  })

  it('3. nix copy --from ssh-ng://… gets the NARs through op 38; --verify --check-contents is clean', async (ctx) => {
    need(ctx)
    const dest = join(T, 'copy-from')
    const before = holder.events.length
    await ok('nix', [...NIX_ARGS, '--store', dest, 'copy', '--from', sshNg, '--option', 'trusted-public-keys', PUBLIC_KEY, signedTop],
      { env: { STORESWARM_DAEMON_SOCKET: holder.socketPath } })
    const ops = opsSeen(holder.events.slice(before))
    expect(ops.filter((o) => o === 'NarFromPath').length).toBe(2)
    const check = await run('nix-store', ['--store', dest, '--verify', '--check-contents'])
    expect(check.code).toBe(0)
    expect(check.stderr).not.toMatch(/corrupt|modified|invalid/)
    expect((await pathInfos(dest, signedTop)).map((i) => i.narHash)).toEqual((await pathInfos(BUILD_STORE, signedTop)).map((i) => i.narHash))
  })

  it('3. nix-store -r with the ssh-ng bridge as substituter (signatures checked by Nix)', async (ctx) => {
    need(ctx)
    const dest = join(T, 'substituted')
    const before = holder.events.length
    const out = await ok('nix-store', ['--store', dest, '-r', signedTop, '--option', 'substituters', sshNg,
      '--option', 'trusted-public-keys', PUBLIC_KEY], { env: { STORESWARM_DAEMON_SOCKET: holder.socketPath } })
    expect(out.trim()).toBe(signedTop)
    expect(opsSeen(holder.events.slice(before))).toContain('NarFromPath')
    const check = await run('nix-store', ['--store', dest, '--verify', '--check-contents'])
    expect(check.code).toBe(0)
    expect(check.stderr).not.toMatch(/corrupt|modified|invalid/)
    expect(existsSync(join(dest, signedTop, 'bin', 'hello'))).toBe(true)
  })

  it('4. seeding from a real nix-daemon with `import --from-daemon`, then serving the closure back', async (ctx) => {
    need(ctx)
    const sock = join(T, 'nix-daemon.sock')
    const daemon = spawn('nix-daemon', ['--store', BUILD_STORE], { env: { ...ENV, NIX_DAEMON_SOCKET_PATH: sock }, stdio: 'ignore' })
    daemons.push(daemon)
    for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50))
    expect(existsSync(sock)).toBe(true)

    const dataDir = join(T, 'seeded')
    const r = await run(process.execPath, [join(repoRoot, 'test', 'helpers', 'daemon-cli.ts'), 'import', '--data-dir', dataDir, '--from-daemon', sock, signedTop, '--closure'])
    expect(r.stderr).toMatch(/imported 2 paths/)
    expect(r.code).toBe(0)
    const wanted = await pathInfos(BUILD_STORE, signedTop)
    expect(r.stdout.trim().split('\n').sort()).toEqual(wanted.map((i) => i.path).sort())

    const castore = await openCastore({ dataDir, fsync: false })
    try {
      const order = r.stdout.trim().split('\n') // dependencies first
      for (const want of wanted) {
        const got = (await castore.getPathInfo(want.path))!
        expect(sri(got.narHash)).toBe(want.narHash)
        expect(got.signatures).toEqual(want.signatures) // kept from the daemon
        expect(got.deriver).toBe(want.deriver)
      }
      // serve it back: export the closure from the castore into another Nix store
      const dest = join(T, 'from-node')
      const items = []
      for (const p of order) {
        const info = (await castore.getPathInfo(p))!
        items.push({ path: p, references: info.references, deriver: info.deriver ?? null, nar: () => castore.exportNar(p) })
      }
      const imported = await ok('nix-store', ['--store', dest, '--import'], { input: exportStream(items) })
      expect(imported.trim().split('\n')).toEqual(order)
      const check = await run('nix-store', ['--store', dest, '--verify', '--check-contents'])
      expect(check.code).toBe(0)
      expect((await pathInfos(dest, signedTop)).map((i) => [i.path, i.narHash])).toEqual(wanted.map((i) => [i.path, i.narHash]))
      // and byte for byte the NAR Nix dumps from the original store
      const nar = await collect(castore.exportNar(signedTop))
      const dump = await new Promise<Buffer>((resolve, reject) => {
        const c = spawn('nix-store', ['--dump', join(BUILD_STORE, signedTop)], { env: ENV })
        const parts: Buffer[] = []
        c.stdout.on('data', (b: Buffer) => parts.push(b))
        c.on('error', reject)
        c.on('close', () => { resolve(Buffer.concat(parts)) })
      })
      expect(Buffer.compare(Buffer.from(nar), dump)).toBe(0)
    } finally {
      await castore.close()
      daemon.kill('SIGTERM')
    }
  })
})
