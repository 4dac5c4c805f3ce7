/**
 * NAR → castore → NAR: every valid fixture NAR imports and exports byte-identically with the
 * listed NarHash; invalid ones are rejected and leave no valid path; dedup across paths.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFile, mkdtemp, rm, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { fixture } from './fixtures.ts'
import { openCastore, verifyCastore, NotFoundError, NarHashMismatchError } from '../src/castore/index.ts'
import type { Castore } from '../src/castore/index.ts'
import { loadKernel } from '../src/blake3/index.ts'
import { writeNar, NarParseError } from '../src/nar/index.ts'
import type { NarSourceNode } from '../src/nar/index.ts'

await loadKernel()

interface ManifestEntry { file: string, size: number, sha256_hex: string, nix_2_8_restore_ok: boolean, roundtrip_identical_nix_2_8: boolean }
const manifest: ManifestEntry[] = JSON.parse(await readFile(fixture('nar', 'manifest.json'), 'utf8'))
const isValid = (e: ManifestEntry): boolean => (e.nix_2_8_restore_ok && e.roundtrip_identical_nix_2_8) || /case(-collision)?\.nar$/.test(e.file)
const nars = manifest.filter(e => e.file.endsWith('.nar'))

function fakePath (i: number, name = 'fixture'): string {
  const alphabet = '0123456789abcdfghijklmnpqrsvwxyz'
  const seed = createHash('sha256').update(`path-${i}`).digest()
  let h = ''
  for (let k = 0; k < 32; k++) h += alphabet[seed[k] % 32]
  return `/nix/store/${h}-${name}`
}

async function collect (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

function pieces (data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size))
  return out
}

let dir: string
let store: Castore
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storeswarm-ingest-'))
  store = await openCastore({ dataDir: dir })
})
afterAll(async () => {
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

describe('castore ingest and synthesis of fixture NARs', () => {
  it('covers the fixture set (valid and invalid)', () => {
    expect(nars.filter(isValid).length).toBeGreaterThanOrEqual(15)
    expect(nars.filter(e => !isValid(e)).length).toBeGreaterThanOrEqual(8)
  })

  for (const [i, entry] of nars.entries()) {
    if (isValid(entry)) {
      it(`round-trips ${entry.file}`, async () => {
        const bytes = await readFile(fixture('nar', entry.file))
        const storePath = fakePath(i)
        const { info } = await store.importNar(pieces(bytes, 61), { storePath, narHash: Buffer.from(entry.sha256_hex, 'hex'), narSize: entry.size })
        expect(info.narSize).toBe(entry.size)
        expect(Buffer.from(info.narHash).toString('hex')).toBe(entry.sha256_hex)
        const out = await collect(store.exportNar(storePath))
        expect(out.length).toBe(bytes.length)
        expect(Buffer.compare(out, bytes)).toBe(0)
      })
    } else {
      it(`rejects ${entry.file} and makes nothing valid`, async () => {
        const bytes = await readFile(fixture('nar', entry.file))
        const storePath = fakePath(i, 'bad')
        await expect(store.importNar([bytes], { storePath })).rejects.toThrow(NarParseError)
        expect(await store.getPathInfo(storePath)).toBeUndefined()
      })
    }
  }

  it('rejects a NAR whose hash or size differs from what the caller expects', async () => {
    const entry = nars.find(isValid)!
    const bytes = await readFile(fixture('nar', entry.file))
    await expect(store.importNar([bytes], { storePath: fakePath(900), narHash: new Uint8Array(32) })).rejects.toThrow(NarHashMismatchError)
    await expect(store.importNar([bytes], { storePath: fakePath(901), narSize: bytes.length + 8 })).rejects.toThrow(NarHashMismatchError)
    expect(await store.getPathInfo(fakePath(900))).toBeUndefined()
    await expect(collect(store.exportNar(fakePath(900)))).rejects.toThrow(NotFoundError)
  })

  it('rejects a truncated stream at every prefix of a small NAR', async () => {
    const entry = nars.find(e => isValid(e) && e.file.includes('complicated'))!
    const bytes = await readFile(fixture('nar', entry.file))
    for (let cut = 0; cut < bytes.length; cut += 3) {
      await expect(store.importNar([bytes.subarray(0, cut)], { storePath: fakePath(1000 + cut) })).rejects.toThrow(NarParseError)
    }
  })

  it('the store verifies clean after all of the above, with no temp files left', async () => {
    expect(await readdir(join(dir, 'tmp'))).toEqual([])
    const report = await verifyCastore(store)
    expect(report.problems).toEqual([])
    expect(report.paths).toBe(nars.filter(isValid).length)
  })
})

describe('dedup', () => {
  it('stores files shared by two paths once', async () => {
    const shared = Array.from({ length: 20 }, (_, i) => randomBytes(50_000 + i))
    const tree = (extra: Uint8Array): NarSourceNode => ({
      type: 'directory',
      entries: async function * () {
        for (const [i, data] of shared.entries()) {
          yield { name: Buffer.from(`f${String(i).padStart(2, '0')}`), node: { type: 'regular', executable: false, size: data.length, contents: async function * () { yield data } } }
        }
        yield { name: Buffer.from('unique'), node: { type: 'regular', executable: true, size: extra.length, contents: async function * () { yield extra } } }
      }
    })
    const local = await mkdtemp(join(tmpdir(), 'storeswarm-dedup-'))
    const s = await openCastore({ dataDir: local })
    try {
      const narA = await collect(writeNar(tree(randomBytes(1000))))
      const narB = await collect(writeNar(tree(randomBytes(2000))))
      const a = await s.importNar([narA], { storePath: fakePath(1, 'a') })
      const b = await s.importNar([narB], { storePath: fakePath(2, 'b') })
      expect(a.stats.blobsAdded).toBe(21)
      expect(b.stats.blobsAdded).toBe(1)
      let onDisk = 0
      for await (const d of s.blobs.list()) onDisk += (await s.blobs.stat(d))!.size
      const sharedBytes = shared.reduce((n, d) => n + d.length, 0)
      expect(onDisk).toBe(sharedBytes + 3000)
      expect(onDisk).toBeLessThan((narA.length + narB.length) * 0.55)
      expect(createHash('sha256').update(await collect(s.exportNar(fakePath(2, 'b')))).digest('hex')).toBe(createHash('sha256').update(narB).digest('hex'))
    } finally {
      await s.close()
      await rm(local, { recursive: true, force: true })
    }
  })
})

describe('damage is detected', () => {
  it('export fails when a blob was corrupted on disk, and verify reports it', async () => {
    const local = await mkdtemp(join(tmpdir(), 'storeswarm-damage-'))
    const s = await openCastore({ dataDir: local })
    try {
      const data = randomBytes(40_000)
      const nar = await collect(writeNar({ type: 'regular', executable: false, size: data.length, contents: async function * () { yield data } }))
      const { info } = await s.importNar([nar], { storePath: fakePath(3, 'victim') })
      const shardDirs = await readdir(join(local, 'blobs'))
      const { writeFile } = await import('node:fs/promises')
      const hex = info.node.type === 'file' ? Buffer.from(info.node.digest).toString('hex') : ''
      expect(shardDirs).toContain(hex.slice(0, 2))
      const damaged = Buffer.from(data); damaged[123] ^= 1
      await writeFile(join(local, 'blobs', hex.slice(0, 2), hex), damaged)
      await expect(collect(s.exportNar(info.storePath))).rejects.toThrow(NarHashMismatchError)
      const report = await verifyCastore(s)
      expect(report.problems.map(p => p.problem).join('\n')).toMatch(/hashes to/)
    } finally {
      await s.close()
      await rm(local, { recursive: true, force: true })
    }
  })
})
