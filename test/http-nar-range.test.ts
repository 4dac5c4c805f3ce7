/**
 * Seekable NAR synthesis (src/castore/nar-range.ts): every range is the same slice of the full
 * rendering, whole subtrees before the range are skipped without reading their blobs, and the
 * `.ls` events computed from the tree match what parsing the NAR gives (Nix 2.8's listing).
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { fixture } from './fixtures.ts'
import { Castore, MemoryBlobStore, createMemoryDirectoryStore, createMemoryPathInfoStore, openCastore } from '../src/castore/index.ts'
import type { BlobStore } from '../src/castore/index.ts'
import { renderNarRange, castoreNarEvents, narSizeOfNode, NarSizeCache, NarCursor } from '../src/castore/nar-range.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { writeNar, narListing, listNar } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'
import { collect, chunked } from './nar-helpers.ts'

await loadKernel()

let seed = 7
const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32 }
function data (n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0
  return b
}

/** A tree with nested dirs, empty dirs, executables, symlinks, empty files and a few large files. */
function tree (depth: number): NarSourceNode {
  const n = depth === 0 ? 9 : 1 + Math.floor(rand() * 5)
  const kids = Array.from({ length: n }, (_, i) => {
    const name = Buffer.from(`${String.fromCharCode(65 + Math.floor(rand() * 58))}${i}-${'x'.repeat(Math.floor(rand() * 12))}`)
    const r = rand()
    let node: NarSourceNode
    if (r < 0.25 && depth < 3) node = tree(depth + 1)
    else if (r < 0.3) node = { type: 'directory', entries: async function * () {} }
    else if (r < 0.4) node = { type: 'symlink', target: Buffer.from('../t'.repeat(1 + Math.floor(rand() * 5))) }
    else {
      const d = data(rand() < 0.1 ? 70_000 + Math.floor(rand() * 200_000) : Math.floor(rand() * 3000))
      node = { type: 'regular', executable: rand() < 0.3, size: d.length, contents: async function * () { yield d } }
    }
    return { name, node }
  }).sort((a, b) => Buffer.compare(a.name, b.name)).filter((e, i, all) => i === 0 || Buffer.compare(all[i - 1].name, e.name) !== 0)
  return { type: 'directory', entries: async function * () { yield * kids } }
}

/** Counts blob reads, to show skipped files are never read. */
class CountingBlobs extends MemoryBlobStore {
  reads = 0
  override read (digest: Uint8Array, options?: { offset?: number, length?: number, signal?: AbortSignal }): AsyncGenerator<Uint8Array> {
    this.reads++
    return super.read(digest, options)
  }
}

let store: Castore
let blobs: CountingBlobs
let full: Uint8Array
let root: Awaited<ReturnType<Castore['importNar']>>['info']
const singles: Array<{ name: string, nar: Uint8Array, info: typeof root }> = []

beforeAll(async () => {
  blobs = new CountingBlobs()
  store = new Castore({ blobs: blobs as BlobStore, directories: createMemoryDirectoryStore(), pathInfos: createMemoryPathInfoStore() })
  full = await collect(writeNar(tree(0)))
  root = (await store.importNar([full], { storePath: '/nix/store/00000000000000000000000000000000-tree' })).info
  const manifest: Array<{ file: string, nix_2_8_restore_ok: boolean, roundtrip_identical_nix_2_8: boolean }> = JSON.parse(await readFile(fixture('nar', 'manifest.json'), 'utf8'))
  let i = 1
  for (const e of manifest.filter(e => e.file.endsWith('.nar') && e.nix_2_8_restore_ok && e.roundtrip_identical_nix_2_8)) {
    const nar = await readFile(fixture('nar', e.file))
    try {
      const { info } = await store.importNar([nar], { storePath: `/nix/store/${String(i++).padStart(32, '1')}-fixture` })
      singles.push({ name: e.file, nar, info })
    } catch {} // fixtures our strict reader refuses are covered by the castore tests
  }
  const tree2 = await readFile(fixture('real-nix', 'tree', 'tree.nar'))
  singles.push({ name: 'real-nix/tree.nar', nar: tree2, info: (await store.importNar([tree2], { storePath: '/nix/store/mbig2lb0l0g5haak3zgg7lkjsypn90pw-tree' })).info })
})

async function range (info: typeof root, offset: number, length?: number, sizes?: NarSizeCache): Promise<Uint8Array> {
  return await collect(renderNarRange(info.node, store, { offset, length, sizes }))
}

describe('renderNarRange', () => {
  it('renders the whole NAR identically to renderNar', async () => {
    expect(full.length).toBeGreaterThan(300_000)
    expect(Buffer.from(await range(root, 0)).equals(Buffer.from(full))).toBe(true)
    expect(await narSizeOfNode(root.node, store)).toBe(full.length)
    for (const s of singles) {
      expect(Buffer.from(await range(s.info, 0)).equals(Buffer.from(s.nar)), s.name).toBe(true)
      expect(await narSizeOfNode(s.info.node, store)).toBe(s.nar.length)
    }
  })

  it('gives exactly the slice of the full rendering for any range (property)', async () => {
    const sizes = new NarSizeCache()
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: full.length }), fc.integer({ min: 0, max: full.length }), fc.boolean(),
      async (a, b, open) => {
        const start = Math.min(a, b)
        const len = open ? undefined : Math.abs(a - b)
        const got = await range(root, start, len, sizes)
        const want = full.subarray(start, len === undefined ? undefined : start + len)
        expect(got.length).toBe(want.length)
        expect(Buffer.compare(Buffer.from(got), Buffer.from(want))).toBe(0)
      }), { numRuns: 150 })
  })

  it('handles every offset of small fixture NARs, including token and padding boundaries', async () => {
    const sizes = new NarSizeCache()
    for (const s of singles.filter(s => s.nar.length <= 2048)) {
      for (let off = 0; off <= s.nar.length; off++) {
        const got = await range(s.info, off, Math.min(13, s.nar.length - off), sizes)
        expect(Buffer.from(got).equals(Buffer.from(s.nar.subarray(off, off + 13))), `${s.name}@${off}`).toBe(true)
      }
    }
  })

  it('skips what lies before the range without reading its blobs, and stops after it', async () => {
    // the last byte only: only the final file (if any) may be read, never the others
    blobs.reads = 0
    const tail = await range(root, full.length - 8)
    expect(Buffer.from(tail).equals(Buffer.from(full.subarray(full.length - 8)))).toBe(true)
    expect(blobs.reads).toBe(0)
    blobs.reads = 0
    const head = await range(root, 0, 200)
    expect(Buffer.from(head).equals(Buffer.from(full.subarray(0, 200)))).toBe(true)
    expect(blobs.reads).toBeLessThanOrEqual(1)
    blobs.reads = 0
    await range(root, 0)
    expect(blobs.reads).toBeGreaterThan(5)
  })

  it('stays consistent with sha256 of the whole NAR (pieces reassemble exactly)', async () => {
    const cut = Math.floor(full.length / 3)
    const h = createHash('sha256')
    h.update(await range(root, 0, cut))
    h.update(await range(root, cut, cut))
    h.update(await range(root, 2 * cut))
    expect(h.digest().equals(createHash('sha256').update(full).digest())).toBe(true)
  })
})

describe('NarCursor on a file blob store (synchronous reads)', () => {
  it('fills caller buffers with exactly the slices of the full rendering', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storeswarm-cursor-'))
    const fsStore = await openCastore({ dataDir: dir, fsync: false })
    try {
      const { info } = await fsStore.importNar([full], { storePath: '/nix/store/00000000000000000000000000000001-tree' })
      const sizes = new NarSizeCache()
      await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: full.length }), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 70_000 }),
        async (start, len, bufSize) => {
          const cursor = new NarCursor(info.node, fsStore, { offset: start, length: len, sizes })
          const parts: Buffer[] = []
          for (;;) {
            const buf = Buffer.alloc(bufSize)
            const n = await cursor.fill(buf)
            if (n === 0) break
            parts.push(buf.subarray(0, n))
          }
          cursor.close()
          expect(Buffer.concat(parts).equals(Buffer.from(full.subarray(start, start + len)))).toBe(true)
        }), { numRuns: 60 })
    } finally {
      await fsStore.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('castoreNarEvents → .ls listing', () => {
  it('matches the listing parsed from the NAR (offsets point at file contents)', async () => {
    for (const s of [...singles, { name: 'random tree', nar: full, info: root }]) {
      const fromTree = await collect(narListing(castoreNarEvents(s.info.node, store)))
      const fromNar = await listNar(chunked(s.nar, 65536))
      expect(Buffer.from(fromTree).toString(), s.name).toBe(Buffer.from(fromNar).toString())
    }
  })

  it('is byte-identical to the .ls Nix 2.8 wrote for the real-nix tree', async () => {
    const tree = singles.find(s => s.name === 'real-nix/tree.nar')!
    const expected = await readFile(fixture('real-nix', 'cache-none', 'mbig2lb0l0g5haak3zgg7lkjsypn90pw.ls'))
    const ours = await collect(narListing(castoreNarEvents(tree.info.node, store)))
    expect(Buffer.from(ours).toString()).toBe(expected.toString())
    // and every narOffset really is where that file's bytes are
    const json = JSON.parse(expected.toString())
    const walk = (n: any): void => {
      if (n.type === 'regular') expect(Buffer.from(tree.nar.subarray(n.narOffset - 8, n.narOffset)).readBigUInt64LE()).toBe(BigInt(n.size))
      if (n.type === 'directory') for (const c of Object.values(n.entries)) walk(c)
    }
    walk(json.root)
  })
})
