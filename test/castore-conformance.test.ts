/**
 * One conformance suite per castore service interface, run against every backend
 * (tvix/snix style): BlobStore (memory, filesystem), DirectoryStore and PathInfoStore
 * (memory, LevelDB).
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { mkdtemp, rm, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import {
  MemoryBlobStore, FsBlobStore, createMemoryDirectoryStore, createMemoryPathInfoStore, openLevelStores,
  toHex, emptyDirectory, directoryDigest, directorySize, DigestMismatchError, BlobSizeError, NotFoundError,
  CastoreValidationError
} from '../src/castore/index.ts'
import type { BlobStore, DirectoryStore, PathInfoStore, PathInfo, Directory } from '../src/castore/index.ts'
import { blake3, hashWithOutboard, loadKernel } from '../src/blake3/index.ts'

await loadKernel()

interface Harness<T> { name: string, persistent?: boolean, open: (dir: string) => Promise<{ store: T, close: () => Promise<void> }> }

function pieces (data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size))
  return out
}

async function collect (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

function withTmp<T> (h: Harness<T>, body: (get: () => T, reopen: () => Promise<void>) => void): void {
  describe(h.name, () => {
    let dir: string
    let current: { store: T, close: () => Promise<void> }
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'storeswarm-conf-'))
      current = await h.open(dir)
    })
    afterEach(async () => {
      await current.close()
      await rm(dir, { recursive: true, force: true })
    })
    body(() => current.store, async () => { await current.close(); current = await h.open(dir) })
  })
}

const blobBackends: Array<Harness<BlobStore>> = [
  { name: 'MemoryBlobStore', open: async () => ({ store: new MemoryBlobStore(), close: async () => {} }) },
  { name: 'FsBlobStore', persistent: true, open: async (dir) => ({ store: await FsBlobStore.open({ root: dir }), close: async () => {} }) }
]

describe('BlobStore conformance', () => {
  for (const h of blobBackends) {
    withTmp(h, (get, reopen) => {
      it('stores, stats, reads back whole and by range, with the right outboard', async () => {
        const store = get()
        for (const size of [0, 1, 1024, 16384, 16385, 100_000, 1_500_000]) {
          const data = randomBytes(size)
          const r = await store.put(pieces(data, 7777), { size })
          const expected = hashWithOutboard(data)
          expect(toHex(r.digest)).toBe(toHex(expected.digest))
          expect(r.added).toBe(true)
          expect(await store.has(r.digest)).toBe(true)
          expect(await store.stat(r.digest)).toEqual({ size })
          expect(Buffer.compare(await collect(store.read(r.digest)), data)).toBe(0)
          expect(Buffer.from((await store.outboard(r.digest))!)).toEqual(Buffer.from(expected.outboard))
          if (size > 10) {
            const part = await collect(store.read(r.digest, { offset: 3, length: size - 7 }))
            expect(Buffer.compare(part, data.subarray(3, size - 4))).toBe(0)
          }
          expect(await collect(store.read(r.digest, { offset: size, length: 0 }))).toHaveLength(0)
        }
      })

      it('deduplicates identical contents', async () => {
        const store = get()
        const data = randomBytes(2_000_000)
        const a = await store.put([data], { size: data.length })
        const b = await store.put(pieces(data, 65536), { size: data.length })
        expect(a.added).toBe(true)
        expect(b.added).toBe(false)
        const listed = []
        for await (const d of store.list()) listed.push(toHex(d))
        expect(listed).toEqual([toHex(a.digest)])
      })

      it('rejects a wrong expected digest, short and long input, and keeps nothing', async () => {
        const store = get()
        const data = randomBytes(50_000)
        await expect(store.put([data], { size: data.length, expected: blake3(Buffer.from('other')) })).rejects.toThrow(DigestMismatchError)
        await expect(store.put([data], { size: data.length + 1 })).rejects.toThrow(BlobSizeError)
        await expect(store.put([data], { size: data.length - 1 })).rejects.toThrow(BlobSizeError)
        await expect(store.put([data.subarray(0, 10)], { size: 2_000_000 })).rejects.toThrow(BlobSizeError)
        expect(await store.has(blake3(data))).toBe(false)
        const listed = []
        for await (const d of store.list()) listed.push(d)
        expect(listed).toHaveLength(0)
      })

      it('aborts a write when the signal fires and keeps nothing', async () => {
        const store = get()
        const ac = new AbortController()
        async function * slow (): AsyncGenerator<Uint8Array> {
          yield randomBytes(2_000_000)
          ac.abort()
          yield randomBytes(2_000_000)
        }
        await expect(store.put(slow(), { size: 4_000_000, signal: ac.signal })).rejects.toThrow()
        for await (const d of store.list()) throw new Error(`unexpected blob ${toHex(d)}`)
      })

      it('reading a missing blob or an out-of-range span fails clearly', async () => {
        const store = get()
        await expect(collect(store.read(blake3(Buffer.from('nope'))))).rejects.toThrow(NotFoundError)
        const r = await store.put([Buffer.from('abc')], { size: 3 })
        await expect(collect(store.read(r.digest, { offset: 2, length: 5 }))).rejects.toThrow(RangeError)
        expect(await store.outboard(blake3(Buffer.from('nope')))).toBeUndefined()
      })

      it('deletes, and keeps what it stored across reopening', async () => {
        const store = get()
        const a = await store.put([Buffer.from('keep me')], { size: 7 })
        const b = await store.put([Buffer.from('drop me')], { size: 7 })
        await store.delete(b.digest)
        expect(await store.has(b.digest)).toBe(false)
        if (h.persistent === true) {
          await reopen()
          expect(await get().has(a.digest)).toBe(true)
          expect((await collect(get().read(a.digest))).toString()).toBe('keep me')
        }
      })
    })
  }
})

describe('FsBlobStore specifics', () => {
  it('leaves no temp files behind and writes outboards for large blobs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-fs-'))
    try {
      const store = await FsBlobStore.open({ root: dir })
      const data = randomBytes(3_000_000)
      const r = await store.put(pieces(data, 100_000), { size: data.length })
      await store.sync()
      expect(await readdir(join(dir, 'tmp'))).toEqual([])
      const shard = await readdir(join(dir, 'blobs', toHex(r.digest).slice(0, 2)))
      expect(shard.sort()).toEqual([toHex(r.digest), toHex(r.digest) + '.obao'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

const te = new TextEncoder()
const dirBackends: Array<Harness<DirectoryStore>> = [
  { name: 'memory DirectoryStore', open: async () => ({ store: createMemoryDirectoryStore(), close: async () => {} }) },
  {
    name: 'level DirectoryStore',
    persistent: true,
    open: async (dir) => { const db = await openLevelStores({ location: join(dir, 'db') }); return { store: db.directories, close: db.close } }
  }
]

function leaf (name: string): Directory {
  const d = emptyDirectory()
  d.files.push({ name: te.encode(name), digest: blake3(te.encode(name)), size: name.length, executable: false })
  return d
}

describe('DirectoryStore conformance', () => {
  for (const h of dirBackends) {
    withTmp(h, (get, reopen) => {
      it('stores leaves before roots and walks root → leaves once each', async () => {
        const store = get()
        const a = leaf('a'); const b = leaf('b')
        const mid: Directory = { directories: [{ name: te.encode('x'), digest: directoryDigest(a), size: directorySize(a) }, { name: te.encode('y'), digest: directoryDigest(a), size: directorySize(a) }], files: [], symlinks: [] }
        const root: Directory = { directories: [{ name: te.encode('m'), digest: directoryDigest(mid), size: directorySize(mid) }, { name: te.encode('n'), digest: directoryDigest(b), size: directorySize(b) }], files: [], symlinks: [] }
        const digests = await store.put([a, b, mid, root])
        expect(digests.map(toHex)).toEqual([a, b, mid, root].map(d => toHex(directoryDigest(d))))
        expect(await store.get(directoryDigest(mid))).toEqual(mid)
        const walked = []
        for await (const { digest } of store.getRecursive(directoryDigest(root))) walked.push(toHex(digest))
        expect(walked).toEqual([root, mid, b, a].map(d => toHex(directoryDigest(d))))
        if (h.persistent === true) {
          await reopen()
          expect(await get().has(directoryDigest(root))).toBe(true)
          expect(await get().get(directoryDigest(mid))).toEqual(mid)
        }
      })

      it('refuses a directory whose children are not stored, or that claims too small a size', async () => {
        const store = get()
        const a = leaf('a')
        const root: Directory = { directories: [{ name: te.encode('a'), digest: directoryDigest(a), size: directorySize(a) }], files: [], symlinks: [] }
        await expect(store.put([root])).rejects.toThrow(NotFoundError)
        expect(await store.has(directoryDigest(root))).toBe(false)
        const small: Directory = { directories: [{ name: te.encode('a'), digest: directoryDigest(a), size: 0 }], files: [], symlinks: [] }
        await expect(store.put([a, small])).rejects.toThrow(CastoreValidationError)
        const unsorted: Directory = { directories: [], files: [...leaf('b').files, ...leaf('a').files], symlinks: [] }
        await expect(store.put([unsorted])).rejects.toThrow(CastoreValidationError)
      })

      it('misses cleanly and deletes', async () => {
        const store = get()
        expect(await store.get(blake3(te.encode('none')))).toBeUndefined()
        const [d] = await store.put([leaf('z')])
        await store.delete(d)
        expect(await store.has(d)).toBe(false)
        await expect(async () => { for await (const x of store.getRecursive(d)) void x }).rejects.toThrow(NotFoundError)
      })
    })
  }
})

const pathBackends: Array<Harness<PathInfoStore>> = [
  { name: 'memory PathInfoStore', open: async () => ({ store: createMemoryPathInfoStore(), close: async () => {} }) },
  {
    name: 'level PathInfoStore',
    persistent: true,
    open: async (dir) => { const db = await openLevelStores({ location: join(dir, 'db') }); return { store: db.pathInfos, close: db.close } }
  }
]

function info (hash: string, name: string): PathInfo {
  return {
    storePath: `/nix/store/${hash}-${name}`,
    node: { type: 'file', digest: blake3(te.encode(name)), size: 3, executable: true },
    references: [`/nix/store/${hash}-${name}`],
    deriver: `/nix/store/${hash}-${name}.drv`,
    narHash: new Uint8Array(32).fill(7),
    narSize: 120,
    signatures: ['cache.example.org-1:' + Buffer.alloc(64, 1).toString('base64')],
    ca: 'fixed:r:sha256:1gcky5hlf5vqfzpyhihydmm54grhc94mcs8w7xr8613qsqb1v2j6',
    registrationTime: 1700000000000
  }
}

describe('PathInfoStore conformance', () => {
  for (const h of pathBackends) {
    withTmp(h, (get, reopen) => {
      it('round-trips every field, lists, deletes, persists', async () => {
        const store = get()
        const a = info('0c6kzph7l0dcbyiwxjxgnwfzgpa6jpnh', 'hello-2.10')
        const b = info('1b9p07z77phvv2hf6gm9f28syp39f1ag', 'dep-1.0')
        const c: PathInfo = { ...b, storePath: '/gnu/store/1c9p07z77phvv2hf6gm9f28syp39f1ag-link', node: { type: 'symlink', target: te.encode('/x') }, references: [], signatures: [], deriver: undefined, ca: undefined }
        delete c.deriver; delete c.ca
        await store.put(a); await store.put(b); await store.put(c)
        expect(await store.get('0c6kzph7l0dcbyiwxjxgnwfzgpa6jpnh')).toEqual(a)
        expect(await store.get('1c9p07z77phvv2hf6gm9f28syp39f1ag')).toEqual(c)
        const listed = []
        for await (const i of store.list()) listed.push(i.storePath)
        expect(listed.sort()).toEqual([a, b, c].map(i => i.storePath).sort())
        await store.delete('1b9p07z77phvv2hf6gm9f28syp39f1ag')
        expect(await store.get('1b9p07z77phvv2hf6gm9f28syp39f1ag')).toBeUndefined()
        if (h.persistent === true) {
          await reopen()
          expect(await get().get('0c6kzph7l0dcbyiwxjxgnwfzgpa6jpnh')).toEqual(a)
        }
      })

      it('rejects invalid path infos', async () => {
        const store = get()
        const good = info('0c6kzph7l0dcbyiwxjxgnwfzgpa6jpnh', 'hello-2.10')
        await expect(store.put({ ...good, storePath: '/nix/store/short-name' })).rejects.toThrow(CastoreValidationError)
        await expect(store.put({ ...good, storePath: '/nix/store/0c6kzph7l0dcbyiwxjxgnwfzgpa6jpnh-.hidden' })).rejects.toThrow(CastoreValidationError)
        await expect(store.put({ ...good, narHash: new Uint8Array(20) })).rejects.toThrow(CastoreValidationError)
        await expect(store.put({ ...good, narSize: -1 })).rejects.toThrow(CastoreValidationError)
        await expect(store.put({ ...good, references: ['nope'] })).rejects.toThrow(CastoreValidationError)
        await expect(store.put({ ...good, signatures: ['no colon'] })).rejects.toThrow(CastoreValidationError)
        expect(await store.get('0c6kzph7l0dcbyiwxjxgnwfzgpa6jpnh')).toBeUndefined()
      })
    })
  }
})

describe('one process owns a store', () => {
  it('a second open of the same database is refused with StoreLockedError', async () => {
    const { StoreLockedError } = await import('../src/castore/index.ts')
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-lock-'))
    const first = await openLevelStores({ location: join(dir, 'db') })
    try {
      await expect(openLevelStores({ location: join(dir, 'db') })).rejects.toThrow(StoreLockedError)
    } finally {
      await first.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
