/**
 * GC in a running node (node/serve.ts + src/castore/gc.ts): NARs being downloaded over HTTP
 * while GC evicts their paths complete byte-identical (leases), later requests get 404; and a
 * full disk (a small tmpfs) fails imports with ENOSPC named while the node keeps serving, and
 * imports work again once GC has freed space.
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { get } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore, verifyCastore } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { startNode } from '../node/serve.ts'
import { controlRequest } from '../node/control.ts'
import type { RunningNode } from '../node/serve.ts'
import { collect, fakeStorePath } from './helpers/daemon-harness.ts'
import { writeNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'

beforeAll(async () => { await loadKernel() })

const bin = fileURLToPath(new URL('../node/bin.ts', import.meta.url))

async function cli (args: string[]): Promise<{ code: number | null, out: string, err: string }> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { code, out, err }
}

interface Made { storePath: string, hashPart: string, narHash: string }

/** A path of `files` random files of `fileBytes` each. */
async function addPath (castore: Castore, name: string, files: number, fileBytes: number): Promise<Made> {
  const contents = Array.from({ length: files }, () => randomBytes(fileBytes))
  const node: NarSourceNode = {
    type: 'directory',
    entries: async function * () {
      for (let i = 0; i < files; i++) {
        const data = contents[i]
        yield { name: new TextEncoder().encode(`f${String(i).padStart(3, '0')}`), node: { type: 'regular', executable: false, size: data.byteLength, contents: async function * () { yield data } } }
      }
    }
  }
  const nar = await collect(writeNar(node))
  const storePath = fakeStorePath(`${name}-${randomBytes(4).toString('hex')}`, name)
  const narHash = createHash('sha256').update(nar).digest()
  await castore.importNar([nar], { storePath, narHash, narSize: nar.byteLength })
  return { storePath, hashPart: storePath.slice('/nix/store/'.length, '/nix/store/'.length + 32), narHash: narHash.toString('hex') }
}

async function narUrl (node: RunningNode, m: Made): Promise<string> {
  const text = await (await fetch(`${node.nix.url!}/${m.hashPart}.narinfo`)).text()
  const url = /^URL: (.*)$/m.exec(text)?.[1]
  if (url === undefined) throw new Error(`no URL in narinfo of ${m.storePath}: ${text}`)
  return `${node.nix.url!}/${url}`
}

async function download (url: string): Promise<{ status: number, sha256: string }> {
  const res = await fetch(url)
  const hash = createHash('sha256')
  for await (const piece of res.body ?? []) hash.update(piece as Uint8Array)
  return { status: res.status, sha256: hash.digest('hex') }
}

/** A download that stops after its first chunk until `resume()`. */
function pausedDownload (url: string): { started: Promise<void>, resume: () => Promise<{ status: number, sha256: string, bytes: number }> } {
  let res: IncomingMessage | undefined
  const hash = createHash('sha256')
  let bytes = 0
  let onStart: () => void = () => {}
  const started = new Promise<void>((resolve, reject) => {
    onStart = resolve
    get(url, (r) => {
      res = r
      r.once('data', (d: Buffer) => { hash.update(d); bytes += d.byteLength; r.pause(); onStart() })
      r.on('error', reject)
    }).on('error', reject)
  })
  return {
    started,
    resume: async () => {
      const r = res!
      const done = new Promise<void>((resolve, reject) => { r.on('end', resolve); r.on('error', reject); r.on('aborted', () => reject(new Error('aborted'))) })
      r.on('data', (d: Buffer) => { hash.update(d); bytes += d.byteLength })
      r.resume()
      await done
      return { status: r.statusCode ?? 0, sha256: hash.digest('hex'), bytes }
    }
  }
}

describe('gc in a running node', () => {
  it('NARs in flight complete byte-identical while GC evicts their paths; later requests 404', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-gc-node-'))
    let node: RunningNode | undefined
    try {
      node = await startNode({ dataDir: join(dir, 'data'), http: '127.0.0.1:0', daemonSocket: false, eris: false, log: () => {} })
      const castore = node.gc.castore
      const big: Made[] = []
      for (let i = 0; i < 3; i++) big.push(await addPath(castore, `big${i}`, 20, 1 << 20))
      const other = await addPath(castore, 'other', 2, 1 << 20)
      const urls = await Promise.all(big.map(async m => await narUrl(node!, m)))
      const otherUrl = await narUrl(node, other)
      const downloads = urls.map(u => pausedDownload(u))
      await Promise.all(downloads.map(async d => { await d.started }))
      const r = await node.gc.run({ maxSize: 1 })
      expect([...r.evicted].sort()).toEqual([...big, other].map(m => m.storePath).sort())
      expect(r.objectsKeptInUse).toBeGreaterThanOrEqual(3 * 20)
      expect(r.freedBytes).toBeGreaterThanOrEqual(2 << 20) // `other`, not being downloaded
      // evicted: narinfos and NARs are gone for new requests
      expect((await fetch(`${node.nix.url!}/${big[0].hashPart}.narinfo`)).status).toBe(404)
      expect((await download(urls[1])).status).toBe(404)
      expect((await download(otherUrl)).status).toBe(404)
      // the downloads in flight finish with the right bytes
      for (const [i, d] of downloads.entries()) {
        const done = await d.resume()
        expect(done.status).toBe(200)
        expect(done.sha256).toBe(big[i].narHash)
      }
      // leases ended: the next pass takes the rest
      const r2 = await node.gc.run({ maxSize: 1 })
      expect(r2.freedBytes).toBeGreaterThanOrEqual(60 << 20)
      expect(node.gc.stats().storeBytes).toBe(0)
      expect((await verifyCastore(castore)).problems).toEqual([])
    } finally {
      await node?.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it('a full disk fails imports with ENOSPC, the node keeps serving, GC makes room again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-gc-full-'))
    const mnt = join(dir, 'mnt')
    await mkdir(mnt)
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt], { encoding: 'utf8' })
    if (mounted.status !== 0) {
      await rm(dir, { recursive: true, force: true })
      if (process.env.CI === 'true') throw new Error(`mounting a tmpfs is required for this test under CI (run as root): ${mounted.stderr}`)
      return
    }
    let node: RunningNode | undefined
    try {
      node = await startNode({ dataDir: join(mnt, 'data'), http: '127.0.0.1:0', daemonSocket: false, eris: false, log: () => {} })
      const castore = node.gc.castore
      const stored: Made[] = []
      let failure: any
      for (let i = 0; i < 12 && failure === undefined; i++) {
        try {
          stored.push(await addPath(castore, `fill${i}`, 4, 1 << 20))
        } catch (err) {
          failure = err
        }
      }
      expect(failure?.name).toBe('StoreFullError')
      expect(failure?.message).toMatch(/ENOSPC/)
      expect(stored.length).toBeGreaterThanOrEqual(3)
      expect((await verifyCastore(castore)).problems).toEqual([])
      // still serving what it holds
      for (const m of stored) {
        const d = await download(await narUrl(node, m))
        expect(d.status).toBe(200)
        expect(d.sha256).toBe(m.narHash)
      }
      // make room (LRU: the oldest go), then imports work again
      const r = await node.gc.run({ maxSize: 10 << 20 })
      expect(r.evicted.length).toBeGreaterThan(0)
      expect(r.storeBytes).toBeLessThanOrEqual(10 << 20)
      const again = await addPath(castore, 'after', 4, 1 << 20)
      expect((await download(await narUrl(node, again))).sha256).toBe(again.narHash)
      expect((await verifyCastore(castore)).problems).toEqual([])
    } finally {
      await node?.stop()
      spawnSync('umount', [mnt])
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it('the commands: pin, pins, gc, unpin on the store, and gc through the running node', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-gc-cli-'))
    const dataDir = join(dir, 'data')
    let node: RunningNode | undefined
    try {
      const store = await openCastore({ dataDir, fsync: false })
      const a = await addPath(store, 'a', 2, 10_000)
      const b = await addPath(store, 'b', 2, 10_000)
      await store.close()
      const pin = await cli(['pin', a.storePath, '--closure', '--data-dir', dataDir])
      expect(pin.err).toContain('pinned 1 path')
      expect(pin.code).toBe(0)
      expect(pin.out.trim()).toBe(a.storePath)
      const gc = await cli(['gc', '--max-size', '1', '--json', '--data-dir', dataDir])
      expect(gc.code).toBe(0)
      expect(JSON.parse(gc.out)).toMatchObject({ dryRun: false, evicted: [b.storePath] })
      // a node owns the store now: the commands go through it
      node = await startNode({ dataDir, http: '127.0.0.1:0', daemonSocket: false, eris: false, compression: 'zstd', log: () => {} })
      // a zstd NAR of `a` gets compressed into the cache; evicting `a` drops it
      expect((await download(await narUrl(node, a))).status).toBe(200)
      const cached = async (): Promise<string[]> => (await readdir(join(dataDir, 'cache', 'nar'))).filter(n => n.startsWith(a.hashPart))
      expect(await cached()).toHaveLength(1)
      const pins = await cli(['pins', '--json', '--data-dir', dataDir])
      expect(JSON.parse(pins.out)).toMatchObject([{ storePath: a.storePath, reasons: ['self'] }])
      expect(await controlRequest(dataDir, 'unpin', [[a.storePath]])).toEqual([a.storePath])
      const viaNode = await cli(['gc', '--max-size', '1', '--data-dir', dataDir])
      expect(viaNode.code).toBe(0)
      expect(viaNode.out.trim()).toBe(a.storePath)
      expect(viaNode.err).toMatch(/evicted 1 paths, freed (19|20)(\.\d)? KiB/)
      expect(node.gc.stats()).toMatchObject({ paths: 0, pinned: 0, storeBytes: 0, lastRun: { evictedPaths: 1 } })
      for (let i = 0; i < 50 && (await cached()).length > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
      expect(await cached()).toEqual([])
    } finally {
      await node?.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it('with a size limit, imports that cross it start a pass in the background', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-gc-auto-'))
    let node: RunningNode | undefined
    try {
      const maxSize = 3 << 20
      node = await startNode({ dataDir: join(dir, 'data'), http: '127.0.0.1:0', daemonSocket: false, eris: false, gc: { maxSize }, log: () => {} })
      const made: Made[] = []
      for (let i = 0; i < 5; i++) {
        made.push(await addPath(node.gc.castore, `auto${i}`, 1, 1 << 20))
        node.gc.castore.touch(made[i].storePath, Date.now() + i * 120_000)
      }
      for (let i = 0; i < 100 && node.gc.stats().lastRun === undefined; i++) await new Promise(resolve => setTimeout(resolve, 100))
      const stats = node.gc.stats()
      expect(stats.lastRun?.evictedPaths).toBeGreaterThanOrEqual(2)
      expect(stats.maxBytes).toBe(maxSize)
      expect(stats.storeBytes).toBeLessThanOrEqual(maxSize)
      // the newest survive
      expect((await download(await narUrl(node, made[4]))).sha256).toBe(made[4].narHash)
      expect((await fetch(`${node.nix.url!}/${made[0].hashPart}.narinfo`)).status).toBe(404)
    } finally {
      await node?.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
