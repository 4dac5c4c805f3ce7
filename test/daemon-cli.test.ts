/**
 * The command-line side of the daemon facade (node/daemon.ts), run as child processes:
 * `daemon` (socket mode, stale-socket cleanup, removal on SIGTERM), the `stdio` bridge
 * (node/stdio-bin.ts, as Nix's remote-program: the recorded ssh-ng session of Nix 2.8 is
 * piped through it) and `import --from-daemon` (argument handling, seeding).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture, repoRoot } from './fixtures.ts'
import { openCastore } from '../src/castore/index.ts'
import { DaemonClient } from '../src/daemon/index.ts'
import { clientOps, normalise, readConversation } from './helpers/daemon-capture.ts'
import { dirNarBytes, fakeStorePath, fileNarBytes, pathFor, seed, startTestDaemon } from './helpers/daemon-harness.ts'
import type { TestDaemon, TestPath } from './helpers/daemon-harness.ts'
import { resolveDaemonSocket, resolveNixDaemonSocket } from '../node/daemon.ts'

const CLI = join(repoRoot, 'test', 'helpers', 'daemon-cli.ts')
const STDIO_BIN = join(repoRoot, 'node', 'stdio-bin.ts')
const T = mkdtempSync(join(tmpdir(), 'storeswarm-daemon-cli-'))
const children: ChildProcess[] = []

interface Run { code: number | null, stdout: Buffer, stderr: string }

async function run (args: string[], options: { env?: NodeJS.ProcessEnv, input?: Uint8Array } = {}): Promise<Run> {
  return await new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    c.stdout.on('data', (b: Buffer) => out.push(b))
    c.stderr.on('data', (b: Buffer) => { err += b.toString() })
    c.on('error', reject)
    c.on('close', (code) => { resolve({ code, stdout: Buffer.concat(out), stderr: err }) })
    c.stdin.on('error', () => {})
    c.stdin.end(options.input ?? new Uint8Array(0))
  })
}

let d: TestDaemon
let dep: TestPath
let top: TestPath

beforeAll(async () => {
  d = await startTestDaemon()
  dep = pathFor('/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z-dep', await fileNarBytes('x'))
  top = pathFor(fakeStorePath('cli-top', 'top'), await dirNarBytes({ a: dep.info.path }), { references: [dep.info.path] })
})

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await d?.stop()
  rmSync(T, { recursive: true, force: true })
})

describe('socket locations', () => {
  it('--daemon-socket > $STORESWARM_DAEMON_SOCKET > $XDG_RUNTIME_DIR/storeswarm/daemon.sock > tmp', () => {
    expect(resolveDaemonSocket('/x/y.sock', {})).toBe('/x/y.sock')
    expect(resolveDaemonSocket(undefined, { STORESWARM_DAEMON_SOCKET: '/e.sock', XDG_RUNTIME_DIR: '/run/user/1' })).toBe('/e.sock')
    expect(resolveDaemonSocket(undefined, { XDG_RUNTIME_DIR: '/run/user/1' })).toBe('/run/user/1/storeswarm/daemon.sock')
    expect(resolveDaemonSocket(undefined, {})).toMatch(/storeswarm-.+\/daemon\.sock$/)
    expect(resolveNixDaemonSocket(undefined, {})).toBe('/nix/var/nix/daemon-socket/socket')
    expect(resolveNixDaemonSocket(undefined, { NIX_DAEMON_SOCKET_PATH: '/n.sock' })).toBe('/n.sock')
  })
})

describe('storeswarm daemon', () => {
  it('listens with mode 0660, replaces a stale socket, serves, and removes the socket on SIGTERM', async () => {
    const sock = join(T, 'run', 'daemon.sock')
    mkdirSync(join(T, 'run'))
    // a stale socket file left by a process that died without cleaning up
    const holder = spawn(process.execPath, ['-e', 'require("node:net").createServer().listen(process.argv[1], () => console.log("up"))', sock], { stdio: ['ignore', 'pipe', 'ignore'] })
    await new Promise((resolve) => holder.stdout.once('data', resolve))
    const died = new Promise((resolve) => holder.once('close', resolve))
    holder.kill('SIGKILL')
    await died
    expect(statSync(sock).isSocket()).toBe(true)
    const dataDir = join(T, 'daemon-data')
    const child = spawn(process.execPath, [CLI, 'daemon', '--data-dir', dataDir, '--daemon-socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] })
    children.push(child)
    let log = ''
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (b: Buffer) => { log += b.toString(); if (log.includes('daemon protocol on')) resolve() })
      child.on('close', (code) => { reject(new Error(`daemon exited ${code}: ${log}`)) })
    })
    expect(statSync(sock).mode & 0o777).toBe(0o660)
    const c = await DaemonClient.connect({ socketPath: sock })
    expect(await c.isValidPath(dep.info.path)).toBe(false)
    await c.close()
    const exited = new Promise<number | null>((resolve) => { child.once('close', resolve) })
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(existsSync(sock)).toBe(false)
  })

  it('refuses a socket path that is in use', async () => {
    const r = await run([CLI, 'daemon', '--data-dir', join(T, 'other'), '--daemon-socket', d.socketPath])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/in use by another process/)
  })
})

describe('storeswarm stdio (the ssh-ng remote program)', () => {
  it.for(['substituter-ssh-ng', 'copy-from-ssh-ng'])('relays the recorded Nix 2.8 session %s to the node and the answers back', async (name) => {
    const capture = fixture('nix-worker-protocol', 'captures-nix-2.8.0')
    const c2s = new Uint8Array(readFileSync(join(capture, `${name}.c2s`)))
    const s2c = new Uint8Array(readFileSync(join(capture, `${name}.s2c`)))
    const t = await startTestDaemon()
    try {
      for (const p of (await clientOps(new Uint8Array(readFileSync(join(capture, 'copy-to-unix.c2s'))))).uploads) await seed(t.castore, p)
      // Nix 2.8 runs `<remote-program> --stdio`; newer Nix appends `--store X`
      const r = await run([STDIO_BIN, '--stdio', '--store', 'ignored'], { env: { STORESWARM_DAEMON_SOCKET: t.socketPath }, input: c2s })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      const { ops } = await clientOps(c2s)
      expect(ops).toContain('NarFromPath')
      const got = await readConversation(new Uint8Array(r.stdout), ops)
      const want = await readConversation(s2c, ops)
      expect(got.replies.map((x) => normalise(x.body))).toEqual(want.replies.map((x) => normalise(x.body)))
    } finally {
      await t.stop()
    }
  })

  it('fails with a clear message when the node is not running', async () => {
    const r = await run([STDIO_BIN, '--stdio'], { env: { STORESWARM_DAEMON_SOCKET: join(T, 'nobody.sock') } })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot connect to the node's daemon socket .*nobody\.sock/)
    expect(r.stdout.byteLength).toBe(0) // nothing on stdout: Nix would read it as protocol
  })
})

describe('storeswarm import --from-daemon', () => {
  it('usage errors exit with 2', async () => {
    expect((await run([CLI, 'import', '--from-daemon'])).code).toBe(2)
    expect((await run([CLI, 'import', '--from-daemon', '/x.sock', '--closure', '--all'])).code).toBe(2)
    expect((await run([CLI, 'import', '--from-daemon', '/x.sock', 'not-a-path'])).code).toBe(2)
  })

  it('seeds a node from a daemon socket (SOCKET is the first non-store-path argument)', async () => {
    await seed(d.castore, dep)
    await seed(d.castore, top)
    const dataDir = join(T, 'seeded')
    const r = await run([CLI, 'import', '--data-dir', dataDir, '--from-daemon', d.socketPath, top.info.path, '--closure'])
    expect(r.stderr).toMatch(/imported 2 paths/)
    expect(r.code).toBe(0)
    expect(r.stdout.toString().trim().split('\n')).toEqual([dep.info.path, top.info.path])
    const castore = await openCastore({ dataDir, fsync: false })
    try {
      expect((await castore.getPathInfo(top.info.path))?.references).toEqual([dep.info.path])
    } finally {
      await castore.close()
    }
    const again = await run([CLI, 'import', '--data-dir', dataDir, '--from-daemon', d.socketPath, top.info.path])
    expect(again.stderr).toMatch(/imported 0 paths .* 1 already present/)
  })
})
