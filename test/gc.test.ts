/**
 * Garbage collection (src/castore/gc.ts): LRU eviction under a size limit, pins and closures,
 * blobs shared between evicted and kept paths, orphans, leases and concurrent imports.
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { mkdtemp, rm, readdir, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { loadKernel } from '../src/blake3/index.ts'
import { openCastore, verifyCastore, createGarbageCollector, parseSize, toHex } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { collect, dirNarBytes, fakeStorePath } from './helpers/daemon-harness.ts'
import { ErisPathIndex, ERIS_INDEX_NAMESPACE } from '../src/eris/store-paths.ts'

beforeAll(async () => { await loadKernel() })

interface Made { storePath: string, nar: Uint8Array }

async function withStore (fn: (castore: Castore, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'storeswarm-gc-'))
  const castore = await openCastore({ dataDir: dir, fsync: false })
  try {
    await fn(castore, dir)
  } finally {
    await castore.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function add (castore: Castore, name: string, files: Record<string, string>, references: string[] = []): Promise<Made> {
  const storePath = fakeStorePath(name, name)
  const nar = await dirNarBytes(files)
  await castore.importNar([nar], { storePath, references, narHash: createHash('sha256').update(nar).digest(), narSize: nar.byteLength })
  return { storePath, nar }
}

/** Sum of the blob files on disk (data files, not outboards). */
async function blobBytesOnDisk (dir: string): Promise<number> {
  let n = 0
  for (const shard of await readdir(join(dir, 'blobs'))) {
    for (const name of await readdir(join(dir, 'blobs', shard))) {
      if (/^[0-9a-f]{64}$/.test(name)) n += (await stat(join(dir, 'blobs', shard, name))).size
    }
  }
  return n
}

async function exportsIntact (castore: Castore, m: Made): Promise<void> {
  const bytes = await collect(castore.exportNar(m.storePath))
  expect(toHex(bytes)).toBe(toHex(m.nar))
}

const text = (n: number, seed: string): string => randomBytes(n / 2).toString('hex') + seed

describe('gc: LRU eviction', () => {
  it('evicts least recently used paths first and ends under the limit', async () => {
    await withStore(async (castore, dir) => {
      const paths: Made[] = []
      for (let i = 0; i < 8; i++) paths.push(await add(castore, `p${i}`, { data: text(20_000, `p${i}`) }))
      // access order: p3 oldest … (then the others), p0 newest
      const order = [3, 5, 1, 7, 2, 6, 4, 0]
      const t0 = Date.now() + 60_000
      order.forEach((idx, k) => { castore.touch(paths[idx].storePath, t0 + k * 120_000) })
      const gc = createGarbageCollector({ castore })
      const size = await gc.measure()
      expect(size).toBeGreaterThan(8 * 20_000)
      const maxSize = size - 3 * 20_000 + 1000 // three paths have to go
      const result = await gc.run({ maxSize })
      expect(result.evicted).toEqual(order.slice(0, 3).map(i => paths[i].storePath))
      expect(result.storeBytes).toBeLessThanOrEqual(maxSize)
      expect(gc.stats().storeBytes).toBe(result.storeBytes)
      expect(gc.stats().paths).toBe(5)
      expect(await blobBytesOnDisk(dir)).toBeLessThanOrEqual(maxSize)
      // an independent measurement agrees
      expect(await createGarbageCollector({ castore }).measure()).toBe(result.storeBytes)
      for (const i of order.slice(0, 3)) expect(await castore.getPathInfo(paths[i].storePath)).toBeUndefined()
      for (const i of order.slice(3)) await exportsIntact(castore, paths[i])
      expect((await verifyCastore(castore)).problems).toEqual([])
      expect(gc.stats().lastRun?.evictedPaths).toBe(3)
    })
  })

  it('keeps pinned paths, their closures, paths kept paths refer to, and shared blobs', async () => {
    await withStore(async (castore) => {
      const shared = text(30_000, 'shared')
      const dep = await add(castore, 'dep', { lib: text(20_000, 'dep') })
      const pinnedRoot = await add(castore, 'pinned', { bin: text(20_000, 'pinned') }, [dep.storePath])
      const lib2 = await add(castore, 'lib2', { lib: text(20_000, 'lib2') })
      const app = await add(castore, 'app', { bin: text(20_000, 'app') }, [lib2.storePath])
      const old = await add(castore, 'old', { a: text(20_000, 'old'), shared })
      const keeper = await add(castore, 'keeper', { b: text(20_000, 'keeper'), shared })
      // dep, pinned, lib2 are the oldest; app and keeper the newest; old in between
      const t0 = Date.now() + 60_000
      const order = [dep, pinnedRoot, lib2, old, app, keeper]
      order.forEach((m, k) => { castore.touch(m.storePath, t0 + k * 120_000) })
      const gc = createGarbageCollector({ castore })
      expect(await gc.pin([pinnedRoot.storePath], { closure: true })).toEqual(expect.arrayContaining([pinnedRoot.storePath, dep.storePath]))
      expect((await gc.pins.list()).map(p => p.storePath).sort()).toEqual([dep.storePath, pinnedRoot.storePath].sort())
      // everything that can go must go
      const result = await gc.run({ maxSize: 1 })
      expect([...result.evicted].sort()).toEqual([app.storePath, keeper.storePath, old.storePath, lib2.storePath].sort())
      // lib2 is the oldest unpinned path, but app (newer) refers to it: it can only go after app
      expect(result.evicted.indexOf(app.storePath)).toBeLessThan(result.evicted.indexOf(lib2.storePath))
      expect(result.evicted[0]).toBe(old.storePath)
      for (const m of [dep, pinnedRoot]) await exportsIntact(castore, m)
      expect(gc.stats().pinned).toBe(2)
      expect((await verifyCastore(castore)).problems).toEqual([])
      // unpinning frees the rest
      expect((await gc.unpin([pinnedRoot.storePath])).sort()).toEqual([dep.storePath, pinnedRoot.storePath].sort())
      expect((await gc.run({ maxSize: 1 })).evicted.sort()).toEqual([dep.storePath, pinnedRoot.storePath].sort())
      expect(gc.stats().storeBytes).toBe(0)
    })
  })

  it('a blob shared by an evicted and a kept path survives', async () => {
    await withStore(async (castore) => {
      const shared = text(40_000, 'shared-big')
      const a = await add(castore, 'a', { x: text(10_000, 'a'), shared })
      const b = await add(castore, 'b', { y: text(10_000, 'b'), shared })
      const t0 = Date.now() + 60_000
      castore.touch(a.storePath, t0)
      castore.touch(b.storePath, t0 + 120_000)
      const gc = createGarbageCollector({ castore })
      const size = await gc.measure()
      const r = await gc.run({ maxSize: size - 5_000 })
      expect(r.evicted).toEqual([a.storePath])
      await exportsIntact(castore, b)
      // only a's own file went (plus its directory)
      expect(r.freedBytes).toBeGreaterThanOrEqual(10_000)
      expect(r.freedBytes).toBeLessThan(10_000 + 1_000)
      expect((await verifyCastore(castore)).problems).toEqual([])
    })
  })

  it('dry run changes nothing; orphans are removed; leased trees wait for the next pass', async () => {
    await withStore(async (castore) => {
      const a = await add(castore, 'a', { x: text(10_000, 'a') })
      const b = await add(castore, 'b', { y: text(10_000, 'b') })
      castore.touch(a.storePath, Date.now() + 60_000)
      castore.touch(b.storePath, Date.now() + 180_000)
      // an orphan, as an interrupted import leaves it (written below the guard, so not "recently used")
      const orphan = new TextEncoder().encode(text(5_000, 'orphan'))
      await castore.raw.blobs.put([orphan], { size: orphan.byteLength })
      const gc = createGarbageCollector({ castore })
      const size = await gc.measure()
      const dry = await gc.run({ maxSize: size - 1_000, dryRun: true })
      expect(dry.evicted).toEqual([a.storePath])
      expect(dry.freedBytes).toBeGreaterThanOrEqual(15_000)
      expect(await castore.getPathInfo(a.storePath)).toBeDefined()
      expect(gc.stats().storeBytes).toBe(size)
      // a is leased (a NAR of it in flight): its PathInfo goes, its tree stays for now
      const infoA = (await castore.getPathInfo(a.storePath))!
      const lease = await castore.lease(infoA.node)
      expect(lease).toBeDefined()
      const r = await gc.run({ maxSize: size - 1_000 })
      expect(r.evicted).toEqual([a.storePath])
      expect(r.objectsKeptInUse).toBeGreaterThan(0)
      expect(r.freedBytes).toBe(orphan.byteLength) // the orphan only
      expect(await collect(castore.render(infoA.node))).toEqual(a.nar)
      lease!.release()
      const r2 = await gc.run({})
      expect(r2.freedBytes).toBeGreaterThanOrEqual(10_000)
      expect(await castore.lease(infoA.node)).toBeUndefined()
      expect((await verifyCastore(castore)).problems).toEqual([])
      await exportsIntact(castore, b)
    })
  })

  it('a PathInfo written back after its tree was collected is refused', async () => {
    await withStore(async (castore) => {
      const a = await add(castore, 'a', { x: text(10_000, 'a') })
      const info = (await castore.getPathInfo(a.storePath))!
      const gc = createGarbageCollector({ castore })
      await gc.run({ maxSize: 1 })
      await expect(castore.pathInfos.put({ ...info, signatures: ['k:AAAA'] })).rejects.toThrow(/garbage-collected/)
      expect(await castore.getPathInfo(a.storePath)).toBeUndefined()
    })
  })

  it('drops the ERIS leaf index of evicted paths, keeps that of kept ones', async () => {
    await withStore(async (castore) => {
      const a = await add(castore, 'a', { x: text(100_000, 'a') })
      const b = await add(castore, 'b', { y: text(100_000, 'b') })
      const eris = new ErisPathIndex(castore)
      for (const m of [a, b]) await eris.encodePath((await castore.getPathInfo(m.storePath))!)
      const leaves = async (m: Made): Promise<number> => {
        let n = 0
        const hashPart = m.storePath.slice('/nix/store/'.length, '/nix/store/'.length + 32)
        for await (const { value } of castore.kv(ERIS_INDEX_NAMESPACE).entries!()) if (value[0] === 0 && Buffer.from(value.subarray(1, 33)).toString() === hashPart) n++
        return n
      }
      expect(await leaves(a)).toBeGreaterThan(2)
      castore.touch(a.storePath, Date.now() + 60_000)
      castore.touch(b.storePath, Date.now() + 180_000)
      const gc = createGarbageCollector({ castore })
      const r = await gc.run({ maxSize: (await gc.measure()) - 50_000 })
      expect(r.evicted).toEqual([a.storePath])
      expect(await leaves(a)).toBe(0)
      expect(await leaves(b)).toBeGreaterThan(2)
    })
  })

  it('imports running beside a pass either keep what they share with evicted paths or fail cleanly', async () => {
    await withStore(async (castore) => {
      const gc = createGarbageCollector({ castore })
      let committed = 0
      const kept: string[] = []
      for (let round = 0; round < 6; round++) {
        // what earlier rounds kept is used more recently than anything of this round
        for (const p of kept) castore.touch(p, Date.now() + 3_600_000 + round)
        const shared = text(60_000, `shared-${round}`)
        const old = await add(castore, `old-${round}`, { shared, own: text(5_000, `old-${round}`) })
        // the new path shares `shared` with the evicted one, and arrives while the pass runs
        const importing = (async () => {
          await new Promise(resolve => setTimeout(resolve, round * 3))
          return await add(castore, `new-${round}`, { shared, other: text(5_000, `new-${round}`) })
        })()
        const [pass, imported] = await Promise.allSettled([gc.run({ maxSize: (await gc.measure()) - 1 }), importing])
        expect(pass.status).toBe('fulfilled')
        if (imported.status === 'fulfilled') {
          committed++
          // (a later round of the same pass may evict it in turn: the limit is below the store)
          if (await castore.getPathInfo(imported.value.storePath) !== undefined) {
            kept.push(imported.value.storePath)
            await exportsIntact(castore, imported.value)
          }
        } else {
          expect(imported.reason?.name).toBe('NotFoundError')
        }
        expect(await castore.getPathInfo(old.storePath)).toBeUndefined()
        expect((await verifyCastore(castore)).problems).toEqual([])
      }
      expect(committed).toBeGreaterThan(0)
    })
  })

  it('parses sizes', () => {
    expect(parseSize('50G')).toBe(50 * 1024 ** 3)
    expect(parseSize('512M')).toBe(512 * 1024 ** 2)
    expect(parseSize('1048576')).toBe(1048576)
    expect(parseSize('1.5KiB')).toBe(1536)
    expect(() => parseSize('lots')).toThrow(/bad size/)
  })
})
