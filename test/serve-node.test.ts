/**
 * `storeswarm serve` as one node: the HTTP cache, the daemon socket and the background ERIS
 * capabilities on the same castore, run as a separate process.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fixture } from './fixtures.ts'
import { DaemonClient } from '../src/daemon/index.ts'
import { rawRequest } from './helpers/http.ts'

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))
const TREE = '/nix/store/mbig2lb0l0g5haak3zgg7lkjsypn90pw-tree'
let work: string

beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'storeswarm-node-')) })
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

async function serve (dataDir: string, args: string[]): Promise<{ child: ChildProcess, log: string[], port: number }> {
  const child = spawn(process.execPath, [bin, 'serve', '--data-dir', dataDir, '--http', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const log: string[] = []
  await new Promise<void>((resolve, reject) => {
    let buffered = ''
    child.stderr!.on('data', (d: Buffer) => {
      buffered += d.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      log.push(...lines)
      if (log.some(l => l.includes('trusted-public-keys ='))) resolve()
    })
    child.once('exit', (code) => reject(new Error(`serve exited ${String(code)}: ${log.join('\n')}`)))
  })
  const port = Number(/Nix binary cache on http:\/\/127\.0\.0\.1:(\d+)/.exec(log.join('\n'))![1])
  return { child, log, port }
}

describe('storeswarm serve: one node, three faces', () => {
  it('serves the same path over HTTP (with its ERIS URN) and over the daemon socket', async () => {
    const dataDir = join(work, 'a')
    const socket = join(work, 'daemon.sock')
    const imp = spawnSync(process.execPath, [bin, 'import', fixture('real-nix', 'tree', 'tree.nar'), '--store-path', TREE, '--data-dir', dataDir])
    expect(imp.status).toBe(0)
    const s = await serve(dataDir, ['--daemon-socket', socket])
    try {
      expect(s.log.join('\n')).toContain(`Nix daemon protocol on unix://${socket}`)
      const narinfo = await rawRequest(s.port, 'GET', '/mbig2lb0l0g5haak3zgg7lkjsypn90pw.narinfo')
      expect(narinfo.status).toBe(200)
      expect(narinfo.body.toString()).toMatch(/\nERIS: urn:eris:[A-Z2-7]{106}\n/)
      const client = await DaemonClient.connect({ socketPath: socket })
      try {
        expect(await client.isValidPath(TREE)).toBe(true)
        const info = await client.queryPathInfo(TREE)
        expect(info?.narSize).toBe(2000)
        expect(await client.queryPathFromHashPart('mbig2lb0l0g5haak3zgg7lkjsypn90pw')).toBe(TREE)
      } finally {
        await client.close()
      }
    } finally {
      s.child.kill('SIGTERM')
      await new Promise(resolve => s.child.once('exit', resolve))
    }
  })

  it('an explicit daemon socket that is taken is an error; --no-daemon runs without one', async () => {
    const socket = join(work, 'taken.sock')
    const first = await serve(join(work, 'b'), ['--daemon-socket', socket])
    try {
      const second = spawnSync(process.execPath, [bin, 'serve', '--data-dir', join(work, 'c'), '--http', '127.0.0.1:0', '--daemon-socket', socket], { timeout: 30_000 })
      expect(second.status).toBe(1)
      expect(second.stderr.toString()).toMatch(/in use/)
      const third = await serve(join(work, 'd'), ['--no-daemon'])
      expect(third.log.join('\n')).not.toContain('daemon protocol')
      third.child.kill('SIGTERM')
      await new Promise(resolve => third.child.once('exit', resolve))
    } finally {
      first.child.kill('SIGTERM')
      await new Promise(resolve => first.child.once('exit', resolve))
    }
  })
})

describe('ERIS backfill', () => {
  it('gives paths imported without an ERIS capability one, in the background', async () => {
    const { openCastore } = await import('../src/castore/index.ts')
    const { loadKernel } = await import('../src/blake3/index.ts')
    const { readFile } = await import('node:fs/promises')
    const { startErisBackfill } = await import('../node/serve.ts')
    await loadKernel()
    const store = await openCastore({ dataDir: join(work, 'backfill') })
    const ac = new AbortController()
    try {
      await store.importNar([await readFile(fixture('real-nix', 'tree', 'tree.nar'))], { storePath: TREE })
      expect((await store.getPathInfo(TREE))?.eris).toBeUndefined()
      const job = startErisBackfill(store, ac.signal, () => {})
      // the first pass runs at start; wait for it by polling the PathInfo (bounded)
      for (let i = 0; i < 200 && (await store.getPathInfo(TREE))?.eris === undefined; i++) await new Promise(resolve => setTimeout(resolve, 25))
      expect((await store.getPathInfo(TREE))?.eris).toMatch(/^urn:eris:[A-Z2-7]{106}$/)
      ac.abort()
      await job.done
    } finally {
      ac.abort()
      await store.close()
    }
  })
})
