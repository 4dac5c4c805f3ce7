/**
 * `storeswarm watch --from-daemon` (node/watch.ts) against a seeded daemon (our own daemon
 * server over a castore, speaking the Nix protocol): new paths appear with their signatures,
 * `--once` terminates, a daemon restart is survived, and with a node running on the data
 * directory the imports go through the node (no fight over the store lock).
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { createDaemonServer } from '../src/daemon/index.ts'
import type { DaemonServer } from '../src/daemon/index.ts'
import { watchDaemon } from '../node/watch.ts'
import { startNode } from '../node/serve.ts'
import { dirNarBytes, fakeStorePath, pathFor, seed } from './helpers/daemon-harness.ts'

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))

beforeAll(async () => { await loadKernel() })

const SIG = 'cache.example.org-1:' + Buffer.alloc(64, 7).toString('base64')

async function addToDaemon (castore: Castore, name: string, references: string[] = []): Promise<string> {
  const path = fakeStorePath(`watch-${name}`, name)
  await seed(castore, pathFor(path, await dirNarBytes({ file: `contents of ${name}\n`.repeat(50) }), { references, signatures: [SIG] }))
  return path
}

interface Fixture { dir: string, source: Castore, server: DaemonServer, socketPath: string, dataDir: string }

async function fixture (): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'storeswarm-watch-'))
  const source = await openCastore({ dataDir: join(dir, 'source'), fsync: false })
  const socketPath = join(dir, 'daemon.sock')
  const server = createDaemonServer({ castore: source })
  await server.listen(socketPath)
  return { dir, source, server, socketPath, dataDir: join(dir, 'node') }
}

async function cleanup (f: Fixture): Promise<void> {
  await f.server.stop().catch(() => {})
  await f.source.close()
  await rm(f.dir, { recursive: true, force: true })
}

async function held (dataDir: string, paths: string[]): Promise<Array<string[] | undefined>> {
  const castore = await openCastore({ dataDir })
  try {
    return await Promise.all(paths.map(async p => (await castore.getPathInfo(p))?.signatures))
  } finally {
    await castore.close()
  }
}

describe('watch --from-daemon', () => {
  it('imports the daemon\'s paths with their signatures; --once does one round', async () => {
    const f = await fixture()
    try {
      const a = await addToDaemon(f.source, 'a')
      const b = await addToDaemon(f.source, 'b', [a])
      const imported: string[] = []
      const r = await watchDaemon({ dataDir: f.dataDir, socketPath: f.socketPath, once: true, onImported: (p) => imported.push(p) })
      expect(r.rounds).toBe(1)
      expect(imported.sort()).toEqual([a, b].sort())
      expect(await held(f.dataDir, [a, b])).toEqual([[SIG], [SIG]])
      // nothing new: the next round imports nothing
      expect((await watchDaemon({ dataDir: f.dataDir, socketPath: f.socketPath, once: true })).imported).toBe(0)
    } finally {
      await cleanup(f)
    }
  })

  it('follows new paths across a daemon restart', async () => {
    const f = await fixture()
    const controller = new AbortController()
    try {
      const a = await addToDaemon(f.source, 'a')
      const imported: string[] = []
      let notify: (() => void) | undefined
      const watching = watchDaemon({
        dataDir: f.dataDir,
        socketPath: f.socketPath,
        intervalMs: 100,
        signal: controller.signal,
        onImported: (p) => { imported.push(p); notify?.() }
      })
      const until = async (path: string): Promise<void> => {
        for (let i = 0; i < 300 && !imported.includes(path); i++) {
          await new Promise<void>(resolve => { notify = resolve; setTimeout(resolve, 100) })
        }
        expect(imported).toContain(path)
      }
      await until(a)
      const b = await addToDaemon(f.source, 'b')
      await until(b)
      // the daemon restarts (new server on the same socket) and meanwhile gains a path
      await f.server.stop()
      const c = await addToDaemon(f.source, 'c', [b])
      f.server = createDaemonServer({ castore: f.source })
      await f.server.listen(f.socketPath)
      await until(c)
      controller.abort()
      const r = await watching
      expect(r.imported).toBe(3)
      expect(imported).toEqual([a, b, c])
      expect(await held(f.dataDir, [a, b, c])).toEqual([[SIG], [SIG], [SIG]])
    } finally {
      controller.abort()
      await cleanup(f)
    }
  }, 60_000)

  it('imports through the running node (the store is the node\'s)', async () => {
    const f = await fixture()
    let node: Awaited<ReturnType<typeof startNode>> | undefined
    try {
      const a = await addToDaemon(f.source, 'a')
      const b = await addToDaemon(f.source, 'b', [a])
      node = await startNode({ dataDir: f.dataDir, http: '127.0.0.1:0', daemonSocket: false, eris: false, log: () => {} })
      const imported: string[] = []
      await watchDaemon({ dataDir: f.dataDir, socketPath: f.socketPath, once: true, closure: true, onImported: (p) => imported.push(p) })
      expect(imported.sort()).toEqual([a, b].sort())
      for (const p of [a, b]) {
        const res = await fetch(`${node.nix.url!}/${p.slice('/nix/store/'.length, '/nix/store/'.length + 32)}.narinfo`)
        expect(res.status).toBe(200)
        expect(await res.text()).toContain(SIG)
      }
    } finally {
      await node?.stop()
      await cleanup(f)
    }
  }, 60_000)

  it('the command: --once imports, prints the paths and exits 0', async () => {
    const f = await fixture()
    try {
      const a = await addToDaemon(f.source, 'a')
      const child = spawn(process.execPath, [bin, 'watch', '--from-daemon', f.socketPath, '--once', '--data-dir', f.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (d: Buffer) => { out += d.toString() })
      child.stderr.on('data', (d: Buffer) => { err += d.toString() })
      const code = await new Promise<number | null>(resolve => child.on('close', resolve))
      expect(err).toContain('1 paths imported')
      expect(code).toBe(0)
      expect(out.trim().split('\n')).toEqual([a])
      expect(await held(f.dataDir, [a])).toEqual([[SIG]])
      // usage errors exit 2
      const bad = spawn(process.execPath, [bin, 'watch', '--data-dir', f.dataDir], { stdio: 'ignore' })
      expect(await new Promise<number | null>(resolve => bad.on('close', resolve))).toBe(2)
    } finally {
      await cleanup(f)
    }
  }, 60_000)
})
